import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { gemmOnMemory, simdGemm } from './batchMatMulSimd.js';
import { fusedMultiplyAddAvailable, setWasmFusedMultiplyAdd, wasmFusedMultiplyAdd, withWasmFusedMultiplyAdd } from './fusedMultiplyAdd.js';
import { winogradConv2d, winogradFilters } from '../ops/winograd.js';
import { assertClose, randn } from '../../test/helpers.js';

/** Whether this CPU reports FMA3 (Linux /proc/cpuinfo; null elsewhere). */
function cpuHasFma(): boolean | null {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    return flags === undefined ? null : flags.split(/\s+/).includes('fma');
  } catch {
    return null;
  }
}

/** C = A·B on a fresh memory through the block kernels; A m × k, B k × n row-major. */
function product(a: number[], b: number[], m: number, k: number, n: number): Float32Array {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const kernels = simdGemm(memory);
  assert.notEqual(kernels, null, 'the SIMD block kernels did not instantiate');
  const f = new Float32Array(memory.buffer);
  const [aAt, bAt, cAt] = [0, m * k, m * k + k * n];
  f.set(a, aAt);
  f.set(b, bAt);
  gemmOnMemory(kernels!, 4 * aAt, 4 * k, 4, 4 * bAt, 4 * cAt, m, k, n);
  return f.slice(cAt, cAt + m * n);
}

describe('fused multiply-add in the SIMD block kernels', () => {
  it('is found where the CPU has FMA3 once setBackend has prepared the engine (Node 20: the V8 flag)', async () => {
    await setBackend('wasm');
    const fma = cpuHasFma();
    if (fma !== null && process.arch === 'x64') assert.equal(fusedMultiplyAddAvailable(), fma, `cpuinfo says fma=${fma}`);
    assert.equal(wasmFusedMultiplyAdd(), fusedMultiplyAddAvailable());
  });

  it('rounds once when fused and twice when not: 1·(−1) + a·a with a = 1 + 2⁻¹²', async () => {
    await setBackend('wasm');
    const a = 1 + 2 ** -12;
    // Row [1, a] of A times columns [−1, a]ᵀ of B (n = 4 identical columns).
    const run = (): Float32Array => product([1, a], [-1, -1, -1, -1, a, a, a, a], 1, 2, 4);
    const twoRoundings = 2 ** -11; // fround(a²) = 1 + 2⁻¹¹ drops the 2⁻²⁴
    const oneRounding = 2 ** -11 + 2 ** -24;
    const unfused = withWasmFusedMultiplyAdd(false, run);
    assert.deepEqual(Array.from(unfused), [twoRoundings, twoRoundings, twoRoundings, twoRoundings]);
    const fused = withWasmFusedMultiplyAdd(true, run);
    const expected = fusedMultiplyAddAvailable() ? oneRounding : twoRoundings;
    assert.deepEqual(Array.from(fused), [expected, expected, expected, expected]);
  });

  it('gives the float64 product to float32 accuracy in every block shape, fused or not', async () => {
    await setBackend('wasm');
    for (const [m, k, n] of [[9, 37, 20], [4, 1, 8], [13, 64, 4]] as const) {
      const a = Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.7));
      const b = Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.3));
      const reference: number[] = [];
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) reference.push(a.slice(i * k, i * k + k).reduce((s, x, q) => s + x * (b[q * n + j] as number), 0));
      for (const on of [false, true]) {
        const c = withWasmFusedMultiplyAdd(on, () => product(a, b, m, k, n));
        assertClose(Array.from(c), reference, 2e-5 * k, 0, `${m}×${k}×${n}, fused ${on}`);
      }
    }
  });

  it('leaves a Winograd convolution within rounding of the unfused one', async () => {
    await setBackend('wasm');
    const x = randn([2, 16, 16, 32], 3) as tf.Tensor4D;
    const w = randn([3, 3, 32, 32], 4, 0.1) as tf.Tensor4D;
    const direct = tf.conv2d(x, w, 1, 'same');
    const scale = direct.abs().max().dataSync()[0] as number;
    for (const tile of [2, 4] as const) {
      const filters = winogradFilters(w, tile);
      const fused = withWasmFusedMultiplyAdd(true, () => winogradConv2d(x, filters, null, false));
      const unfused = withWasmFusedMultiplyAdd(false, () => winogradConv2d(x, filters, null, false));
      assertClose(fused, direct, 3e-5 * scale, 0, `F(${tile}×${tile}), fused`);
      assertClose(unfused, direct, 3e-5 * scale, 0, `F(${tile}×${tile}), unfused`);
      tf.dispose([...filters, fused, unfused]);
    }
    tf.dispose([x, w, direct]);
  });

  it('rejects a setting that is not a boolean', () => {
    assert.throws(() => setWasmFusedMultiplyAdd('yes' as unknown as boolean), /expects a boolean/);
  });
});
