/**
 * What the fused multiply-add of the SIMD block kernels (src/kernels/
 * fusedMultiplyAdd.ts: `f32x4.relaxed_madd` in the Winograd products and
 * the small batched products) gains on wasm, on the default model (batch 8,
 * 64×64, one thread; the switch also moves BatchMatMul's rule, which sends
 * every product without transposeA to the block kernels only with FMA:
 * src/kernels/batchMatMul.ts): a training step (`trainSegmentation`, Adam, 4 steps
 * per call) and folded inference (`foldInference(model).logits`), each
 * timed with the switch on and off in alternating order within one run, so
 * that load cannot favour either. Prints minimum and median per setting and
 * their ratio (off ÷ on: > 1 means the fused kernels are faster), plus the
 * plain block product on [512, 576]·[576, 128] (GFLOP/s).
 *
 * Run: npx tsx bench/fma.ts [--rounds 15] [--heads hem,fcn]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { foldInference } from '../src/infer/folded.js';
import { gemmOnMemory, simdGemm } from '../src/kernels/batchMatMulSimd.js';
import { fusedMultiplyAddAvailable, setWasmFusedMultiplyAdd } from '../src/kernels/fusedMultiplyAdd.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { format, printOnOffTable, timeOnOff, type TimedWorkload } from './timing.js';
import { trainLoopStepper } from './trainStep.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, heads: { type: 'string', default: 'hem,fcn' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/fma: --rounds must be a positive integer, received ${values.rounds}`);
const heads = values.heads.split(',').map((h) => {
  if (h !== 'hem' && h !== 'fcn' && h !== 'ema') throw new Error(`bench/fma: --heads: '${h}' is not one of hem, fcn, ema`);
  return h;
});
const BATCH = 8;
const SIZE = 64;
const STEPS_PER_CALL = 4;
const INFER_PER_CALL = 10;

await setBackend('wasm');
if (!fusedMultiplyAddAvailable()) {
  console.log('bench:fma — relaxed SIMD fused multiply-add is not available on this engine/CPU; nothing to compare');
  process.exit(0);
}
console.log(`bench:fma — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} (V8 ${process.versions.v8}) · tfjs ${tf.version_core} · wasm, 1 thread`);
console.log(`${rounds} rounds, each timing every workload with FMA on and off in alternating order · load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);

function trainWorkload(head: 'hem' | 'fcn' | 'ema'): TimedWorkload {
  const stepper = trainLoopStepper(head, BATCH, SIZE, STEPS_PER_CALL);
  return { label: `train ${head} step`, run: () => stepper.step(), dispose: () => stepper.dispose() };
}

function inferWorkload(head: 'hem' | 'fcn' | 'ema'): TimedWorkload {
  const { model } = buildSegmentationModel({ head });
  const folded = foldInference(model);
  const x = tf.randomNormal([BATCH, SIZE, SIZE, 3]) as tf.Tensor4D;
  return {
    label: `inference ${head}, batch ${BATCH}`,
    async run() {
      const start = performance.now();
      for (let i = 0; i < INFER_PER_CALL; i++) {
        tf.tidy(() => {
          tf.slice(folded.logits(x), [0, 0, 0, 0], [1, 1, 1, 1]).dataSync();
        });
      }
      return (performance.now() - start) / INFER_PER_CALL;
    },
    dispose() {
      folded.dispose();
      x.dispose();
      model.dispose();
    },
  };
}

function gemmWorkload(): TimedWorkload {
  const [m, k, n] = [512, 576, 128];
  const memory = new WebAssembly.Memory({ initial: Math.ceil((4 * (m * k + k * n + m * n)) / 65536) + 1 });
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < m * k + k * n; i++) f[i] = Math.sin(i);
  const reps = 20;
  return {
    label: `block product [${m}, ${k}]·[${k}, ${n}] (ms; GFLOP/s below)`,
    async run() {
      const kernels = simdGemm(memory);
      if (kernels === null) throw new Error('bench/fma: the SIMD block kernels did not instantiate');
      const start = performance.now();
      for (let r = 0; r < reps; r++) gemmOnMemory(kernels, 0, 4 * k, 4, 4 * m * k, 4 * (m * k + k * n), m, k, n);
      return (performance.now() - start) / reps;
    },
    dispose() {},
  };
}

const workloads = [gemmWorkload(), ...heads.map((h) => trainWorkload(h)), ...heads.map((h) => inferWorkload(h))];
const { times, leaked } = await timeOnOff(workloads, setWasmFusedMultiplyAdd, rounds, () => tf.memory().numTensors);

printOnOffTable(workloads, times, 'FMA on', 'FMA off');
const gemm = times[0]!;
const flop = 2 * 512 * 576 * 128;
console.log(`block product GFLOP/s (best): FMA on ${format(flop / Math.min(...gemm.on) / 1e6, 1)}, off ${format(flop / Math.min(...gemm.off) / 1e6, 1)}`);
console.log(`tensors leaked over the timed rounds: ${leaked} · load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
for (const w of workloads) w.dispose();
