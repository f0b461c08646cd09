import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandSpec, Output } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { checkLayout, type LayoutReport } from '../../data/check.js';
import { vocLayout } from '../../data/vocLayout.js';

function splitsOf(root: string, requested: string | undefined): string[] {
  let isFolder = false;
  try {
    isFolder = statSync(root).isDirectory();
  } catch {
    throw new Error(`hemnet data check: folder '${root}' does not exist`);
  }
  if (!isFolder) throw new Error(`hemnet data check: '${root}' is a file, not a folder`);
  if (requested !== undefined) return requested.split(',').map((s) => s.trim()).filter(Boolean);
  const folder = join(root, 'ImageSets', 'Segmentation');
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`hemnet data check: folder '${folder}' ${code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`}`);
  }
  const splits = entries.filter((f) => f.endsWith('.txt')).map((f) => f.slice(0, -4)).sort();
  if (splits.length === 0) throw new Error(`hemnet data check: folder '${folder}' holds no split lists (*.txt)`);
  return splits;
}

function printReport(report: LayoutReport, classNames: readonly string[], io: Output): void {
  const sizes = [...report.sizes.entries()].sort((a, b) => b[1] - a[1]);
  const pixels = report.pixelsPerClass.reduce((a, b) => a + b, 0);
  io.out(`split ${report.split}: ${report.pairs} ids, ${report.decoded} decoded, ${report.problems.length} bad\n`);
  if (sizes.length > 0) {
    io.out(`  image sizes (h×w): ${sizes.slice(0, 5).map(([s, n]) => `${s} ×${n}`).join(', ')}${sizes.length > 5 ? `, … (${sizes.length} distinct)` : ''}\n`);
    const rows = report.pixelsPerClass
      .map((count, k) => ({ name: k < classNames.length ? (classNames[k] as string) : 'ignore', count, images: report.imagesPerClass[k] as number }))
      .filter((r) => r.count > 0)
      .map((r) => `${r.name} ${((100 * r.count) / pixels).toFixed(2)}% (${r.images} img)`);
    io.out(`  labels (pixel share, images): ${rows.join(', ')}\n`);
  }
}

export const dataSpec: CommandSpec = {
  name: 'data',
  summary: 'Check a dataset folder: decode every image and mask, print counts, sizes and a label histogram, list every bad file (exit 1 when any)',
  synopsis: 'check --voc-root DIR [--split LIST] [--num-classes N] [--mask-format color|index]',
  description: 'Scans every split list of ImageSets/Segmentation (or --split), decoding each pair once without keeping it.',
  configFlags: false,
  maxPositionals: 1,
  options: {
    'voc-root': { type: 'string', value: 'DIR', help: 'PASCAL-VOC-format folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)' },
    split: { type: 'string', value: 'LIST', help: 'comma-separated split names (default: every list in ImageSets/Segmentation)' },
    'num-classes': { type: 'string', value: 'N', help: 'classes including background (default 21)' },
    'mask-format': { type: 'string', value: 'F', help: "'color' (VOC colour map, default) or 'index' (grey class indices)" },
  },
  run: async ({ values, positionals, io }) => {
    if (positionals[0] !== 'check') throw new Error(`hemnet data: expected the subcommand 'check', received ${positionals[0] === undefined ? 'none' : `'${positionals[0]}'`}`);
    const root = requireOption('data check', '--voc-root DIR', values['voc-root'], 'the VOC-format folder to scan');
    const numClasses = numberOption('num-classes', values['num-classes'], 21);
    const maskFormat = stringOption(values['mask-format']) ?? 'color';
    if (maskFormat !== 'color' && maskFormat !== 'index') throw new Error(`hemnet data check: '--mask-format' must be 'color' or 'index', received '${maskFormat}'`);
    const splits = splitsOf(root, stringOption(values.split));
    io.out(`voc folder ${root}: splits ${splits.join(', ')}\n`);
    let bad = 0;
    for (const split of splits) {
      const badIds: string[] = [];
      let layout;
      try {
        layout = vocLayout(root, { split, numClasses, maskFormat, onBadId: (message) => badIds.push(message) });
      } catch (error) {
        bad += 1 + badIds.length;
        for (const message of badIds) io.out(`  bad: ${message}\n`);
        io.out(`  bad: ${(error as Error).message}\n`);
        continue;
      }
      const report = await checkLayout(layout);
      printReport(report, layout.classNames, io);
      for (const message of badIds) io.out(`  bad: ${message}\n`);
      for (const p of report.problems) io.out(`  bad: id '${p.id}': ${p.problem} ('${p.file}')\n`);
      bad += badIds.length + report.problems.length;
    }
    io.out(bad === 0 ? 'no bad files\n' : `${bad} bad file(s) or list entries\n`);
    if (bad > 0) io.err(`hemnet data check: ${bad} problem(s) in '${root}' (listed above)\n`);
    return bad === 0 ? 0 : 1;
  },
};
