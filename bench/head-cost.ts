/**
 * What the HEM head costs per training step over the `fcn` head (issue 8's
 * target: ≤ 10 %), measured so that load cannot favour either: one process
 * per backend, the default model with each head (batch 8, 64×64, Adam,
 * weight decay, through `trainSegmentation` as `hemnet train` runs it), and
 * in every round 4 steps of each head (one `trainSegmentation` call, so its
 * per-call setup is amortised as in a run), in alternating order. Prints the
 * minimum and the median step per head and their ratios (the minimum is what
 * the code costs; the median what a run of it sees on this machine).
 *
 * `--composed`: each attention head also runs with the fused HEM unroll
 * off (src/backends/native/hemUnroll.ts `setFusedHem(false)`: tfjs's
 * composition of src/em/steps.ts), in the same rounds, labelled
 * "hem (composed)".
 *
 * Run: npx tsx bench/head-cost.ts [--rounds 20] [--backends native,wasm] [--heads hem,ema] [--composed]
 */
import { loadavg, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../src/backend.js';
import { setFusedHem } from '../src/backends/native/hemUnroll.js';
import { format, median } from './timing.js';
import { trainLoopStepper } from './trainStep.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    backends: { type: 'string' },
    heads: { type: 'string', default: 'hem,ema' },
    warmup: { type: 'string', default: '5' },
    composed: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/head-cost: --rounds must be a positive integer, received ${values.rounds}`);
if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`bench/head-cost: --warmup must be an integer ≥ 0, received ${values.warmup}`);
const KNOWN = ['hem', 'ema'] as const;
const heads = values.heads.split(',').map((h) => {
  const head = KNOWN.find((k) => k === h);
  if (head === undefined) throw new Error(`bench/head-cost: --heads: '${h}' is not one of ${KNOWN.join(', ')} (fcn is always the reference)`);
  return head;
});
const BATCH = 8;
const SIZE = 64;
const STEPS_PER_CALL = 4;

interface Stepper {
  head: string;
  step(): Promise<number>;
  dispose(): void;
}

function stepper(head: 'fcn' | (typeof KNOWN)[number]): Stepper {
  return { head, ...trainLoopStepper(head, BATCH, SIZE, STEPS_PER_CALL) };
}

/** The head with the fused HEM unroll turned off during its steps. */
function composedStepper(head: (typeof KNOWN)[number]): Stepper {
  const inner = trainLoopStepper(head, BATCH, SIZE, STEPS_PER_CALL);
  return {
    head: `${head} (composed)`,
    async step() {
      setFusedHem(false);
      try {
        return await inner.step();
      } finally {
        setFusedHem(true);
      }
    },
    dispose: () => inner.dispose(),
  };
}

const backends = values.backends !== undefined ? values.backends.split(',') : (await availableBackends()).filter((b) => b !== 'cpu');
console.log(`bench:head-cost — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} · tfjs ${tf.version_core}`);
console.log(`backends ${backends.join(', ')} · ${rounds} rounds of ${STEPS_PER_CALL} steps per head (batch ${BATCH}, ${SIZE}×${SIZE}), order alternating · load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
const lines: string[] = [];
for (const backend of backends) {
  await setBackend(backend);
  const steppers = [stepper('fcn'), ...heads.map((h) => stepper(h)), ...(values.composed ? heads.map((h) => composedStepper(h)) : [])];
  for (const s of steppers) for (let i = 0; i < warmup; i++) await s.step();
  const times = new Map<string, number[]>(steppers.map((s) => [s.head, []]));
  const before = tf.memory().numTensors;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? steppers : [...steppers].reverse();
    for (const s of order) times.get(s.head)!.push(await s.step());
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`bench/head-cost: ${backend}: ${leaked} tensors more after the rounds`);
  const fcn = times.get('fcn')!;
  for (const s of steppers) {
    const t = times.get(s.head)!;
    const versus = s.head === 'fcn' ? '—' : `${format(100 * (Math.min(...t) / Math.min(...fcn) - 1), 1)} %`;
    const versusMedian = s.head === 'fcn' ? '—' : `${format(100 * (median(t) / median(fcn) - 1), 1)} %`;
    lines.push(`| ${backend} | ${s.head} | ${format(Math.min(...t), 1)} | ${format(median(t), 1)} | ${versus} | ${versusMedian} |`);
  }
  for (const s of steppers) s.dispose();
  console.log(`  ${backend} done (load ${loadavg()[0]!.toFixed(2)})`);
}
console.log('');
console.log('| backend | head | min ms/step | median ms/step | over fcn (min) | over fcn (median) |');
console.log('|---|---|---:|---:|---:|---:|');
for (const line of lines) console.log(line);
console.log(`load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
