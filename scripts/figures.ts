/**
 * The paper's Fig. 3a and 3b on our implementation, drawn to docs/figures/:
 * - elbo.png: mean ELBO per iteration for several η (MNIST digits as points, rbf kernel);
 * - gradient-flow.png: share of ∂E/∂x that reaches x through each iteration's N-step
 *   (gradientFlow), with Eq. 18's prediction η(1 − η)^(T−t) normalised.
 *
 *   npx tsx scripts/figures.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { gradientFlow } from '../src/em/unroll.js';
import { barChart, lineChart } from '../src/plots/svg.js';
import { writeSvgPng } from '../src/plots/png.js';
import { runElboDemo } from '../src/cli/elbo.js';

await setBackend('wasm');
mkdirSync('docs/figures', { recursive: true });
const stepSizes = [0.2, 0.5, 0.8, 1];

const elbo = runElboDemo({ points: 1000, batch: 2, bases: 16, iterations: 8, stepSizes, kernel: 'rbf', temperature: 4, seed: 1 });
const elboSvg = lineChart({
  title: 'ELBO per HEM iteration (MNIST digits, K = 16, rbf kernel, σ² = 4)',
  xLabel: 'iteration t',
  yLabel: 'mean ELBO',
  series: elbo.elbo.map((curve, i) => ({ name: `η = ${stepSizes[i]}`, x: curve.map((_, t) => t), y: curve })),
});
writeFileSync('docs/figures/elbo.svg', elboSvg);
await writeSvgPng('docs/figures/elbo.png', elboSvg, 144);

const T = 4;
const shares = tf.tidy(() => {
  const x = tf.randomNormal([2, 256, 64], 0, 1, 'float32', 1) as tf.Tensor3D;
  const mu0 = tf.randomNormal([16, 64], 0, 1, 'float32', 2) as tf.Tensor2D;
  const upstream = tf.randomNormal([2, 256, 64], 0, 1, 'float32', 3);
  return stepSizes.slice(0, 3).map((stepSize) => {
    const report = gradientFlow(x, mu0, (r) => tf.sum(tf.mul(r.reconstruction, upstream)), { stepSize, iterations: T });
    const predicted = Array.from({ length: T }, (_, t) => stepSize * (1 - stepSize) ** (T - (t + 1)));
    const total = predicted.reduce((a, b) => a + b, 0);
    return { stepSize, measured: report.nstepShare, predicted: predicted.map((p) => p / total), estep: report.estep, nstep: report.nstep };
  });
});
const flowSvg = barChart({
  title: `N-step share of ∂E/∂x per iteration, T = ${T}`,
  xLabel: 'iteration t',
  yLabel: 'share of N-step gradient',
  categories: Array.from({ length: T }, (_, t) => `t = ${t + 1}`),
  series: shares.flatMap((s) => [
    { name: `η = ${s.stepSize} measured`, values: s.measured },
    { name: `η = ${s.stepSize} Eq. 18`, values: s.predicted },
  ]),
});
writeFileSync('docs/figures/gradient-flow.svg', flowSvg);
await writeSvgPng('docs/figures/gradient-flow.png', flowSvg, 144);
writeFileSync('docs/figures/figures.json', `${JSON.stringify({ elbo, gradientFlow: shares }, null, 2)}\n`);
for (const s of shares) {
  console.log(`η ${s.stepSize}: N-step share measured [${s.measured.map((v) => v.toFixed(3)).join(', ')}], Eq. 18 [${s.predicted.map((v) => v.toFixed(3)).join(', ')}]; mean |E-step grad| [${s.estep.map((v) => v.toExponential(1)).join(', ')}]`);
}
