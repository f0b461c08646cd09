/**
 * Markdown tables of the conv-net results (docs/gradnets-results.md §5):
 * mean ± std per variant and the paired difference from a baseline over the
 * seeds both have, with its 95 % confidence interval (t).
 *
 *   npx tsx experiments/gradnets/convReport.ts [--large]   (--large: convNet-large-<dataset>-tau<τ>.json, one per --tau;
 *   the gradual variants at every τ present are tabled against the same baselines)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarize } from '../../src/sweep/stats.js';
import { RESULTS_DIR, formatAccuracy, isMain, meanStd, printTable } from './common.js';
import { GRADUAL, type ConvNetResults, type ConvRun, type ConvVariant } from './convNet.js';

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

/** The paired Δ as 'mean ± std (n N)' and its 95 % CI, '–' where there is none. */
function formatPaired(d: ReturnType<typeof pairedDifference> | null): [string, string] {
  if (d === null || d.n === 0) return ['–', '–'];
  return [`${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)} ± ${d.std.toFixed(2)} (n ${d.n})`, d.ci95 === null ? '–' : `[${d.ci95[0].toFixed(2)}, ${d.ci95[1].toFixed(2)}]`];
}

/** Results files of one dataset: the default-size file, or at `--large` one file per `--tau` (convNet-large-<dataset>-tau<τ>.json). */
export function resultFiles(dataset: string, large: boolean, names: readonly string[]): string[] {
  if (!large) return names.filter((n) => n === `convNet-${dataset}.json`);
  const pattern = new RegExp(`^convNet-large-${dataset}-tau([0-9.]+)\\.json$`);
  return names.filter((n) => pattern.test(n)).sort((a, b) => Number(pattern.exec(a)?.[1]) - Number(pattern.exec(b)?.[1]));
}

/**
 * One row per gradual variant and τ present in `runs` (main runs of several
 * files): its test accuracy and the paired Δ from its baseline. The static
 * baselines do not depend on τ, so each τ pairs with the same baseline runs.
 * This is a sensitivity table on the test set, not a choice of τ.
 */
export function tauSensitivity(runs: ConvRun[]): string[][] {
  const cells = new Map<string, ConvRun[]>();
  for (const r of runs) {
    if (r.phase !== 'main' || !GRADUAL.has(r.variant) || r.tauFraction === null) continue;
    const key = `${r.variant}\u0000${r.tauFraction}`;
    const cell = cells.get(key);
    if (cell === undefined) cells.set(key, [r]);
    else cell.push(r);
  }
  return [...cells.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, cell]) => {
      const { variant, tauFraction } = cell[0] as ConvRun;
      const base = BASELINE[variant] as ConvVariant;
      const pool = [...cell, ...runs.filter((r) => r.phase === 'main' && r.variant === base)];
      const d = pairedDifference(pool, variant, base);
      const sorted = [...cell].sort((x, y) => x.seed - y.seed);
      return [
        variant,
        String(tauFraction),
        formatAccuracy(sorted.map((r) => r.result.testAccuracy)),
        sorted.map((r) => (100 * r.result.testAccuracy).toFixed(1)).join(', '),
        base,
        ...formatPaired(d),
      ];
    });
}

function report(large: boolean): void {
  const names = readdirSync(RESULTS_DIR);
  for (const dataset of ['mnist', 'fashion']) {
    const files = resultFiles(dataset, large, names).map((name) => ({ name, results: JSON.parse(readFileSync(join(RESULTS_DIR, name), 'utf8')) as ConvNetResults }));
    if (files.length === 0) continue;
    // The main table: the file with the most main runs (every variant at one τ).
    const count = (r: ConvNetResults) => r.runs.filter((x) => x.phase === 'main').length;
    const primary = files.reduce((best, f) => (count(f.results) > count(best.results) ? f : best));
    const results = primary.results;
    const main = results.runs.filter((r) => r.phase === 'main');
    console.log(`\n${dataset} (${primary.name}: τ fraction ${results.chosenTauFraction}, backend ${results.backend})`);
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
          ...formatPaired(d),
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
    if (files.length > 1) {
      console.log(`\n${dataset}: gradual variants at each τ (${files.map((f) => f.name).join(', ')}); test accuracy, not a choice of τ`);
      const all = files.flatMap((f) => f.results.runs);
      printTable(['variant', 'τ fraction', 'test acc %', 'per seed', 'Δ vs', 'paired Δ (points)', '95 % CI'], tauSensitivity(all));
    }
  }
}

if (isMain(import.meta.url)) report(process.argv.includes('--large'));
