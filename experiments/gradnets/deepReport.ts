/**
 * The deep-MLP comparison of docs/gradnets-results.md ("ReLU with the best
 * initialisation we could give it"): GReLU (orthogonal ×1, τ = half the run)
 * against ReLU (orthogonal ×√2), 18 epochs, 128 (or `--units N`) units, lr 3e-4 (or `--lr LR`), per depth:
 * test accuracy per seed, how many runs trained (left chance), Fisher's
 * exact test on those counts, and the paired difference by seed with its
 * 95 % CI.
 *
 *   npx tsx experiments/gradnets/deepReport.ts [--units 128|512] [--lr 1e-4]
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
  const flags = parseFlags(process.argv.slice(2));
  const units = flags.units ?? 128;
  // The results' file names carry the lr as deepMlp.ts prints it (String(Number(...)): 3e-4 → 0.0003).
  const lr = flags.learningRate ?? 3e-4;
  const grelu = read(`deepMlp-depth100-200-epochs18-lr${lr}-tau0.5-units${units}`);
  const relu = read(`deepMlp-gain1.4142-epochs18-lr${lr}-units${units}`);
  if (grelu === null || relu === null) {
    throw new Error(`deepReport: no results at ${units} units and lr ${lr} yet; run the two commands of docs/gradnets-results.md (with --units ${units} --lr ${lr}) first`);
  }
  const perSeed = (m: Map<number, number>) => [...m.entries()].sort(([x], [y]) => x - y).map(([, v]) => (100 * v).toFixed(2)).join(', ');
  const arm = (m: Map<number, number>) => (m.size === 0 ? 'not run yet' : `${formatAccuracy([...m.values()])} (${perSeed(m)})`);
  const comparisons = [100, 200].map((depth) => compareArms(grelu.runs, relu.runs, depth));
  for (const c of comparisons) if (c.a.size === 0 && c.b.size === 0) console.log(`depth ${c.depth}: no finished runs in either arm yet`);
  const rows = comparisons.filter((c) => c.a.size > 0 || c.b.size > 0).map((c) => [
    String(c.depth),
    arm(c.a),
    `${c.trainedA} of ${c.a.size}`,
    arm(c.b),
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
