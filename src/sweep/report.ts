/**
 * Node only: `hemnet sweep report` — reads a sweep folder's finished runs
 * and writes report.md, report.json, report.csv and figures (SVG + PNG).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSvgPng } from '../plots/png.js';
import { readFinishedRuns } from './runner.js';
import type { SweepComparison } from './spec.js';
import { buildReport, reportCsv, reportFigures, reportMarkdown, type SweepReport } from './summary.js';

export async function writeSweepReport(sweepDir: string, outDir: string, extraCompare: SweepComparison[] = []): Promise<{ report: SweepReport; files: string[] }> {
  const { spec, summaries } = await readFinishedRuns(sweepDir);
  const report = buildReport(spec, summaries, extraCompare);
  try {
    await mkdir(join(outDir, 'figures'), { recursive: true });
  } catch (error) {
    throw new Error(`hemnet sweep report: cannot write the report folder '${outDir}': ${(error as Error).message}`);
  }
  const files = [join(outDir, 'report.md'), join(outDir, 'report.json'), join(outDir, 'report.csv')];
  await writeFile(files[0] as string, reportMarkdown(report));
  await writeFile(files[1] as string, `${JSON.stringify({ ...report, runsDetail: summaries.map(({ losses: _losses, ...rest }) => rest) }, null, 2)}\n`);
  await writeFile(files[2] as string, reportCsv(report, summaries, spec));
  for (const figure of reportFigures(report, summaries, spec)) {
    const svgPath = join(outDir, 'figures', `${figure.name}.svg`);
    await writeFile(svgPath, figure.svg);
    await writeSvgPng(join(outDir, 'figures', `${figure.name}.png`), figure.svg);
    files.push(svgPath, svgPath.replace(/\.svg$/, '.png'));
  }
  return { report, files };
}
