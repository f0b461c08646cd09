/**
 * Node only: `hemnet sweep compare A_DIR B_DIR` — two sweep folders of the
 * same grid (e.g. a sweep re-run after a fix, or on another machine) side by
 * side: for every cell both have, mIoU over the seeds finished in both, and
 * the paired difference B − A by seed with its 95 % confidence interval.
 * Also lists where the two sweeps' base configs differ, so that what the
 * comparison measures is in front of the reader (nothing listed: the
 * difference is the code, the build or the machine).
 */
import { readFinishedRuns } from './runner.js';
import { pairedDifference, summarize, type Summary } from './stats.js';

export interface CellComparison {
  cell: string;
  /** Seeds finished in both sweeps. */
  seeds: number[];
  a: Summary;
  b: Summary;
  /** mIoU of B − A per common seed. */
  difference: Summary;
}

export interface SweepsComparison {
  a: { name: string; dir: string };
  b: { name: string; dir: string };
  /** Dotted config keys whose value differs between the two base configs, with both values (JSON). */
  configDifferences: { key: string; a: string; b: string }[];
  cells: CellComparison[];
  /** Cells in only one of the two sweeps, or with no seed finished in both. */
  unmatched: string[];
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out.set(prefix, JSON.stringify(value));
  }
}

/** Where two (nested) configs differ, by dotted key; a key one of them lacks shows as 'absent'. */
export function configDifferences(a: unknown, b: unknown): { key: string; a: string; b: string }[] {
  const left = new Map<string, string>();
  const right = new Map<string, string>();
  flatten(a, '', left);
  flatten(b, '', right);
  const keys = [...new Set([...left.keys(), ...right.keys()])].sort();
  return keys.filter((k) => left.get(k) !== right.get(k)).map((k) => ({ key: k, a: left.get(k) ?? 'absent', b: right.get(k) ?? 'absent' }));
}

async function finished(dir: string): Promise<{ name: string; base: unknown; byCell: Map<string, Map<number, number>> }> {
  const { spec, summaries } = await readFinishedRuns(dir);
  const byCell = new Map<string, Map<number, number>>();
  for (const summary of summaries) {
    const seeds = byCell.get(summary.cell) ?? new Map<number, number>();
    seeds.set(summary.seed, summary.meanIoU);
    byCell.set(summary.cell, seeds);
  }
  return { name: spec.name, base: spec.base, byCell };
}

/** Compares the finished runs of two sweep folders cell by cell, paired by seed. */
export async function compareSweeps(aDir: string, bDir: string): Promise<SweepsComparison> {
  const [a, b] = await Promise.all([finished(aDir), finished(bDir)]);
  const cells: CellComparison[] = [];
  const unmatched: string[] = [];
  for (const cell of [...new Set([...a.byCell.keys(), ...b.byCell.keys()])]) {
    const left = a.byCell.get(cell);
    const right = b.byCell.get(cell);
    const seeds = left === undefined || right === undefined ? [] : [...left.keys()].filter((s) => right.has(s)).sort((x, y) => x - y);
    if (seeds.length === 0) {
      unmatched.push(cell);
      continue;
    }
    const av = seeds.map((s) => left?.get(s) as number);
    const bv = seeds.map((s) => right?.get(s) as number);
    cells.push({ cell, seeds, a: summarize(av), b: summarize(bv), difference: pairedDifference(av, bv) });
  }
  return { a: { name: a.name, dir: aDir }, b: { name: b.name, dir: bDir }, configDifferences: configDifferences(a.base, b.base), cells, unmatched };
}

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(2) : '—');
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(2)}` : '—');

/** The comparison as markdown: what differs in the configs, then one row per cell. */
export function compareSweepsMarkdown(c: SweepsComparison): string {
  const lines = [`# ${c.b.name} − ${c.a.name}`, '', `A: ${c.a.dir}`, `B: ${c.b.dir}`, ''];
  if (c.configDifferences.length === 0) {
    lines.push('The base configs are the same: a difference is the code, the build or the machine.', '');
  } else {
    lines.push('Base configs differ in:', '', '| key | A | B |', '|---|---|---|');
    for (const d of c.configDifferences) lines.push(`| ${d.key} | ${d.a} | ${d.b} |`);
    lines.push('');
  }
  lines.push('mIoU % over the seeds finished in both; B − A paired by seed, 95 % CI (t).', '');
  lines.push('| cell | seeds | A | B | B − A | 95 % CI |', '|---|---|---:|---:|---:|---|');
  for (const cell of c.cells) {
    const d = cell.difference;
    lines.push(`| ${cell.cell} | ${cell.seeds.join(', ')} | ${pct(cell.a.mean)} ± ${pct(cell.a.std)} | ${pct(cell.b.mean)} ± ${pct(cell.b.std)} | ${signed(d.mean)} | ${d.ci95 === null ? '—' : `[${signed(d.ci95[0])}, ${signed(d.ci95[1])}]`} |`);
  }
  if (c.unmatched.length > 0) lines.push('', `Not compared (in one sweep only, or no seed finished in both): ${c.unmatched.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
