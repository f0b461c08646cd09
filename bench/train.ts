/**
 * Training and inference speed of hemnet's segmentation models against the
 * same models in PyTorch (bench/peer/pytorch.py), measured in one run with
 * the repetitions interleaved (hemnet, PyTorch 1 thread, PyTorch 2 threads,
 * next workload, ...), so that a loaded machine slows both alike.
 *
 * Run: npm run bench:train [-- options]
 *   --repeats N      repetitions per workload (default 5; medians reported)
 *   --backends LIST  comma-separated (default: every backend that starts here,
 *                    via availableBackends(); 'cpu' only runs a tiny sanity
 *                    step unless --cpu-full: it is ~50× slower than wasm)
 *   --workers LIST   training threads to measure (default 1 and the cores)
 *   --warmup N       warm-up runs of each training workload before timing
 *                    (default 3: a fresh worker thread's JIT and wasm tier-up
 *                    take a few steps)
 *   --warmup-seconds S  and keep warming up until S seconds have passed
 *                    (default 5): a worker's isolate compiles the wasm module
 *                    again in the background, whose CPU would otherwise count
 *                    against the first timed steps of --workers 2
 *   --rewarm N       untimed runs of a workload right before each timed run,
 *                    for hemnet and PyTorch alike (default 1): the workloads
 *                    are interleaved, and the first step after another
 *                    workload ran is slow for both (caches, allocators; seen
 *                    as PyTorch's rate for one workload moving 1.6× between
 *                    rows of one run)
 *   --heads LIST     heads of the training and inference workloads (default hem,fcn,ema)
 *   --no-hem-paper   skip the HEM workload at the paper's size
 *   --no-eval        skip the evaluation rows (evaluateSegmentation on 1 and N threads)
 *   --no-infer-plain skip the plain `model.apply` inference rows (inference
 *                    runs folded, as the library does: see inferWorkload)
 *   --no-peer        skip PyTorch
 *   --no-profile     skip the per-kernel / per-phase profile
 *
 * PyTorch: Debian's `/usr/bin/python3` with `python3-torch` and
 * `libopenblas0-pthread` (apt-get install python3-torch libopenblas0-pthread).
 * It runs with OMP_WAIT_POLICY=PASSIVE unless the variable is set: on a shared
 * machine, spinning OpenMP threads made its 2-thread steps 10-20× slower.
 */
import { randomSegmentationDataset } from './randomData.js';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../src/backend.js';
import { batchSamples, batchToTensors } from '../src/data/augment.js';
import type { SegmentationDataset } from '../src/data/types.js';
import { loadMnistScenes } from '../src/data/mnistScenes.js';
import { unrollHem } from '../src/em/unroll.js';
import { foldInference } from '../src/infer/folded.js';
import { buildSegmentationModel, countParameters } from '../src/models/zoo.js';
import { batchIndices, batchLoss, decayedVariables, trainSegmentation, type TrainOptions } from '../src/train/loop.js';
import { createOptimizer, type TrainingOptimizer } from '../src/train/optimizer.js';
import { createGradientWorkers, type GradientWorkerPool } from '../src/train/parallel.js';
import { evaluateSegmentation } from '../src/train/evaluate.js';
import { createEvaluationWorkers } from '../src/train/parallelEval.js';
import { format, median } from './timing.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    'warmup-seconds': { type: 'string', default: '5' },
    rewarm: { type: 'string', default: '1' },
    backends: { type: 'string' },
    workers: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    heads: { type: 'string', default: 'hem,fcn,ema' },
    'no-hem-paper': { type: 'boolean', default: false },
    'no-infer-plain': { type: 'boolean', default: false },
    'no-eval': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'cpu-full': { type: 'boolean', default: false },
  },
});
const repeats = Number(values.repeats);
const warmupRuns = Number(values.warmup);
const rewarmRuns = Number(values.rewarm);
if (!Number.isInteger(rewarmRuns) || rewarmRuns < 0) throw new Error(`bench/train: --rewarm must be an integer ≥ 0, received ${values.rewarm}`);
const cores = availableParallelism();
const workerCounts = (values.workers ?? (cores > 1 ? `1,${cores}` : '1')).split(',').map(Number);
const BATCH = 8;
const SIZE = 64;
const ALL_HEADS = ['hem', 'fcn', 'ema'] as const;
const HEADS = values.heads.split(',').map((h) => {
  const head = ALL_HEADS.find((known) => known === h);
  if (head === undefined) throw new Error(`bench/train: --heads: unknown head '${h}' (known: ${ALL_HEADS.join(', ')})`);
  return head;
});

