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
 *    sweeps/headline.json trained without the flush): forward passes of its
 *    model on the first `--images N` validation images on each backend, with
 *    the weights as stored and with their subnormal entries zeroed (what the
 *    loaders do by default), on native also FTZ + DAZ alone, interleaved;
 *    and the agreement of the predicted classes with the first variant.
 *
 * Run: npx tsx bench/denormals.ts [--calls N] [--run DIR] [--images N] [--batch N]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, flushesDenormals, setBackend, setFlushDenormals } from '../src/backend.js';
import type { NativeBackend } from '../src/backends/native/index.js';
import { createDatasets, loadRunModel } from '../src/cli/run.js';
import { loadSamples } from '../src/data/index.js';
import { flushSubnormalWeights } from '../src/kernels/denormals.js';
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
  const run = values.run;
  const images = Number(values.images);
  const batch = Number(values.batch);
  const initially = flushesDenormals();
  for (const backend of backends) {
    // Load the weights as stored (the loaders flush subnormal weights when the flush is on), then a flushed copy.
    setFlushDenormals(false);
    const { model: stored, config, step } = await loadRunModel(run, backend);
    const { model: cleaned } = await loadRunModel(run, backend);
    setFlushDenormals(true);
    const flushedWeights = flushSubnormalWeights(cleaned);
    const { val } = await createDatasets(config, 'val');
    const count = Math.min(images, val.size);
    const samples = await loadSamples(val, Array.from({ length: count }, (_, index) => ({ index, epoch: 0 })));
    const [first] = samples;
    if (first === undefined) throw new Error(`bench: ${run} has no validation images`);
    const batches: tf.Tensor4D[] = [];
    for (let from = 0; from < count; from += batch) {
      const part = samples.slice(from, from + batch);
      const data = new Float32Array(part.length * first.image.length);
      part.forEach((s, i) => data.set(s.image, i * first.image.length));
      batches.push(tf.tensor4d(data, [part.length, first.height, first.width, first.channels]));
    }
    const variants: { label: string; model: tf.LayersModel; flush: boolean }[] = [
      { label: 'weights as stored, no flush', model: stored, flush: false },
      ...(backend === 'native' ? [{ label: 'weights as stored, FTZ + DAZ', model: stored, flush: true }] : []),
      { label: `subnormal weights zeroed at load${backend === 'native' ? ', FTZ + DAZ (default)' : ' (default)'}`, model: cleaned, flush: true },
    ];
    const pass = (v: (typeof variants)[number]): { ms: number; labels: Int32Array } => {
      setFlushDenormals(v.flush);
      const parts: Int32Array[] = [];
      const ms = timeOnce(() => {
        for (const x of batches) {
          const logits = v.model.predict(x) as tf.Tensor;
          const classes = tf.argMax(logits, -1);
          parts.push(Int32Array.from(classes.dataSync()));
          tf.dispose([logits, classes]);
        }
      });
      const labels = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (labels.set(p, at), at + p.length), 0);
      return { ms, labels };
    };
    try {
      variants.forEach(pass);
      const repeats = 3;
      const times = variants.map(() => [] as number[]);
      const agreement = variants.map(() => 1);
      for (let r = 0; r < repeats; r++) {
        const results = variants.map(pass);
        results.forEach((result, i) => {
          times[i]?.push(result.ms);
          let same = 0;
          const reference = results[0]?.labels ?? result.labels;
          result.labels.forEach((v, j) => (same += v === reference[j] ? 1 : 0));
          agreement[i] = Math.min(agreement[i] ?? 1, same / result.labels.length);
        });
      }
      const threads = backend === 'native' ? `, ${(tf.backend() as NativeBackend).addon.threads(0, 0)[0]} thread(s)` : '';
      console.log(`--- ${run} (${config.model.head} head, step ${Number.isNaN(step) ? 'final' : step}) on ${backend}${threads}: forward passes of ${count} validation images, batch ${batch}, median of ${repeats}; ${flushedWeights} subnormal weights`);
      const baseline = median(times[0] ?? []);
      variants.forEach((v, i) => {
        const ms = median(times[i] ?? []);
        console.log(`${v.label.padEnd(52)} ${format(ms, 0).padStart(7)} ms  ${format((count * 1000) / ms, 1).padStart(7)} img/s  ${format(baseline / ms, 2)}× the first  classes equal to the first in ${format((agreement[i] ?? 0) * 100, 3)} % of pixels`);
      });
    } finally {
      tf.dispose(batches);
      stored.dispose();
      cleaned.dispose();
    }
  }
  setFlushDenormals(initially);
}
