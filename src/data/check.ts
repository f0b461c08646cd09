/**
 * A scanning pass over a `DatasetLayout` (Node only): decodes every pair
 * once, with bounded concurrency and nothing kept, and reports counts,
 * image sizes, a label histogram and every bad file (`hemnet data check`).
 */
import { colorLookup, decodePair, PairError } from './pairDecode.js';
import type { DatasetLayout } from './pairs.js';

export interface LayoutProblem {
  id: string;
  file: string;
  problem: string;
}

export interface LayoutReport {
  name: string;
  split: string;
  pairs: number;
  decoded: number;
  /** 'HxW' → number of images of that size. */
  sizes: Map<string, number>;
  /** Pixels per class index (the ignore label at index numClasses). */
  pixelsPerClass: number[];
  /** Images in which each class occurs. */
  imagesPerClass: number[];
  problems: LayoutProblem[];
}

/** Decodes every pair of `layout` and reports what it found. */
export async function checkLayout(layout: DatasetLayout, options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<LayoutReport> {
  const concurrency = options.concurrency ?? 4;
  const lookup = colorLookup(layout.mask, layout.ignoreLabel);
  const report: LayoutReport = {
    name: layout.name,
    split: layout.split,
    pairs: layout.pairs.length,
    decoded: 0,
    sizes: new Map(),
    pixelsPerClass: new Array<number>(layout.numClasses + 1).fill(0),
    imagesPerClass: new Array<number>(layout.numClasses + 1).fill(0),
    problems: [],
  };
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < layout.pairs.length) {
      const pair = layout.pairs[next++];
      if (pair === undefined) break;
      try {
        const item = await decodePair(layout, pair, lookup);
        report.decoded++;
        const size = `${item.height}×${item.width}`;
        report.sizes.set(size, (report.sizes.get(size) ?? 0) + 1);
        const counts = new Array<number>(layout.numClasses + 1).fill(0);
        for (const v of item.label) counts[v === layout.ignoreLabel ? layout.numClasses : v] = (counts[v === layout.ignoreLabel ? layout.numClasses : v] as number) + 1;
        counts.forEach((c, k) => {
          report.pixelsPerClass[k] = (report.pixelsPerClass[k] as number) + c;
          if (c > 0) report.imagesPerClass[k] = (report.imagesPerClass[k] as number) + 1;
        });
      } catch (error) {
        if (error instanceof PairError) report.problems.push({ id: error.id, file: error.file, problem: error.problem });
        else report.problems.push({ id: pair.id, file: pair.imagePath, problem: (error as Error).message });
      }
      options.onProgress?.(++done, layout.pairs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  report.problems.sort((a, b) => a.id.localeCompare(b.id));
  return report;
}