// ---------------------------------------------------------------- PyTorch peer
class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor(python: string) {
    this.child = spawn(python, [new URL('./peer/pytorch.py', import.meta.url).pathname], {
      // OpenBLAS's idle threads spin for 2^28 cycles (≈ 0.1 s) after each call by default: into the next
      // measurement (PyTorch's "1 thread" after its 2-thread run, or hemnet's next run). 2^4 cycles: they sleep.
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: process.env.OPENBLAS_THREAD_TIMEOUT ?? '4' },
    });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[pytorch] ${d.toString()}`));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async ask(request: object): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const { value, done } = await this.lines.next();
    if (done === true) throw new Error('bench/train: the PyTorch peer exited');
    const answer = JSON.parse(value) as Record<string, unknown>;
    if (typeof answer.error === 'string') throw new Error(`bench/train: PyTorch peer: ${answer.error}`);
    return answer;
  }
  close(): void {
    this.child.stdin.end();
  }
}

function startPeer(): Peer | null {
  if (values['no-peer'] === true) return null;
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`PyTorch peer skipped: '${python} -c "import torch"' failed (apt-get install python3-torch libopenblas0-pthread)`);
    return null;
  }
  return new Peer(python);
}

// ---------------------------------------------------------------- hemnet workloads

interface Workload {
  label: string;
  /** Workload name in the peer (null: no peer counterpart). */
  peer: string | null;
  /** Images per call of `run` (0: report ms, not img/s). */
  images: number;
  run(): Promise<void> | void;
  dispose?(): Promise<void> | void;
}

/** Runs `run` at least `--warmup` times (≥ 1) and for at least `--warmup-seconds`. */
async function warmUp(run: () => Promise<void>): Promise<void> {
  const warmUntil = performance.now() + 1000 * Number(values['warmup-seconds']);
  for (let i = 0; i < Math.max(1, warmupRuns) || performance.now() < warmUntil; i++) await run();
}

const TRAIN_STEPS_PER_RUN = 2;

async function trainWorkload(head: (typeof ALL_HEADS)[number], workers: number, backend: string): Promise<Workload & { params: number }> {
  const { model } = buildSegmentationModel({ head });
  const dataset = randomSegmentationDataset(32, SIZE);
  const optimizer: TrainingOptimizer = createOptimizer('adam', 2e-3, 0.9);
  const pool: GradientWorkerPool | null = await createGradientWorkers(model, workers, backend);
  const options: TrainOptions = { optimizer: 'adam', steps: TRAIN_STEPS_PER_RUN, batchSize: BATCH, learningRate: 2e-3, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 0, checkpointEvery: 0 };
  const run = async () => {
    await trainSegmentation({ model, dataset, options, optimizer, ...(pool !== null ? { workers: pool } : {}) });
  };
  await warmUp(run); // kernels, optimizer slots, workers' JIT and tier-up
  return {
    label: `train ${head}, ${workers} thread${workers > 1 ? 's' : ''}`,
    peer: `train:${head}`,
    images: BATCH * TRAIN_STEPS_PER_RUN,
    params: countParameters(model, 'trainable'),
    run,
    dispose: async () => {
      await pool?.close();
      optimizer.dispose();
      model.dispose();
    },
  };
}

const INFER_PER_RUN = 5;

/**
 * Inference of a batch [8, 64, 64, 3], as the library runs it: `foldInference`
 * (conv → BN → ReLU as one fused conv; what inferProbabilities,
 * evaluateSegmentation and the CLI's eval/predict use), folded once as an
 * evaluation does. `plain` runs `model.apply(x, {training: false})` instead
 * (no peer: for the fold's gain in the same run). The pass is complete when
 * one logit can be read (tfjs's wasm/cpu kernels are synchronous, and a
 * one-element read also waits on an asynchronous backend); the whole output
 * is not copied out, as the PyTorch peer returns its tensor without a copy.
 */
function inferWorkload(head: (typeof ALL_HEADS)[number], plain = false): Workload {
  const { model } = buildSegmentationModel({ head });
  const folded = plain ? null : foldInference(model);
  const x = tf.randomNormal([BATCH, SIZE, SIZE, 3]) as tf.Tensor4D;
  const run = () => {
    for (let i = 0; i < INFER_PER_RUN; i++) {
      tf.tidy(() => {
        const logits = folded !== null ? folded.logits(x) : (model.apply(x, { training: false }) as tf.Tensor);
        tf.slice(logits, [0, 0, 0, 0], [1, 1, 1, 1]).dataSync();
      });
    }
  };
  run();
  return {
    label: plain ? `inference ${head}, plain model.apply` : `inference ${head}`,
    peer: plain ? null : `infer:${head}`,
    images: BATCH * INFER_PER_RUN,
    run,
    dispose: () => {
      folded?.dispose();
      x.dispose();
      model.dispose();
    },
  };
}

const EVAL_BATCHES_PER_RUN = 10;

/**
 * An evaluation as `hemnet eval` runs it: `evaluateSegmentation` of 80
 * images (batches of 8, folded) on `threads` threads, the workers holding
 * their own copy of the dataset (samples loaded where they are evaluated).
 * More work than the peer's inference pass (softmax, arg-max, confusion
 * counts, the data read), so its ratio understates the inference alone.
 */
async function evalWorkload(head: (typeof ALL_HEADS)[number], threads: number, backend: string): Promise<Workload> {
  const { model } = buildSegmentationModel({ head });
  const images = BATCH * EVAL_BATCHES_PER_RUN;
  const dataset = randomSegmentationDataset(images, SIZE);
  const source = { module: new URL('./randomData.ts', import.meta.url).href, exportName: 'randomSegmentationDataset', args: [images, SIZE] };
  const workers = await createEvaluationWorkers(model, threads, backend, { dataset, source });
  const run = async () => {
    await evaluateSegmentation(model, dataset, { batchSize: BATCH, workers });
  };
  await warmUp(run); // the workers' JIT and XNNPACK operators too
  return {
    label: `eval ${head} (evaluateSegmentation), ${threads} thread${threads > 1 ? 's' : ''}`,
    peer: `infer:${head}`,
    images,
    run,
    dispose: async () => {
      await workers?.close();
      model.dispose();
    },
  };
}

function hemPaperWorkload(): Workload {
  const [B, N, C, K] = [4, 65 * 65, 512, 64];
  const x = tf.randomNormal([B, N, C]) as tf.Tensor3D;
  const mu0 = tf.randomNormal([K, C], 0, Math.sqrt(2 / K)) as tf.Tensor2D;
  const upstream = tf.randomNormal([B, N, C]);
  const run = () => {
    const grads = tf.grads((xIn: tf.Tensor, muIn: tf.Tensor) =>
      tf.sum(tf.mul(unrollHem(xIn as tf.Tensor3D, muIn as tf.Tensor2D, { stepSize: 0.5, iterations: 3 }).reconstruction, upstream)),
    )([x, mu0]);
    grads[0]!.dataSync();
    tf.dispose(grads);
  };
  run();
  return { label: 'HEM T=3 B=4 N=4225 C=512 K=64 fwd+bwd', peer: 'hem:paper', images: 0, run, dispose: () => tf.dispose([x, mu0, upstream]) };
}

/** CPU time (ms) of every thread of this process so far (Linux /proc; empty elsewhere). */
function threadCpu(): Map<string, number> {
  const times = new Map<string, number>();
  try {
    for (const task of readdirSync('/proc/self/task')) {
      times.set(task, Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
    }
  } catch {
    return new Map();
  }
  return times;
}

async function timed(run: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

// ---------------------------------------------------------------- main
const peer = startPeer();
const peerThreads = [1, 2];
if (peer !== null) {
  const hello = await peer.ask({ op: 'hello' });
  console.log(
    `PyTorch ${String(hello.torch)} (/usr/bin/python3), OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'}, ` +
      (hello.openblas === true ? "OpenBLAS threads set with PyTorch's (openblas_set_num_threads)" : 'no OpenBLAS found in the peer: only torch.set_num_threads'),
  );
}
const backends = values.backends !== undefined ? values.backends.split(',') : await availableBackends();
console.log(`bench:train — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cores} · Node ${process.version} · tfjs ${tf.version_core}`);
console.log(`backends: ${backends.join(', ')} · repeats ${repeats} (medians), each after ${rewarmRuns} untimed run(s) of the same workload · load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(
  "inference rows: foldInference(model).logits(x), the library's inference path (inferProbabilities, evaluateSegmentation, CLI eval/predict), " +
    "batch 8, completed by reading one logit (the peer returns its tensor uncopied); 'plain model.apply' rows: the unfolded model, same read; " +
    "'eval' rows: evaluateSegmentation of 80 images on 1 or N threads (what hemnet eval runs: also softmax, arg-max, confusion counts, data), against the peer's inference of as many images",
);

interface Row {
  backend: string;
  label: string;
  images: number;
  hemnet: number[];
  peer: Map<number, number[]>;
  /** PyTorch's process CPU time ÷ wall time per repetition, by thread setting (a check that "1 thread" is one core). */
  peerCpu: Map<number, number[]>;
  /** CPU ms per training step of each thread, busiest first, per repetition (training workloads). */
  cpu: number[][];
}
const rows: Row[] = [];

for (const backend of backends) {
  await setBackend(backend);
  const full = backend !== 'cpu' || values['cpu-full'] === true;
  const workloads: Workload[] = [];
  if (!full) {
    // A training step on cpu takes minutes (its conv filter gradient is pure JS): inference only.
    console.log(`backend cpu: fcn inference only, as a sanity check (pure JS, ~50× slower than wasm; --cpu-full for everything)`);
    workloads.push(inferWorkload('fcn'));
  } else {
    for (const head of HEADS) {
      for (const workers of workerCounts) {
        const w = await trainWorkload(head, workers, backend);
        if (head === 'hem' && workers === 1) console.log(`default hem model: ${w.params.toLocaleString('en')} trainable parameters`);
        workloads.push(w);
      }
    }
    for (const head of HEADS) workloads.push(inferWorkload(head));
    if (values['no-infer-plain'] !== true) for (const head of HEADS) workloads.push(inferWorkload(head, true));
    if (values['no-eval'] !== true) for (const head of HEADS) for (const threads of workerCounts) workloads.push(await evalWorkload(head, threads, backend));
    if (values['no-hem-paper'] !== true) workloads.push(hemPaperWorkload());
  }
  if (peer !== null) {
    for (const w of workloads) {
      if (w.peer === null) continue;
      for (const threads of peerThreads) {
        const answer = await peer.ask({ op: 'setup', workload: w.peer, threads });
        const expected = (w as Partial<{ params: number }>).params;
        if (expected !== undefined && answer.params !== expected) {
          throw new Error(`bench/train: ${w.peer}: PyTorch model has ${String(answer.params)} trainable parameters, hemnet ${expected}`);
        }
      }
    }
  }
  const backendRows = workloads.map((w) => ({ backend, label: w.label, images: w.images, hemnet: [] as number[], peer: new Map<number, number[]>(), peerCpu: new Map<number, number[]>(), cpu: [] as number[][] }));
  const reps = full ? repeats : 1;
  for (let r = 0; r < reps; r++) {
    for (const [i, w] of workloads.entries()) {
      const row = backendRows[i]!;
      for (let k = 0; k < rewarmRuns; k++) await w.run();
      const before = threadCpu();
      row.hemnet.push(await timed(w.run));
      if (w.peer?.startsWith('train') === true) {
        const after = threadCpu();
        row.cpu.push([...after].map(([task, ms]) => (ms - (before.get(task) ?? 0)) / TRAIN_STEPS_PER_RUN).sort((a, b) => b - a));
      }
      if (peer === null || w.peer === null) continue;
      // The peer runs as many images (batches of 8) as the row; 'ms' rows one call.
      const iterations = w.images > 0 ? w.images / BATCH : 1;
      for (const threads of peerThreads) {
        const answer = await peer.ask({ op: 'run', workload: w.peer, threads, iterations, warmup: rewarmRuns * iterations });
        const list = row.peer.get(threads) ?? [];
        list.push(answer.ms as number);
        row.peer.set(threads, list);
        if (typeof answer.cpuMs === 'number') row.peerCpu.set(threads, [...(row.peerCpu.get(threads) ?? []), answer.cpuMs / (answer.ms as number)]);
      }
    }
    process.stdout.write(`  repeat ${r + 1}/${reps} done (load ${loadavg()[0]!.toFixed(2)})\n`);
  }
  rows.push(...backendRows);
  for (const w of workloads) await w.dispose?.();
}

// ---------------------------------------------------------------- the table
const rate = (images: number, ms: number): string => (images > 0 ? `${format((images * 1000) / ms, 1)} img/s` : `${format(ms, 0)} ms`);
const speed = (images: number, ms: number): number => (images > 0 ? (images * 1000) / ms : 1000 / ms);
console.log('');
console.log('| backend | workload | hemnet | PyTorch 1 thread | PyTorch 2 threads | hemnet ÷ PyTorch 2 threads | ÷ 1 thread |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const row of rows) {
  const h = median(row.hemnet);
  const p1 = row.peer.get(1);
  const p2 = row.peer.get(2);
  const cells = [row.backend, row.label, rate(row.images, h)];
  for (const p of [p1, p2]) cells.push(p === undefined ? '—' : rate(row.images, median(p)));
  cells.push(p2 === undefined ? '—' : `${format(speed(row.images, h) / speed(row.images, median(p2)))}×`);
  cells.push(p1 === undefined ? '—' : `${format(speed(row.images, h) / speed(row.images, median(p1)))}×`);
  console.log(`| ${cells.join(' | ')} |`);
}
if (peer !== null) {
  const parts = peerThreads.map((threads) => {
    const ratios = rows.flatMap((r) => r.peerCpu.get(threads) ?? []);
    if (ratios.length === 0) return `${threads} thread(s): —`;
    return `${threads} thread${threads > 1 ? 's' : ''}: median ${format(median(ratios))}, ${format(Math.min(...ratios))}–${format(Math.max(...ratios))}`;
  });
  console.log(`PyTorch CPU time ÷ wall time over all rows (≈ threads actually busy): ${parts.join('; ')}`);
}
for (const backend of backends) {
  const find = (label: string) => rows.find((r) => r.backend === backend && r.label === label);
  const one = find('train hem, 1 thread');
  const many = workerCounts.length > 1 ? find(`train hem, ${workerCounts.at(-1)} threads`) : undefined;
  if (one !== undefined && many !== undefined) {
    console.log(`${backend}: scaling, hem training ${workerCounts.at(-1)} threads ÷ 1 thread: ${format(median(one.hemnet) / median(many.hemnet))}×`);
  }
  for (const workers of workerCounts) {
    const suffix = workers > 1 ? `${workers} threads` : '1 thread';
    const hem = find(`train hem, ${suffix}`);
    const fcn = find(`train fcn, ${suffix}`);
    if (hem !== undefined && fcn !== undefined) {
      console.log(`${backend}: HEM head cost over fcn per training step (${suffix}): ${format(100 * (median(hem.hemnet) / median(fcn.hemnet) - 1), 1)}%`);
    }
  }
}
// Per-thread CPU time is what a loaded machine distorts least: it shows the critical path of a
// data-parallel step (the busiest thread) and what runs besides (GC, JIT, other threads).
if (rows.some((r) => r.cpu.length > 0)) {
  console.log('');
  console.log('CPU time per training step by thread (Linux /proc, medians over the repetitions): busiest, second, all others');
  console.log('| backend | workload | thread 1 ms | thread 2 ms | others ms | total ms |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const row of rows) {
    if (row.cpu.length === 0) continue;
    const first = median(row.cpu.map((c) => c[0] ?? 0));
    const second = median(row.cpu.map((c) => c[1] ?? 0));
    const others = median(row.cpu.map((c) => c.slice(2).reduce((a, b) => a + b, 0)));
    const total = median(row.cpu.map((c) => c.reduce((a, b) => a + b, 0)));
    console.log(`| ${row.backend} | ${row.label} | ${format(first, 1)} | ${format(second, 1)} | ${format(others, 1)} | ${format(total, 1)} |`);
  }
}
console.log(`load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);

