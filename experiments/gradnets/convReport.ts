/**
 * Markdown tables of the conv-net results (docs/gradnets-results.md §5):
 * mean ± std per variant and the paired difference from a baseline over the
 * seeds both have, with its 95 % confidence interval (t).
 *
 *   npx tsx experiments/gradnets/convReport.ts [--large]   (--large: convNet-large-*.json)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarize } from '../../src/sweep/stats.js';
import { RESULTS_DIR, formatAccuracy, meanStd, printTable } from './common.js';
import type { ConvNetResults, ConvRun, ConvVariant } from './convNet.js';

/** Each variant against the architecture it changes. */
const BASELINE: Partial<Record<ConvVariant, ConvVariant>> = {
  prelu: 'relu', grelu: 'relu', igrelu: 'relu', bn: 'relu', gbn: 'bn', nin: 'relu', gnin: 'nin', all: 'relu',
};

/** Mean ± std and 95 % CI (percentage points) of acc(variant) − acc(baseline) over the seeds both have. */
export function pairedDifference(runs: ConvRun[], variant: ConvVariant, baseline: ConvVariant): { mean: number; std: number; n: number; ci95: [number, number] | null } {
  const of = (v: ConvVariant) => new Map(runs.filter((r) => r.phase === 'main' && r.variant === v).map((r) => [r.seed, r.result.testAccuracy]));
  const a = of(variant);
  const b = of(baseline);
  const diffs = [...a.entries()].filter(([seed]) => b.has(seed)).map(([seed, acc]) => 100 * (acc - (b.get(seed) as number)));
  const { mean, std, n, ci95 } = summarize(diffs);
  return { mean, std, n, ci95 };
}

const large = process.argv.includes('--large');
for (const dataset of ['mnist', 'fashion']) {
  const path = join(RESULTS_DIR, `convNet-${large ? 'large-' : ''}${dataset}.json`);
  if (!existsSync(path)) continue;
  const results = JSON.parse(readFileSync(path, 'utf8')) as ConvNetResults;
  const main = results.runs.filter((r) => r.phase === 'main');
  console.log(`\n${dataset} (τ fraction ${results.chosenTauFraction}, backend ${results.backend})`);
  printTable(
    ['variant', 'test acc %', 'per seed', 'train acc %', 'Δ vs', 'paired Δ (points)', '95 % CI', 's/step'],
    results.config.variants.map((variant) => {
      const cell = main.filter((r) => r.variant === variant).sort((x, y) => x.seed - y.seed);
      const base = BASELINE[variant];
      const d = base === undefined ? null : pairedDifference(main, variant, base);
      if (cell.length === 0) return [variant, 'not run', '', '', base ?? '–', '–', '–', ''];
      return [
        variant,
        formatAccuracy(cell.map((r) => r.result.testAccuracy)),
        cell.map((r) => (100 * r.result.testAccuracy).toFixed(1)).join(', '),
        (100 * meanStd(cell.map((r) => r.trainAccuracy)).mean).toFixed(1),
        base ?? '–',
        d === null || d.n === 0 ? '–' : `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)} ± ${d.std.toFixed(2)} (n ${d.n})`,
        d?.ci95 == null ? '–' : `[${d.ci95[0].toFixed(2)}, ${d.ci95[1].toFixed(2)}]`,
        meanStd(cell.map((r) => r.result.secondsPerStep)).mean.toFixed(2),
      ];
    }),
  );
  if (results.sweep.length > 0) {
    printTable(
      ['τ fraction', 'val acc %', 'test acc %', 'n'],
      results.sweep.map((s) => [String(s.tauFraction), `${(100 * s.meanValAccuracy).toFixed(2)} ± ${(100 * s.stdValAccuracy).toFixed(2)}`, (100 * s.meanTestAccuracy).toFixed(2), String(s.n)]),
    );
  }
}
