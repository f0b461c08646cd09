/**
 * The machine's ceiling for data-parallel training: how much do two
 * *independent* processes, each running the same single-threaded step at
 * once, get through compared with one process alone? No gradient exchange,
 * no shared memory, no pool: if two of them do not reach ~2× the images/s of
 * one, `--workers 2` cannot either, and the gap is the machine's (shared
 * caches, memory bandwidth, SMT siblings), not the pool's.
 *
 * Measured in one run, interleaved round by round (alone, pair, alone, pair…)
 * so that a load change hits both alike:
 *   spin            a scalar JS loop (the ALU-only control)
 *   wasm train B=8  `trainSegmentation` of the default hem model, one step of
 *                   batch 8 (data preparation and Adam included)
 *   wasm train B=4  the same with batch 4: the shard each of 2 workers computes
 *   pool            the in-process pool (`--workers 2`: 1 worker thread + the
 *                   caller, batch 8 split 4 + 4) against 1 thread, batch 8 —
 *                   what bench/train.ts reports as "scaling"
 *   torch train     bench/peer/pytorch.py's train:hem (batch 8), 1 thread per
 *                   process (OMP/OpenBLAS threads 1), when Debian's torch is there
 *
 * Run (on an idle machine; it prints the load average):
 *   npx tsx bench/scaling-ceiling.ts [--rounds 5] [--steps 4] [--warmup-seconds 8] [--no-peer] [--only spin,wasm8,wasm4,pool,torch] [--size 64]
 * `--size`: the side of the training images (default 64; the PyTorch peer's
 * workload stays at 64, so use `--no-peer` with another size).
 *
 * Each child is this script with `--child`, speaking the peer's JSON-line
 * protocol ({op:'setup'|'run', workload, iterations} → {params} | {ms}).
 */
import { randomSegmentationDataset } from './randomData.js';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { format, median } from './timing.js';

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '4' },
    'no-peer': { type: 'boolean', default: false },
    only: { type: 'string', default: 'spin,wasm8,wasm4,pool,torch' },
    'warmup-seconds': { type: 'string', default: '8' },
    size: { type: 'string', default: '64' },
  },
});

/** CPU ms of every thread of this process so far, busiest first after a diff (Linux /proc; empty elsewhere). */
function threadCpu(): Map<string, number> {
  const times = new Map<string, number>();
  try {
    for (const task of readdirSync('/proc/self/task')) times.set(task, Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
  } catch {
    return new Map();
  }
  return times;
}

/** Image side of the training workloads (the default model's 64; the attention-bench preset's scenes are 128). */
const SIZE = Number(values.size);
if (!Number.isInteger(SIZE) || SIZE < 16 || SIZE % 16 !== 0) throw new Error(`bench/scaling-ceiling: --size must be a multiple of 16, received ${values.size}`);

// ---------------------------------------------------------------- child side
async function child(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { setBackend } = await import('../src/backend.js');
  const { buildSegmentationModel } = await import('../src/models/zoo.js');
  const { trainSegmentation } = await import('../src/train/loop.js');
  const { createOptimizer } = await import('../src/train/optimizer.js');
  const { createGradientWorkers } = await import('../src/train/parallel.js');
  await setBackend('wasm');
  type Runner = { run(iterations: number): Promise<void> };
  const runners = new Map<string, Runner>();
  const makeTrain = async (batch: number, workers: number): Promise<Runner> => {
    const { model } = buildSegmentationModel({ head: 'hem' });
    const dataset = randomSegmentationDataset(32, SIZE);
    const optimizer = createOptimizer('adam', 2e-3, 0.9);
    const pool = await createGradientWorkers(model, workers, 'wasm');
    const run = async (steps: number) => {
      await trainSegmentation({
        model,
        dataset,
        optimizer,
        options: { optimizer: 'adam', steps, batchSize: batch, learningRate: 2e-3, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 0, checkpointEvery: 0 },
        ...(pool !== null ? { workers: pool } : {}),
      });
    };
    // Warm-up: kernels, optimizer slots, JIT and the wasm tier-up (a worker's isolate compiles the
    // module again; its background compilation takes seconds and would count as helper-thread CPU).
    const until = performance.now() + 1000 * Number(values['warmup-seconds']);
    for (let i = 0; i < 3 || performance.now() < until; i++) await run(2);
    void tf;
    return { run };
  };
  const spin: Runner = {
    run: async (iterations: number) => {
      // ~50 M multiply-adds per iteration on scalars: no memory traffic.
      let acc = 0;
      for (let i = 0; i < iterations * 50_000_000; i++) acc = (acc * 1.0000001 + (i & 7)) % 1e9;
      if (acc === -1) process.stdout.write('');
    },
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const request = JSON.parse(line) as { op: string; workload: string; iterations?: number };
    try {
      if (request.op === 'quit') break;
      let runner = runners.get(request.workload);
      if (runner === undefined) {
        const [kind, batch, workers] = request.workload.split(':');
        runner = kind === 'spin' ? spin : await makeTrain(Number(batch), Number(workers ?? 1));
        runners.set(request.workload, runner);
      }
      if (request.op === 'setup') {
        process.stdout.write(`${JSON.stringify({ params: 0 })}\n`);
        continue;
      }
      const before = threadCpu();
      const start = performance.now();
      await runner.run(request.iterations ?? 1);
      const ms = performance.now() - start;
      // CPU ms per iteration of each thread (main, then the others busiest first).
      const after = threadCpu();
      const perThread = [...after].map(([task, t]) => ({ main: task === String(process.pid), ms: (t - (before.get(task) ?? 0)) / (request.iterations ?? 1) }));
      const main = perThread.find((t) => t.main)?.ms ?? 0;
      const others = perThread.filter((t) => !t.main).map((t) => t.ms).sort((a, b) => b - a);
      process.stdout.write(`${JSON.stringify({ ms, cpu: [main, ...others] })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`);
    }
  }
  process.exit(0);
}


// ---------------------------------------------------------------- parent side
class Proc {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor(command: string, args: string[], env: NodeJS.ProcessEnv, readonly tag: string) {
    this.child = spawn(command, args, { env: { ...process.env, ...env } });
    this.child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      // The wasm loader prints its whole source on some errors: keep the last line only.
      process.stderr.write(`[${tag}] ${text.length > 2000 ? text.slice(-2000) : text}`);
    });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async ask(request: object): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const { value, done } = await this.lines.next();
    if (done === true) throw new Error(`scaling-ceiling: ${this.tag} exited`);
    const answer = JSON.parse(value) as Record<string, unknown>;
    if (typeof answer.error === 'string') throw new Error(`scaling-ceiling: ${this.tag}: ${answer.error}`);
    return answer;
  }
  close(): void {
    this.child.stdin.end();
  }
}

