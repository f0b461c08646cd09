import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { simdGemm } from './batchMatMulSimd.js';
import { SIMD_MAX_ROWS } from './batchMatMul.js';
import { withWasmFusedMultiplyAdd } from './fusedMultiplyAdd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend } from './wasmHeap.js';
import { assertClose, randn } from '../../test/helpers.js';

/** out[p, i, j] = Σ_k A[p, i, k] · B[p, k, j] in float64, with A, B read through the transpose flags. */
function reference(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): number[] {
  const [batch, ar, ac] = [a.shape.slice(0, -2).reduce((x, y) => x * y, 1), a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [br, bc] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const av = a.dataSync();
  const bv = b.dataSync();
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const out: number[] = [];
  for (let p = 0; p < batch; p++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const x = av[p * ar * ac + (transposeA ? q * ac + i : i * ac + q)] as number;
          const y = bv[p * br * bc + (transposeB ? j * bc + q : q * bc + j)] as number;
          s += x * y;
        }
        out.push(s);
      }
  return out;
}

/** tf.matMul against the float64 product for every flag pair of each [lead dims, m, k, n]. */
function checkProducts(cases: [number[], number, number, number][], seed: number): void {
  for (const [lead, m, k, n] of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const a = randn([...lead, ...(transposeA ? [k, m] : [m, k])], seed + m);
        const b = randn([...lead, ...(transposeB ? [n, k] : [k, n])], seed + 1 + n);
        const product = tf.matMul(a, b, transposeA, transposeB);
        assert.deepEqual(product.shape, [...lead, m, n]);
        assertClose(product, reference(a, b, transposeA, transposeB), 1e-5, 1e-4, `[${lead}] ${m}x${k}x${n} tA=${transposeA} tB=${transposeB}`);
        tf.dispose([a, b, product]);
      }
    }
  }
}

describe('BatchMatMul with transpose flags on wasm', () => {
  it('equals the float64 product for every flag pair, rank 2, rank 3 with batch 1, batches split per matrix, and batches left to the stock kernel (20 matrices; matrices over 2¹⁶ floats), without leaks', async () => {
    await setBackend('wasm');
    const before = tf.memory().numTensors;
    checkProducts([[[], 37, 45, 70], [[1], 9, 64, 33], [[3], 5, 7, 6], [[20], 4, 5, 6], [[2], 300, 300, 2]], 1);
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });

  it('runs batched products with a column count divisible by 4 in the SIMD block kernels (every edge block, rank 4, large and HEM-sized matrices), equal to the float64 product, without leaks', async () => {
    await setBackend('wasm');
    assert.notEqual(simdGemm(memoryOf(asWasmBackend(tf.backend(), 'test'))), null, 'WebAssembly SIMD kernels did not instantiate on the wasm backend');
    const before = tf.memory().numTensors;
    // m × k × n: 13 × 9 × 12 uses the 4×8, 4×4, 1×8 and 1×4 blocks; 3 × 5 × 4 only the 1×4 edge; 64 × 64 × 16 and 16 × 64 × 64 the HEM head's.
    const cases: [number[], number, number, number][] = [[[4], 13, 9, 12], [[2, 3], 3, 5, 4], [[8], 64, 64, 16], [[8], 16, 64, 64], [[2], 260, 300, 72], [[3], 8, 1, 8]];
    checkProducts(cases, 3);
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });

  it('single products in the SIMD block kernels (≤ 16 rows, or any size without transposeA under FMA; column count divisible by 4) and outside those rules equal the float64 product for every flag pair, with FMA on and off, without leaks', async () => {
    await setBackend('wasm');
    assert.equal(SIMD_MAX_ROWS, 16);
    const before = tf.memory().numTensors;
    // [8, 64]ᵀ-shaped like the upsampling gradient (smaller n), 1 row, 16 rows; 17 and 70 rows take the
    // SIMD kernels only with FMA (and no transposeA), n = 6 never.
    const cases: [number[], number, number, number][] = [[[], 8, 64, 704], [[], 1, 9, 12], [[], 16, 33, 20], [[1], 5, 7, 8], [[], 17, 20, 12], [[], 70, 40, 36], [[], 8, 20, 6]];
    for (const fma of [true, false]) withWasmFusedMultiplyAdd(fma, () => checkProducts(cases, 5));
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });
});
