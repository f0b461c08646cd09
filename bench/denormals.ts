/**
 * Denormal (subnormal) floats: what they cost each backend, and what the
 * native addon's flush to zero (native/src/common.h, on by default) buys.
 *
 * 1. Kernels: each case runs on ordinary inputs and on inputs full of
 *    subnormals (|x| < 1.18e-38, made in JavaScript so no kernel flushes them
 *    on the way in), interleaved call by call; on native also with the flush
 *    off and on (`addon.flushDenormals`). Prints ms (median) and
 *    subnormal ÷ ordinary.
 * 2. With `--run DIR` (a trained run folder, e.g. an `ema` run of
 *    sweeps/headline.json): forward passes of its model on the first
 *    `--images N` validation images on native, flush off and on interleaved,
 *    and the agreement of the predicted classes between the two.
 *
 * Run: npx tsx bench/denormals.ts [--calls N] [--run DIR] [--images N] [--batch N]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../src/backend.js';
import type { NativeBackend } from '../src/backends/native/index.js';
import { createDatasets, loadRunModel } from '../src/cli/run.js';
import { loadSamples } from '../src/data/index.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '15' },
    run: { type: 'string' },
    images: { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
  },
});
const calls = Number(values.calls);
const present = await availableBackends();
const backends = ['wasm', 'native'].filter((b) => present.includes(b));

/** Seeded normal values × scale, built in JS (float64 arithmetic, then rounded to float32, subnormals kept). */
function values32(count: number, scale: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * scale;
  return out;
}

interface Case {
  label: string;
  /** Runs the op on ordinary (`false`) or subnormal-heavy (`true`) inputs; returns the output to dispose. */
  make(subnormal: boolean): () => tf.Tensor;
}

const CASES: Case[] = [
  {
    // The EM E-step's product X·μ at the headline's size (N = 16·16·8 pixels, C = 128, K = 32), with X subnormal.
    label: 'matMul [2048,128]·[128,32]',
    make: (subnormal) => {
      const x = tf.tensor2d(values32(2048 * 128, subnormal ? 1e-39 : 1, 1), [2048, 128]);
      const mu = tf.tensor2d(values32(128 * 32, 1, 2), [128, 32]);
      return () => tf.matMul(x, mu);
    },
  },
  {
    // The M-step's γᵀ·X with γ mostly subnormal: a saturated softmax over collapsed bases.
    label: 'matMul γᵀ [32,2048]·[2048,128]',
    make: (subnormal) => {
      const gamma = tf.tensor2d(values32(32 * 2048, subnormal ? 1e-39 : 1e-3, 3), [32, 2048]);
      const x = tf.tensor2d(values32(2048 * 128, 1, 4), [2048, 128]);
      return () => tf.matMul(gamma, x);
    },
  },
  {
    label: 'conv2d 3×3 [8,16,16,128]→128',
    make: (subnormal) => {
      const x = tf.tensor4d(values32(8 * 16 * 16 * 128, subnormal ? 1e-39 : 1, 5), [8, 16, 16, 128]);
      const w = tf.tensor4d(values32(9 * 128 * 128, 0.03, 6), [3, 3, 128, 128]);
      return () => tf.conv2d(x, w, 1, 'same');
    },
  },
  {
    label: 'mul [8,32,32,128] × 0.5',
    make: (subnormal) => {
      const x = tf.tensor4d(values32(8 * 32 * 32 * 128, subnormal ? 1e-39 : 1, 7), [8, 32, 32, 128]);
      const half = tf.scalar(0.5);
      return () => tf.mul(x, half);
    },
  },
  {
    // Logits spread so that exp(z − max) lands in the subnormal range for most entries.
    label: 'softmax [2048,32], saturating',
    make: (subnormal) => {
      const z = tf.tensor2d(values32(2048 * 32, subnormal ? 30 : 1, 8), [2048, 32]);
      return () => tf.softmax(z);
    },
  },
];

function timeCall(run: () => tf.Tensor): number {
  return timeOnce(() => {
    const out = run();
    out.dataSync();
    out.dispose();
  });
}