interface Timing {
  ms: number;
  /** CPU ms per iteration: the main thread, then the others busiest first (node children only). */
  cpu: number[] | null;
}

interface Case {
  label: string;
  /** Work units per `run` call (images, or spin iterations). */
  units: number;
  unit: string;
  alone(): Promise<Timing>;
  /** Both at once. */
  pair(): Promise<[Timing, Timing]>;
  close(): void;
}

function timing(answer: Record<string, unknown>): Timing {
  return { ms: answer.ms as number, cpu: Array.isArray(answer.cpu) ? (answer.cpu as number[]) : null };
}

async function processCase(label: string, unit: string, units: number, start: () => Proc, workload: string, iterations: number, extra: object = {}): Promise<Case> {
  const a = start();
  const b = start();
  await Promise.all([a.ask({ op: 'setup', workload, ...extra }), b.ask({ op: 'setup', workload, ...extra })]);
  const run = async (p: Proc) => timing(await p.ask({ op: 'run', workload, iterations, ...extra }));
  await Promise.all([run(a), run(b)]); // warm-up at once, too
  return {
    label,
    units,
    unit,
    alone: () => run(a),
    pair: async () => {
      const [x, y] = await Promise.all([run(a), run(b)]);
      return [x, y];
    },
    close: () => {
      a.close();
      b.close();
    },
  };
}

