/**
 * Where a training step of the default model spends its time on the native
 * backend: wall and CPU time per step, and the time inside each addon call
 * (grouped by function and geometry). Run: npm run bench:native-profile
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { loadNativeAddon } from '../src/backends/native/addon.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { segmentationCrossEntropy } from '../src/train/loss.js';
import { createOptimizer } from '../src/train/optimizer.js';
const load = loadNativeAddon(); if (!load.ok) throw new Error(load.reason);
const stats = new Map<string, { ms: number; n: number }>();
let on = false;
const addon = load.addon as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const k of Object.keys(addon)) {
  const orig = addon[k]!;
  addon[k] = (...args: unknown[]) => {
    const t0 = performance.now(); const r = orig(...args); const dt = performance.now() - t0;
    if (on) { const key = k + ' ' + args.filter((a) => typeof a === 'number' || a instanceof Int32Array).map((a) => a instanceof Int32Array ? `[${a.join(',')}]` : String(a)).join(' ').slice(0, 80);
      const e = stats.get(key) ?? { ms: 0, n: 0 }; e.ms += dt; e.n++; stats.set(key, e); }
    return r;
  };
}
await setBackend('native');
const { model, config } = buildSegmentationModel({ seed: 1 });
const [H, W] = config.inputSize;
const images = tf.randomNormal([8, H, W, config.inputChannels]);
const labels = tf.randomUniform([8, H, W], 0, config.numClasses, 'int32');
// hemnet's Adam (fused on native), as the training loop creates it.
const opt = createOptimizer('adam', 1e-3, 0.9);
const step = () => { const l = opt.minimize(() => segmentationCrossEntropy(model.apply(images, { training: true }) as tf.Tensor4D, labels as tf.Tensor3D, 255) as tf.Scalar, true); l!.dataSync(); l!.dispose(); };
step(); step(); step();
on = true; const cpu0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < 5; i++) step();
const wall = (performance.now() - t0) / 5; const cpu = process.cpuUsage(cpu0);
on = false;
let tot = 0; for (const e of stats.values()) tot += e.ms;
console.log('wall ms/step', wall.toFixed(1), 'cpu user ms/step', (cpu.user / 5000).toFixed(1), 'addon ms/step', (tot / 5).toFixed(1));
[...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30).forEach(([k, e]) => console.log((e.ms / 5).toFixed(2).padStart(8), String(e.n / 5).padStart(5), k));