console.log(`--- kernels on ordinary inputs and on subnormal-heavy inputs (median of ${calls} calls, ms)`);
console.log(`${'backend'.padEnd(22)} ${'case'.padEnd(32)} ${'ordinary'.padStart(9)} ${'subnormal'.padStart(9)}  subnormal ÷ ordinary`);
for (const backend of backends) {
  await setBackend(backend);
  const addon = backend === 'native' ? (tf.backend() as NativeBackend).addon : null;
  const modes: (0 | 1 | null)[] = addon === null ? [null] : [0, 1];
  const initialFlush = addon?.flushDenormals(-1) ?? false;
  try {
    for (const c of CASES) {
      const ordinary = c.make(false);
      const subnormal = c.make(true);
      const times = new Map<string, number[]>();
      for (let i = 0; i < calls + 2; i++) {
        for (const mode of modes) {
          if (addon !== null && mode !== null) addon.flushDenormals(mode);
          const a = timeCall(ordinary);
          const b = timeCall(subnormal);
          if (i < 2) continue;
          for (const [key, t] of [[`${mode}-o`, a], [`${mode}-s`, b]] as const) times.set(key, [...(times.get(key) ?? []), t]);
        }
      }
      for (const mode of modes) {
        const o = median(times.get(`${mode}-o`) ?? []);
        const s = median(times.get(`${mode}-s`) ?? []);
        const name = mode === null ? backend : `${backend}, flush ${mode === 1 ? 'on' : 'off'}`;
        console.log(`${name.padEnd(22)} ${c.label.padEnd(32)} ${format(o, 3).padStart(9)} ${format(s, 3).padStart(9)}  ${format(s / o, 2)}×`);
      }
    }
  } finally {
    addon?.flushDenormals(initialFlush ? 1 : 0);
  }
  tf.disposeVariables();
}

if (values.run !== undefined) {
  if (!present.includes('native')) {
    console.log('--- --run needs the native backend (npm run build:native): only its kernels can flush denormals');
  } else {
    const images = Number(values.images);
    const batch = Number(values.batch);
    const { model, config, step } = await loadRunModel(values.run, 'native');
    const { addon } = tf.backend() as NativeBackend;
    const { val } = await createDatasets(config, 'val');
    const count = Math.min(images, val.size);
    const samples = await loadSamples(val, Array.from({ length: count }, (_, index) => ({ index, epoch: 0 })));
    const [first] = samples;
    if (first === undefined) throw new Error(`bench: ${values.run} has no validation images`);
    const batches: tf.Tensor4D[] = [];
    for (let from = 0; from < count; from += batch) {
      const part = samples.slice(from, from + batch);
      const data = new Float32Array(part.length * first.image.length);
      part.forEach((s, i) => data.set(s.image, i * first.image.length));
      batches.push(tf.tensor4d(data, [part.length, first.height, first.width, first.channels]));
    }
    const initialFlush = addon.flushDenormals(-1);
    const pass = (mode: 0 | 1): { ms: number; labels: Int32Array } => {
      addon.flushDenormals(mode);
      const labels: number[] = [];
      const ms = timeOnce(() => {
        for (const x of batches) {
          const logits = model.predict(x) as tf.Tensor;
          const classes = tf.argMax(logits, -1);
          labels.push(...(classes.dataSync() as Int32Array));
          tf.dispose([logits, classes]);
        }
      });
      return { ms, labels: Int32Array.from(labels) };
    };
    try {
      pass(1);
      const off: number[] = [];
      const on: number[] = [];
      let agreement = 1;
      const repeats = 3;
      for (let r = 0; r < repeats; r++) {
        const a = pass(0);
        const b = pass(1);
        off.push(a.ms);
        on.push(b.ms);
        let same = 0;
        a.labels.forEach((v, i) => (same += v === b.labels[i] ? 1 : 0));
        agreement = Math.min(agreement, same / a.labels.length);
      }
      const rate = (ms: number): string => format((count * 1000) / ms, 1);
      console.log(`--- ${values.run} (${config.model.head} head, step ${Number.isNaN(step) ? 'final' : step}): forward passes of ${count} validation images, batch ${batch}, native, ${addon.threads(0, 0)[0]} thread(s), median of ${repeats}`);
      console.log(`flush off: ${format(median(off), 0)} ms (${rate(median(off))} img/s); flush on: ${format(median(on), 0)} ms (${rate(median(on))} img/s); off ÷ on ${format(median(off) / median(on), 2)}×`);
      console.log(`predicted classes equal with the flush off and on in ${format(agreement * 100, 3)} % of pixels`);
    } finally {
      addon.flushDenormals(initialFlush ? 1 : 0);
      tf.dispose(batches);
      model.dispose();
    }
  }
}