async function parent(): Promise<void> {
  const rounds = Number(values.rounds);
  const steps = Number(values.steps);
  const only = new Set(values.only.split(','));
  const self = fileURLToPath(import.meta.url);
  const tsx = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
  const nodeChild = (tag: string) => () => new Proc(tsx, [self, '--child', '--size', String(SIZE)], {}, tag);
  console.log(`bench:scaling-ceiling — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} · images ${SIZE}×${SIZE}`);
  console.log(`rounds ${rounds} (interleaved alone / pair), ${steps} steps per timed run · load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const cases: Case[] = [];
  if (only.has('spin')) cases.push(await processCase('spin (scalar JS loop)', 'Mloop', 50, nodeChild('spin'), 'spin', 1));
  if (only.has('wasm8')) cases.push(await processCase('wasm train hem, batch 8, 1 thread per process', 'img', 8 * steps, nodeChild('wasm8'), 'train:8:1', steps));
  if (only.has('wasm4')) cases.push(await processCase('wasm train hem, batch 4 (a 2-worker shard), 1 thread per process', 'img', 4 * steps, nodeChild('wasm4'), 'train:4:1', steps));
  if (only.has('torch') && values['no-peer'] !== true) {
    const python = '/usr/bin/python3';
    if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) {
      console.log(`PyTorch skipped: '${python} -c "import torch"' failed (apt-get install python3-torch libopenblas0-pthread)`);
    } else {
      const peer = new URL('./peer/pytorch.py', import.meta.url).pathname;
      const env = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
      cases.push(await processCase('PyTorch train hem, batch 8, 1 thread per process', 'img', 8 * steps, () => new Proc(python, [peer], env, 'torch'), 'train:hem', steps, { threads: 1 }));
    }
  }
  // The in-process pool: one process, 1 thread (batch 8) against 2 threads (batch 8 as 4 + 4).
  let pool: { one: Proc; two: Proc } | null = null;
  if (only.has('pool')) {
    const one = nodeChild('pool1')();
    const two = nodeChild('pool2')();
    await one.ask({ op: 'setup', workload: 'train:8:1' });
    await two.ask({ op: 'setup', workload: 'train:8:2' });
    pool = { one, two };
  }
  const alone = cases.map(() => [] as number[]);
  const pairs = cases.map(() => [] as number[]);
  const pairSlowest = cases.map(() => [] as number[]);
  const aloneCpu = cases.map(() => [] as number[]);
  const pairCpu = cases.map(() => [] as number[]);
  const poolOne: Timing[] = [];
  const poolTwo: Timing[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const single = await c.alone();
      alone[i]!.push(single.ms);
      const [x, y] = await c.pair();
      // Aggregate rate of the pair: the sum of each process's own rate; and the conservative one, 2 runs in the slower's time.
      pairs[i]!.push((c.units / x.ms + c.units / y.ms) * 1000);
      pairSlowest[i]!.push(((2 * c.units) / Math.max(x.ms, y.ms)) * 1000);
      // Main-thread CPU per iteration: when it grows in the pair, the two processes slow each other
      // down through shared hardware (caches, memory bandwidth), whatever else runs on the machine.
      if (single.cpu !== null && x.cpu !== null && y.cpu !== null) {
        aloneCpu[i]!.push(single.cpu[0] ?? 0);
        pairCpu[i]!.push(((x.cpu[0] ?? 0) + (y.cpu[0] ?? 0)) / 2);
      }
    }
    if (pool !== null) {
      poolOne.push(timing(await pool.one.ask({ op: 'run', workload: 'train:8:1', iterations: steps })));
      poolTwo.push(timing(await pool.two.ask({ op: 'run', workload: 'train:8:2', iterations: steps })));
    }
    process.stdout.write(`  round ${r + 1}/${rounds} done (load ${loadavg()[0]!.toFixed(2)})\n`);
  }
  console.log('');
  console.log('Independent processes (no gradient exchange). CPU ms: main thread per timed run (per iteration for spin, per step for training), alone and in the pair.');
  console.log('| workload | 1 process alone | 2 processes at once, aggregate | 2 ÷ 1 | 2 ÷ 1, by the slower | CPU ms alone | CPU ms in the pair |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const rateOf = new Map<string, number>();
  for (const [i, c] of cases.entries()) {
    const single = (c.units * 1000) / median(alone[i]!);
    const both = median(pairs[i]!);
    const slowest = median(pairSlowest[i]!);
    rateOf.set(c.label, single);
    const cpu = aloneCpu[i]!.length > 0 ? [format(median(aloneCpu[i]!), 1), format(median(pairCpu[i]!), 1)] : ['—', '—'];
    console.log(`| ${c.label} | ${format(single, 1)} ${c.unit}/s | ${format(both, 1)} ${c.unit}/s | ${format(both / single)}× | ${format(slowest / single)}× | ${cpu[0]} | ${cpu[1]} |`);
  }
  const r8 = cases.find((c) => c.label.includes('batch 8') && c.label.startsWith('wasm'));
  const r4 = cases.find((c) => c.label.includes('batch 4'));
  if (r8 !== undefined && r4 !== undefined) {
    const t8 = (8 * 1000) / (rateOf.get(r8.label) as number);
    const t4 = (4 * 1000) / (rateOf.get(r4.label) as number);
    console.log(
      `batch scaling: a step of batch 8 takes ${format(t8, 1)} ms, of batch 4 ${format(t4, 1)} ms alone: 2 workers splitting batch 8 as 4 + 4 ` +
        `can reach at most ${format(t8 / t4)}× even with free exchange and a machine that scales perfectly`,
    );
  }
  if (pool !== null) {
    const one = (8 * steps * 1000) / median(poolOne.map((t) => t.ms));
    const two = (8 * steps * 1000) / median(poolTwo.map((t) => t.ms));
    console.log('');
    console.log('In-process pool (1 process): CPU ms per step by thread, medians');
    console.log('| setting | img/s | main thread | busiest other | all other threads | total CPU |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [label, list, rate] of [['1 thread, batch 8', poolOne, one], ['--workers 2, batch 8 = 4 + 4', poolTwo, two]] as const) {
      const cpu = list.map((t) => t.cpu ?? []);
      const main = median(cpu.map((c) => c[0] ?? 0));
      const busiest = median(cpu.map((c) => c[1] ?? 0));
      const others = median(cpu.map((c) => c.slice(1).reduce((a, b) => a + b, 0)));
      console.log(`| ${label} | ${format(rate, 1)} | ${format(main, 1)} | ${format(busiest, 1)} | ${format(others, 1)} | ${format(main + others, 1)} |`);
    }
    console.log(`pool scaling, --workers 2 ÷ 1 thread: ${format(two / one)}×`);
    pool.one.close();
    pool.two.close();
  }
  console.log(`load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  for (const c of cases) c.close();
}

if (values.child === true) await child();
else await parent();