// ---------------------------------------------------------------- profile
if (values['no-profile'] !== true && backends.includes('wasm')) {
  await setBackend('wasm');
  console.log('\nProfile of one training step of the default hem model on wasm, 1 thread, built-in scenes (batch 8):');
  const scenes: SegmentationDataset = loadMnistScenes({ split: 'train', size: 64, canvasSize: SIZE, digitsPerScene: [1, 2], digitScale: [1.5, 2.2], labelDilation: 1, clutter: { fragments: [0, 2] }, seed: 0 });
  const { model } = buildSegmentationModel({ head: 'hem' });
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayedVariables(model).map((w) => w.read());
  const optimizer = createOptimizer('adam', 2e-3, 0.9);
  const phases = { data: [] as number[], forward: [] as number[], backward: [] as number[], optimizer: [] as number[], total: [] as number[] };
  const step = (s: number, record: boolean) => {
    const t0 = performance.now();
    const { indices, epochs } = batchIndices(s, BATCH, scenes.size, 0);
    const { images, labels } = batchToTensors(batchSamples(indices.map((index, i) => scenes.get(index, epochs[i]))));
    const t1 = performance.now();
    let forwardMs = 0;
    const { value, grads } = tf.variableGrads(() => {
      const f0 = performance.now();
      const loss = batchLoss(model, images, labels, scenes.ignoreLabel, 1e-4, decayed);
      forwardMs = performance.now() - f0;
      return loss;
    }, trainable);
    const t2 = performance.now();
    optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    value.dataSync();
    const t3 = performance.now();
    tf.dispose([images, labels, value]);
    tf.dispose(grads);
    if (record) {
      phases.data.push(t1 - t0);
      phases.forward.push(forwardMs);
      phases.backward.push(t2 - t1 - forwardMs);
      phases.optimizer.push(t3 - t2);
      phases.total.push(t3 - t0);
    }
  };
  for (let s = 0; s < 3; s++) step(s, false);
  for (let s = 3; s < 3 + repeats; s++) step(s, true);
  let profiledWall = 0;
  const info = await tf.profile(() => {
    const start = performance.now();
    step(99, false);
    profiledWall = performance.now() - start;
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  let kernelMs = 0;
  for (const k of info.kernels) {
    // Op-level scopes ('fusedConv2d__op', 'unnamed scope') contain kernels that are listed too: not counted twice.
    if (k.name.endsWith('__op') || k.name === 'unnamed scope') continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    byKernel.set(k.name, entry);
    kernelMs += ms;
  }
  const total = median(phases.total);
  console.log('| phase | ms (median) | share |');
  console.log('|---|---:|---:|');
  for (const [name, list] of Object.entries(phases)) {
    if (name === 'total') continue;
    console.log(`| ${name} | ${format(median(list), 1)} | ${format((100 * median(list)) / total, 0)}% |`);
  }
  console.log(`| step (wall) | ${format(total, 1)} | 100% |`);
  const calls = [...byKernel.values()].reduce((n, k) => n + k.calls, 0);
  console.log(`one profiled step: ${calls} kernel calls, ${format(kernelMs, 1)} ms inside kernels of ${format(profiledWall, 1)} ms wall; ` +
    `dispatch (engine, tape, JS between kernels) ≈ ${format(profiledWall - kernelMs, 1)} ms = ${format((100 * (profiledWall - kernelMs)) / profiledWall, 0)}% of the profiled step`);
  console.log('| kernel | ms | calls |');
  console.log('|---|---:|---:|');
  for (const [name, { ms, calls }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`| ${name} | ${format(ms, 1)} | ${calls} |`);
  }
  optimizer.dispose();
}
peer?.close();
