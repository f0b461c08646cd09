/**
 * Measures docs/results.md: the default run (`npm start`'s config) for the
 * hem, ema and fcn heads, over several seeds (model initialisation and sample
 * order; the dataset stays the same), and prints mean ± std of mIoU.
 *
 *   npx tsx scripts/results.ts [--seeds 0,1,2] [--heads hem,ema,fcn] [--out runs/results] [extra hemnet train flags...]
 *
 * Each run is `hemnet train --out <out>/<head>-<seed> --head <head> --model-seed <seed> --seed <seed> --overwrite`.
 * Results accumulate in <out>/results.json, so an interrupted sweep can be re-run for the missing cells.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../src/cli/main.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: { seeds: { type: 'string', default: '0,1,2' }, heads: { type: 'string', default: 'hem,ema,fcn' }, out: { type: 'string', default: 'runs/results' } },
});
const seeds = String(values.seeds).split(',').map(Number);
const heads = String(values.heads).split(',');
const outDir = String(values.out);
const extra = positionals;
mkdirSync(outDir, { recursive: true });
const resultsPath = join(outDir, 'results.json');
type Cell = { head: string; seed: number; meanIoU: number; pixelAccuracy: number; seconds: number };
const results: Cell[] = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Cell[]) : [];

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
for (const seed of seeds) {
  for (const head of heads) {
    if (results.some((r) => r.head === head && r.seed === seed)) continue;
    const run = join(outDir, `${head}-${seed}`);
    const started = performance.now();
    await main(['train', '--out', run, '--head', head, '--model-seed', String(seed), '--seed', String(seed), '--overwrite', ...extra], {
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
      progressStream: quiet,
    });
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as { meanIoU: number; pixelAccuracy: number };
    results.push({ head, seed, meanIoU: metrics.meanIoU, pixelAccuracy: metrics.pixelAccuracy, seconds: (performance.now() - started) / 1000 });
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${head} seed ${seed}: mIoU ${(100 * metrics.meanIoU).toFixed(2)}\n`);
  }
}

const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
};
process.stdout.write('\n| head | mIoU (%) | pixel accuracy (%) | seeds | minutes per run |\n|---|---|---|---|---|\n');
for (const head of heads) {
  const cells = results.filter((r) => r.head === head);
  if (cells.length === 0) continue;
  const minutes = cells.reduce((a, c) => a + c.seconds, 0) / cells.length / 60;
  process.stdout.write(`| ${head} | ${stats(cells.map((c) => c.meanIoU))} | ${stats(cells.map((c) => c.pixelAccuracy))} | ${cells.map((c) => c.seed).join(', ')} | ${minutes.toFixed(1)} |\n`);
}
