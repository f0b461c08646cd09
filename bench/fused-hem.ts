/**
 * What the fused HEM unroll (one kernel forward, one backward:
 * src/kernels/hemUnroll.ts on wasm, native/src/hem.cc on native) gains over
 * tfjs's composition of src/em/steps.ts, on one backend: the unroll with its
 * gradient at the default head's size ([8, 64, 64], K 16, T 3) and, with
 * `--paper`, at the paper's ([4, 4225, 512], K 64, T 3); a training step of
 * the default model with the `hem` head (`trainSegmentation`, Adam, 4 steps
 * per call); and folded inference of it. Each workload runs with the fused
 * path on and off in alternating order within one run, so that load cannot
 * favour either. Prints minimum and median per setting and their ratio
 * (off ÷ on: > 1 means the fused kernels are faster).
 *
 * Run: npx tsx bench/fused-hem.ts [--rounds 10] [--backend wasm] [--paper]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { HEM_UNROLL_KERNEL, setFusedHem } from '../src/backends/native/hemUnroll.js';
import { unrollHem } from '../src/em/unroll.js';
import { foldInference } from '../src/infer/folded.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { printOnOffTable, timeOnOff, type TimedWorkload } from './timing.js';
import { trainLoopStepper } from './trainStep.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, backend: { type: 'string', default: 'wasm' }, paper: { type: 'boolean', default: false } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/fused-hem: --rounds must be a positive integer, received ${values.rounds}`);
const backend = values.backend;
if (backend !== 'wasm' && backend !== 'native') throw new Error(`bench/fused-hem: --backend must be wasm or native, received ${backend}`);
const BATCH = 8;
const SIZE = 64;
const STEPS_PER_CALL = 4;
const INFER_PER_CALL = 10;

await setBackend(backend);
if (tf.getKernel(HEM_UNROLL_KERNEL, backend) === undefined) {
  console.log(`bench:fused-hem — ${backend} has no ${HEM_UNROLL_KERNEL} kernel; nothing to compare`);
  process.exit(0);
}
console.log(`bench:fused-hem — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} · tfjs ${tf.version_core} · ${backend}`);
console.log(`${rounds} rounds, each timing every workload with the fused unroll on and off in alternating order · load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);

function unrollWorkload(label: string, [batch, pixels, channels]: [number, number, number], bases: number, repeats: number): TimedWorkload {
  const x = tf.randomNormal([batch, pixels, channels]) as tf.Tensor3D;
  const mu0 = tf.randomNormal([bases, channels], 0, 0.3) as tf.Tensor2D;
  const objective = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(unrollHem(a as tf.Tensor3D, b as tf.Tensor2D, { stepSize: 0.5, iterations: 3 }).reconstruction));
  return {
    label,
    async run() {
      const start = performance.now();
      for (let i = 0; i < repeats; i++) {
        const grads = objective([x, mu0]);
        await grads[0]!.data();
        tf.dispose(grads);
      }
      return (performance.now() - start) / repeats;
    },
    dispose: () => tf.dispose([x, mu0]),
  };
}

function trainWorkload(): TimedWorkload {
  const stepper = trainLoopStepper('hem', BATCH, SIZE, STEPS_PER_CALL);
  return { label: `train hem step, batch ${BATCH}`, run: () => stepper.step(), dispose: () => stepper.dispose() };
}

function inferWorkload(): TimedWorkload {
  const { model } = buildSegmentationModel({ head: 'hem' });
  const folded = foldInference(model);
  const x = tf.randomNormal([BATCH, SIZE, SIZE, 3]) as tf.Tensor4D;
  return {
    label: `inference hem, batch ${BATCH}`,
    async run() {
      const start = performance.now();
      for (let i = 0; i < INFER_PER_CALL; i++) tf.tidy(() => void tf.slice(folded.logits(x), [0, 0, 0, 0], [1, 1, 1, 1]).dataSync());
      return (performance.now() - start) / INFER_PER_CALL;
    },
    dispose() {
      folded.dispose();
      x.dispose();
      model.dispose();
    },
  };
}

const workloads = [
  unrollWorkload('unroll fwd + bwd, [8, 64, 64], K 16, T 3', [8, 64, 64], 16, 20),
  ...(values.paper ? [unrollWorkload('unroll fwd + bwd, [4, 4225, 512], K 64, T 3 (paper)', [4, 4225, 512], 64, 1)] : []),
  trainWorkload(),
  inferWorkload(),
];
const { times, leaked } = await timeOnOff(workloads, setFusedHem, rounds, () => tf.memory().numTensors);

printOnOffTable(workloads, times, 'fused', 'composed');
console.log(`tensors leaked over the timed rounds: ${leaked} · load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
for (const w of workloads) w.dispose();
