import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { FLOAT32_MIN_NORMAL } from './denormals.js';
import { simdAdam, simdAdamModule } from './adamSimd.js';

/** The JavaScript reference (tfjs's update, every operation rounded to float32), then magnitudes below `flushBelow` stored as +0. */
function reference(w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, p: number[], flushBelow: number): [Float32Array, Float32Array, Float32Array] {
  const f = Math.fround;
  const flush = (x: number): number => (Math.abs(x) < flushBelow ? 0 : x);
  const [b1, ob1, b2, ob2, c1, c2, eps, nlr] = p as [number, number, number, number, number, number, number, number];
  const wo = new Float32Array(w.length);
  const mo = new Float32Array(w.length);
  const vo = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const gv = g[i] as number;
    const m1 = f(f((m[i] as number) * b1) + f(gv * ob1));
    const v1 = f(f((v[i] as number) * b2) + f(f(gv * gv) * ob2));
    const denom = f(f(Math.sqrt(f(v1 / c2))) + eps);
    wo[i] = flush(f(f(f(f(m1 / c1) / denom) * nlr) + (w[i] as number)));
    mo[i] = flush(m1);
    vo[i] = flush(v1);
  }
  return [wo, mo, vo];
}

describe('fused Adam in WebAssembly SIMD (adamSimd.ts)', () => {
  for (const [shared, flushBelow] of [[false, 0], [true, 0], [false, FLOAT32_MIN_NORMAL], [true, FLOAT32_MIN_NORMAL]] as const) {
    it(`assembles a valid module, and equals the float32 JavaScript loop bit for bit (m, v in place too) on a ${shared ? 'shared (threaded wasm)' : 'plain'} memory, ${flushBelow > 0 ? 'subnormal results flushed to +0' : 'subnormals kept'}`, () => {
      assert.ok(WebAssembly.validate(simdAdamModule(shared)), 'the module validates');
      const memory = shared ? new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true }) : new WebAssembly.Memory({ initial: 1 });
      assert.equal(memory.buffer instanceof SharedArrayBuffer, shared);
      const adam = simdAdam(memory);
      assert.ok(adam !== null, 'Node 20 runs WebAssembly SIMD (and threads, for the shared memory)');
      const n = 1024;
      const heap = new Float32Array(memory.buffer);
      const [w, m, v, g, wo] = [0, 1, 2, 3, 4].map((k) => heap.subarray(k * n, (k + 1) * n)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      for (let i = 0; i < n; i++) {
        w[i] = rand();
        m[i] = rand() * 0.1;
        v[i] = Math.abs(rand()) * 0.01 + (i % 97 === 0 ? 1e-40 : 0); // a few denormal-sized moments
        g[i] = rand() * (i % 13 === 0 ? 1e-20 : 1);
        if (i % 31 === 0) {
          // A weight decayed into the subnormal range with no gradient (nor momentum) left.
          w[i] = 3e-39;
          m[i] = 0;
          g[i] = 0;
        }
        if (i % 37 === 1) {
          // Moments decaying into the subnormal range.
          m[i] = 1.2e-38;
          v[i] = 1.1e-38;
          g[i] = 0;
        }
      }
      const params = Array.from(new Float32Array([0.9, 0.1, 0.999, 0.001, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 1e-7, -2e-3]));
      const [ew, em, ev] = reference(w, m, v, g, params, flushBelow);
      const subnormals = (a: Float32Array): number => a.filter((x) => x !== 0 && Math.abs(x) < FLOAT32_MIN_NORMAL).length;
      const kept = reference(w, m, v, g, params, 0);
      assert.ok(subnormals(kept[0]) > 0 && subnormals(kept[1]) > 0 && subnormals(kept[2]) > 0, 'the inputs make subnormal w, m and v');
      // m and v updated in place (mo = m, vo = v), w to a fresh region.
      adam(n, 0, 4 * n, 8 * n, 12 * n, 16 * n, 4 * n, 8 * n, ...(params as [number, number, number, number, number, number, number, number]), flushBelow);
      assert.deepEqual(Array.from(wo), Array.from(ew));
      assert.deepEqual(Array.from(m), Array.from(em));
      assert.deepEqual(Array.from(v), Array.from(ev));
      if (flushBelow > 0) assert.equal(subnormals(wo) + subnormals(m) + subnormals(v), 0);
      else assert.deepEqual(Array.from(wo), Array.from(kept[0]));
    });
  }

  it('binds to the wasm backend memory (the training path uses it)', async () => {
    await setBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { asm?: { memory?: WebAssembly.Memory } } }).wasm.asm?.memory;
    assert.ok(memory instanceof WebAssembly.Memory);
    assert.ok(simdAdam(memory) !== null);
  });
});
