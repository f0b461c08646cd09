/**
 * hemnet's SIMD block kernels (src/kernels/batchMatMulSimd.ts, with fused
 * multiply-adds where the engine has them) against tfjs-backend-wasm's stock
 * rank-2 product (XNNPACK, hemnet's kernels uninstalled around each call)
 * on single products A·B without transpose flags, from the HEM head's
 * [512, 64]·[64, 64] to the paper's [16900, 512]·[512, 64]. Fastest of 5
 * rounds per side, each side measured twice in alternation.
 *
 * Run: npx tsx bench/matmul-simd.ts   (HEMNET_WASM_FMA=0: without FMA)
 */
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { gemmOnMemory, simdGemm } from '../src/kernels/batchMatMulSimd.js';
import { wasmFusedMultiplyAdd } from '../src/kernels/fusedMultiplyAdd.js';
import { installKernels, uninstallKernels } from '../src/kernels/index.js';
import { memoryOf } from '../src/kernels/wasmAssembly.js';
import { asWasmBackend, disposeAll, matMul2d, offsetF32 } from '../src/kernels/wasmHeap.js';

await setBackend('wasm');
const backend = asWasmBackend(tf.backend(), 'bench/matmul-simd');
const kernels = simdGemm(memoryOf(backend));
if (kernels === null) throw new Error('bench/matmul-simd: the SIMD block kernels did not instantiate');
console.log(`bench:matmul-simd — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} · FMA ${wasmFusedMultiplyAdd() ? 'on' : 'off'}`);
console.log('| A·B | XNNPACK ms | SIMD block kernels ms | XNNPACK ÷ SIMD |');
console.log('|---|---:|---:|---:|');
const SHAPES: Array<[number, number, number]> = [[512, 64, 64], [512, 16, 64], [2048, 32, 128], [2048, 128, 64], [8192, 16, 32], [4225, 64, 512], [16900, 64, 512], [16900, 512, 64]];
for (const [m, k, n] of SHAPES) {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const A: tf.TensorInfo = { dataId: a.dataId, shape: [m, k], dtype: 'float32' };
  const B: tf.TensorInfo = { dataId: b.dataId, shape: [k, n], dtype: 'float32' };
  const stock = (): void => {
    uninstallKernels('wasm');
    const out = matMul2d(backend, A, B);
    installKernels('wasm');
    disposeAll(backend, [out]);
  };
  const simd = (): void => {
    const out = backend.makeOutput([m, n], 'float32');
    gemmOnMemory(kernels, 4 * offsetF32(backend, A), 4 * k, 4, 4 * offsetF32(backend, B), 4 * offsetF32(backend, out), m, k, n);
    disposeAll(backend, [out]);
  };
  const calls = Math.max(2, Math.round(2e8 / (2 * m * k * n)));
  const fastest = (run: () => void): number => {
    for (let i = 0; i < 3; i++) run();
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const start = performance.now();
      for (let i = 0; i < calls; i++) run();
      best = Math.min(best, (performance.now() - start) / calls);
    }
    return best;
  };
  const x1 = fastest(stock);
  const s1 = fastest(simd);
  const x2 = fastest(stock);
  const s2 = fastest(simd);
  const [x, s] = [Math.min(x1, x2), Math.min(s1, s2)];
  console.log(`| [${m}, ${k}]·[${k}, ${n}] | ${x.toFixed(3)} | ${s.toFixed(3)} | ${(x / s).toFixed(2)}× |`);
  tf.dispose([a, b]);
}
