/**
 * The deep-MLP comparison of docs/gradnets-results.md ("ReLU with the best
 * initialisation we could give it"): GReLU (orthogonal ×1, τ = half the run)
 * against ReLU (orthogonal ×√2), 18 epochs, 128 (or `--units N`) units, lr 3e-4, per depth:
 * test accuracy per seed, how many runs trained (left chance), Fisher's
 * exact test on those counts, and the paired difference by seed with its
 * 95 % CI.
 *
 *   npx tsx experiments/gradnets/deepReport.ts [--units 128|512]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fisherExact, summarize } from '../../src/sweep/stats.js';
import { RESULTS_DIR, formatAccuracy, isMain, parseFlags, printTable } from './common.js';
import type { DeepMlpResults, DeepMlpRun } from './deepMlp.js';

/**
 * A run "trained" when its test accuracy is above this: every run that never
 * left the loss ln 10 predicts one class, 11.70 % of the 2000 test images.
 */
export const TRAINED_ABOVE = 0.15;

export interface ArmComparison {
  depth: number;
  /** Accuracies by seed of each arm. */
  a: Map<number, number>;
  b: Map<number, number>;
  trainedA: number;
  trainedB: number;
  fisherP: number;
  /** b − a over the seeds both have, in points. */
  paired: ReturnType<typeof summarize>;
}

/** Arm a against arm b at `depth`. */
export function compareArms(a: readonly DeepMlpRun[], b: readonly DeepMlpRun[], depth: number): ArmComparison {
  const bySeed = (runs: readonly DeepMlpRun[]) => new Map(runs.filter((r) => r.depth === depth).map((r) => [r.seed, r.result.testAccuracy]));
  const accA = bySeed(a);
  const accB = bySeed(b);
  const trained = (m: Map<number, number>) => [...m.values()].filter((v) => v > TRAINED_ABOVE).length;
  const trainedA = trained(accA);
  const trainedB = trained(accB);
  const fisherP = fisherExact(trainedA, accA.size - trainedA, trainedB, accB.size - trainedB);
  const shared = [...accA.keys()].filter((s) => accB.has(s)).sort((x, y) => x - y);
  const paired = summarize(shared.map((s) => 100 * ((accB.get(s) as number) - (accA.get(s) as number))));
  return { depth, a: accA, b: accB, trainedA, trainedB, fisherP, paired };
}

function read(name: string): DeepMlpResults | null {
  const path = join(RESULTS_DIR, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DeepMlpResults) : null;
}

function main(): void {
  const units = parseFlags(process.argv.slice(2)).units ?? 128;
  const grelu = read(`deepMlp-depth100-200-epochs18-lr0.0003-tau0.5-units${units}`);
  const relu = read(`deepMlp-gain1.4142-epochs18-lr0.0003-units${units}`);
  if (grelu === null || relu === null) throw new Error(`deepReport: no ${units}-unit results yet; run the two commands of docs/gradnets-results.md (with --units ${units}) first`);
  const perSeed = (m: Map<number, number>) => [...m.entries()].sort(([x], [y]) => x - y).map(([, v]) => (100 * v).toFixed(2)).join(', ');
  const rows = [100, 200].map((depth) => compareArms(grelu.runs, relu.runs, depth)).map((c) => [
    String(c.depth),
    `${formatAccuracy([...c.a.values()])} (${perSeed(c.a)})`,
    `${c.trainedA} of ${c.a.size}`,
    `${formatAccuracy([...c.b.values()])} (${perSeed(c.b)})`,
    `${c.trainedB} of ${c.b.size}`,
    c.fisherP.toPrecision(3),
    `${c.paired.mean >= 0 ? '+' : ''}${c.paired.mean.toFixed(2)} (n ${c.paired.n})`,
    c.paired.ci95 === null ? '–' : `[${c.paired.ci95[0].toFixed(2)}, ${c.paired.ci95[1].toFixed(2)}]`,
  ]);
  printTable(
    ['depth', 'GReLU, orthogonal ×1, τ = half: test acc %', `trained (> ${100 * TRAINED_ABOVE} %)`, 'ReLU, orthogonal ×√2: test acc %', 'trained', 'Fisher p (trained counts)', 'ReLU − GReLU (points)', '95 % CI'],
    rows,
  );
}

if (isMain(import.meta.url)) main();
