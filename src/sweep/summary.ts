/**
 * Sweep reports (pure): per-cell statistics over seeds, paired comparisons,
 * markdown / CSV tables and SVG figures, from the runs' summaries.
 */
import { lineChart, type LineSeries } from '../plots/svg.js';
import type { RunSummary } from './runner.js';
import { axisLabels, cellName, sweepCells, valueText, type SweepAssignment, type SweepSpec } from './spec.js';
import { pairedDifference, summarize, type Summary } from './stats.js';

export interface CellReport {
  cell: string;
  assignments: Record<string, unknown>;
  seeds: number[];
  missing: number[];
  meanIoU: Summary;
  pixelAccuracy: Summary;
  perClassIoU: Summary[];
  trainSeconds: Summary;
  imagesPerSecond: Summary;
  /** Evaluation name → mIoU over seeds. */
  evaluations: Record<string, Summary>;
  /** The first EM head's bases at the end of training, over the seeds that recorded them (n = 0 for fcn). */
  bases: { effectiveBases: Summary; pixelBases: Summary; distinctBases: Summary };
}

export interface ComparisonReport {
  axis: string;
  a: string;
  b: string;
  /** The other axes' values (the cells compared share them). */
  context: string;
  cellA: string;
  cellB: string;
  seeds: number[];
  /** mIoU of b − a per common seed. */
  difference: Summary;
}

export interface SweepReport {
  name: string;
  description: string;
  axes: string[];
  runs: number;
  finished: number;
  cells: CellReport[];
  comparisons: ComparisonReport[];
}

function finite(values: ReadonlyArray<number | null | undefined>): number[] {
  return values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** Builds the report; `extraCompare` adds comparisons (e.g. from the command line). */
export function buildReport(spec: SweepSpec, summaries: readonly RunSummary[], extraCompare: SweepSpec['compare'] = []): SweepReport {
  const cells = sweepCells(spec);
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const cellReports: CellReport[] = cells.map((assignments) => {
    const cell = cellName(assignments);
    const runs = spec.seeds.map((seed) => byName.get(`${cell}/seed-${seed}`));
    const done = runs.filter((r): r is RunSummary => r !== undefined);
    const classes = Math.max(0, ...done.map((r) => r.perClassIoU.length));
    const evalNames = spec.evaluations.map((e) => e.name);
    return {
      cell,
      assignments: Object.fromEntries(assignments.map((a) => [a.axis, a.value])),
      seeds: done.map((r) => r.seed),
      missing: spec.seeds.filter((_, i) => runs[i] === undefined),
      meanIoU: summarize(done.map((r) => r.meanIoU)),
      pixelAccuracy: summarize(done.map((r) => r.pixelAccuracy)),
      perClassIoU: Array.from({ length: classes }, (_, c) => summarize(finite(done.map((r) => r.perClassIoU[c])))),
      trainSeconds: summarize(done.map((r) => r.trainSeconds)),
      imagesPerSecond: summarize(finite(done.map((r) => r.imagesPerSecond))),
      evaluations: Object.fromEntries(evalNames.map((n) => [n, summarize(finite(done.map((r) => r.evaluations[n]?.meanIoU)))])),
      bases: {
        effectiveBases: summarize(finite(done.map((r) => r.bases?.[0]?.effectiveBases))),
        pixelBases: summarize(finite(done.map((r) => r.bases?.[0]?.pixelBases))),
        distinctBases: summarize(finite(done.map((r) => r.bases?.[0]?.distinctBases))),
      },
    };
  });
  const comparisons: ComparisonReport[] = [];
  for (const c of [...spec.compare, ...extraCompare]) {
    const aText = valueText('compare', c.axis, c.a);
    const bText = valueText('compare', c.axis, c.b);
    const groups = new Map<string, { a?: SweepAssignment[]; b?: SweepAssignment[] }>();
    for (const assignments of cells) {
      const own = assignments.find((x) => x.axis === c.axis);
      if (own === undefined || (own.text !== aText && own.text !== bText)) continue;
      const context = cellName(assignments.filter((x) => x.axis !== c.axis));
      const group = groups.get(context) ?? {};
      if (own.text === aText) group.a = assignments;
      else group.b = assignments;
      groups.set(context, group);
    }
    for (const [context, group] of groups) {
      if (group.a === undefined || group.b === undefined) continue;
      const cellA = cellName(group.a);
      const cellB = cellName(group.b);
      const seeds = spec.seeds.filter((s) => byName.has(`${cellA}/seed-${s}`) && byName.has(`${cellB}/seed-${s}`));
      const a = seeds.map((s) => (byName.get(`${cellA}/seed-${s}`) as RunSummary).meanIoU);
      const b = seeds.map((s) => (byName.get(`${cellB}/seed-${s}`) as RunSummary).meanIoU);
      comparisons.push({ axis: c.axis, a: aText, b: bText, context: context === 'base' ? '' : context, cellA, cellB, seeds, difference: pairedDifference(a, b) });
    }
  }
  return {
    name: spec.name,
    description: spec.description,
    axes: [...Object.keys(spec.axes), ...Object.keys(spec.variants)],
    runs: cells.length * spec.seeds.length,
    finished: summaries.length,
    cells: cellReports,
    comparisons,
  };
}

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(2) : '—');
const num = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

function meanStd(s: Summary, scale: (v: number) => string): string {
  return s.n === 0 ? '—' : `${scale(s.mean)} ± ${scale(s.std)}`;
}

function ci(s: Summary, scale: (v: number) => string): string {
  return s.ci95 === null ? '—' : `[${scale(s.ci95[0])}, ${scale(s.ci95[1])}]`;
}

/**
 * A two-axis sweep as a grid, the way the papers print their tables (e.g.
 * HEMNet's Table 1: η across, T_train down): rows are the last axis's values,
 * columns the first's, each cell mean ± std (seeds) of mIoU, the best mean of
 * each row in bold (ties: all of them). Empty for other sweeps.
 */
export function gridMarkdown(report: SweepReport): string[] {
  if (report.axes.length !== 2) return [];
  const [across, down] = report.axes as [string, string];
  const labels = axisLabels(report.axes);
  if (!report.cells.every((c) => across in c.assignments && down in c.assignments)) return [];
  const order = (axis: string): string[] => [...new Set(report.cells.map((c) => String(c.assignments[axis])))];
  const columns = order(across);
  const rows = order(down);
  const at = new Map(report.cells.map((c) => [`${String(c.assignments[across])}\u0000${String(c.assignments[down])}`, c]));
  const lines = [
    '',
    `## mIoU grid (%, mean ± std over seeds; rows ${labels.get(down)}, columns ${labels.get(across)}; best of each row in bold)`,
    '',
    `| ${labels.get(down)} \\ ${labels.get(across)} | ${columns.join(' | ')} |`,
    `|---|${'---|'.repeat(columns.length)}`,
  ];
  for (const row of rows) {
    const cells = columns.map((column) => at.get(`${column}\u0000${row}`));
    const means = cells.map((c) => (c !== undefined && c.meanIoU.n > 0 ? c.meanIoU.mean : Number.NEGATIVE_INFINITY));
    const best = Math.max(...means);
    const texts = cells.map((c, i) => {
      if (c === undefined || c.meanIoU.n === 0) return '—';
      const text = `${meanStd(c.meanIoU, pct)} (${c.meanIoU.n})`;
      return means[i] === best ? `**${text}**` : text;
    });
    lines.push(`| ${row} | ${texts.join(' | ')} |`);
  }
  return lines;
}

/** Markdown: the cell table, per-seed values, per-class IoU, evaluations and comparisons. */
export function reportMarkdown(report: SweepReport): string {
  const lines: string[] = [`# Sweep ${report.name}`, ''];
  if (report.description !== '') lines.push(report.description, '');
  lines.push(`${report.finished} of ${report.runs} runs finished. mIoU and pixel accuracy in %, mean ± std over seeds, 95% CI of the mean (t-distribution); train s = summed step time.`, '');
  lines.push('| cell | seeds | mIoU | 95% CI | per seed | pixel acc. | train s | img/s |', '|---|---|---|---|---|---|---|---|');
  for (const c of report.cells) {
    lines.push(
      `| ${c.cell} | ${c.seeds.join(', ')}${c.missing.length > 0 ? ` (missing ${c.missing.join(', ')})` : ''} | ${meanStd(c.meanIoU, pct)} | ${ci(c.meanIoU, pct)} | ${c.meanIoU.values.map(pct).join(', ')} | ${meanStd(c.pixelAccuracy, pct)} | ${meanStd(c.trainSeconds, (v) => num(v))} | ${meanStd(c.imagesPerSecond, (v) => num(v))} |`,
    );
  }
  lines.push(...gridMarkdown(report));
  const classes = Math.max(0, ...report.cells.map((c) => c.perClassIoU.length));
  if (classes > 0) {
    lines.push('', '## Per-class IoU (%, mean over seeds)', '', `| cell | ${Array.from({ length: classes }, (_, i) => String(i)).join(' | ')} |`, `|---|${'---|'.repeat(classes)}`);
    for (const c of report.cells) lines.push(`| ${c.cell} | ${c.perClassIoU.map((s) => (s.n === 0 ? '—' : pct(s.mean))).join(' | ')} |`);
  }
  if (report.cells.some((c) => c.bases.effectiveBases.n > 0)) {
    lines.push(
      '',
      '## Bases of the final model (first EM head, mean ± std over seeds)',
      '',
      'effective: exp of the entropy of the mean responsibility per basis; per pixel: exp of the mean per-pixel entropy of γ (1 = hard assignment); distinct: rows of μ⁽⁰⁾ apart at cosine 0.999 (src/metrics/bases.ts).',
      '',
      '| cell | seeds | effective bases | per pixel | distinct μ⁽⁰⁾ rows | per seed (distinct) |',
      '|---|---|---|---|---|---|',
    );
    for (const c of report.cells) {
      if (c.bases.effectiveBases.n === 0) continue;
      const b = c.bases;
      lines.push(`| ${c.cell} | ${b.effectiveBases.n} | ${meanStd(b.effectiveBases, (v) => num(v, 2))} | ${meanStd(b.pixelBases, (v) => num(v, 2))} | ${meanStd(b.distinctBases, (v) => num(v))} | ${b.distinctBases.values.join(', ')} |`);
    }
  }
  const evalNames = Object.keys(report.cells[0]?.evaluations ?? {});
  if (evalNames.length > 0) {
    lines.push('', '## Evaluations after training (mIoU %, mean ± std over seeds)', '', `| cell | ${evalNames.join(' | ')} |`, `|---|${'---|'.repeat(evalNames.length)}`);
    for (const c of report.cells) lines.push(`| ${c.cell} | ${evalNames.map((n) => meanStd(c.evaluations[n] as Summary, pct)).join(' | ')} |`);
  }
  if (report.comparisons.length > 0) {
    lines.push('', '## Paired comparisons (mIoU of b − a on the same seeds, percentage points)', '', '| axis | a | b | other axes | seeds | mean difference | 95% CI | per seed |', '|---|---|---|---|---|---|---|---|');
    for (const p of report.comparisons) {
      lines.push(`| ${p.axis} | ${p.a} | ${p.b} | ${p.context || '—'} | ${p.seeds.join(', ')} | ${pct(p.difference.mean)} | ${ci(p.difference, pct)} | ${p.difference.values.map(pct).join(', ')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function csvField(value: string | number): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV: one row per run (per-seed values), for other tools. */
export function reportCsv(report: SweepReport, summaries: readonly RunSummary[], spec: SweepSpec): string {
  const classes = Math.max(0, ...summaries.map((s) => s.perClassIoU.length));
  const evalNames = spec.evaluations.map((e) => e.name);
  const header = ['run', 'cell', 'seed', ...report.axes, 'meanIoU', 'pixelAccuracy', ...Array.from({ length: classes }, (_, i) => `iou_${i}`), 'trainSeconds', 'imagesPerSecond', 'steps', 'attempts', ...evalNames.map((n) => `eval:${n}:meanIoU`), 'effectiveBases', 'pixelBases', 'distinctBases'];
  const rows = [header.map(csvField).join(',')];
  const order = new Map(report.cells.map((c, i) => [c.cell, i]));
  const sorted = [...summaries].sort((a, b) => (order.get(a.cell) ?? 0) - (order.get(b.cell) ?? 0) || a.seed - b.seed);
  for (const s of sorted) {
    rows.push(
      [
        s.name, s.cell, s.seed,
        ...report.axes.map((a) => {
          const v = s.assignments[a];
          return typeof v === 'number' ? v : JSON.stringify(v ?? null).replace(/^"|"$/g, '');
        }),
        s.meanIoU, s.pixelAccuracy,
        ...Array.from({ length: classes }, (_, i) => s.perClassIoU[i] ?? NaN),
        s.trainSeconds, s.imagesPerSecond, s.steps, s.attempts,
        ...evalNames.map((n) => s.evaluations[n]?.meanIoU ?? NaN),
        s.bases?.[0]?.effectiveBases ?? NaN, s.bases?.[0]?.pixelBases ?? NaN, s.bases?.[0]?.distinctBases ?? NaN,
      ].map((v) => csvField(v as string | number)).join(','),
    );
  }
  return `${rows.join('\n')}\n`;
}

/** Paper symbols of the common axes, for figure labels. */
const SYMBOLS: Record<string, string> = {
  'model.hem.stepSize': 'η',
  'model.hem.trainIterations': 'T_train',
  'model.hem.evalIterations': 'T_eval',
  'model.hem.numBases': 'K',
  'model.hem.temperature': 'σ²',
  'model.channels': 'C',
};

export interface ReportFigure {
  /** File name without extension. */
  name: string;
  svg: string;
}

function seriesName(entries: ReadonlyArray<[string, unknown]>, labels: Map<string, string>): string {
  return entries.length === 0 ? 'mIoU' : entries.map(([axis, v]) => `${labels.get(axis) ?? axis}=${valueText('figure', axis, v)}`).join(', ');
}

/**
 * Figures: mIoU vs each numeric axis (one line per combination of the other
 * axes — e.g. mIoU vs η for each T_train), mIoU vs T_eval (one line per
 * cell), and the mean training loss per cell.
 */
export function reportFigures(report: SweepReport, summaries: readonly RunSummary[], spec: SweepSpec): ReportFigure[] {
  const figures: ReportFigure[] = [];
  const labels = new Map<string, string>();
  for (const assignments of sweepCells(spec)) for (const a of assignments) labels.set(a.axis, a.label);
  for (const axis of Object.keys(spec.axes)) {
    const values = spec.axes[axis] as unknown[];
    if (values.length < 2 || !values.every((v) => typeof v === 'number')) continue;
    const groups = new Map<string, { entries: Array<[string, unknown]>; points: Map<number, number> }>();
    for (const c of report.cells) {
      const others = Object.entries(c.assignments).filter(([a]) => a !== axis);
      const key = JSON.stringify(others);
      const group = groups.get(key) ?? { entries: others, points: new Map<number, number>() };
      if (c.meanIoU.n > 0) group.points.set(c.assignments[axis] as number, 100 * c.meanIoU.mean);
      groups.set(key, group);
    }
    const xs = [...(values as number[])].sort((a, b) => a - b);
    const series: LineSeries[] = [...groups.values()].map((g) => ({ name: seriesName(g.entries, labels), x: xs, y: xs.map((x) => g.points.get(x) ?? NaN) }));
    const label = labels.get(axis) ?? axis;
    const symbol = SYMBOLS[axis] ?? label;
    figures.push({ name: `miou-vs-${label}`, svg: lineChart({ title: `${report.name}: mIoU vs ${symbol} (mean over seeds)`, xLabel: SYMBOLS[axis] !== undefined ? `${symbol} (${axis})` : axis, yLabel: 'mIoU (%)', series, markers: true }) });
  }
  const tEval = spec.evaluations.filter((e) => e.evalIterations !== null && e.scales === null && e.flip !== true && e.limit === null);
  if (tEval.length >= 2) {
    const xs = tEval.map((e) => e.evalIterations as number);
    const series: LineSeries[] = report.cells.map((c) => ({ name: c.cell, x: xs, y: tEval.map((e) => 100 * (c.evaluations[e.name]?.mean ?? NaN)) }));
    figures.push({ name: 'miou-vs-teval', svg: lineChart({ title: `${report.name}: mIoU vs T_eval (mean over seeds)`, xLabel: 'T_eval', yLabel: 'mIoU (%)', series, markers: true }) });
  }
  const lossSeries: LineSeries[] = [];
  for (const c of report.cells) {
    const runs = summaries.filter((s) => s.cell === c.cell);
    if (runs.length === 0) continue;
    const steps = Math.max(...runs.map((r) => r.losses.length));
    const y = Array.from({ length: steps }, (_, i) => {
      const v = finite(runs.map((r) => r.losses[i]));
      return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    });
    lossSeries.push({ name: c.cell, x: y.map((_, i) => i + 1), y });
  }
  if (lossSeries.length > 0) {
    figures.push({ name: 'loss', svg: lineChart({ title: `${report.name}: training loss (mean over seeds)`, xLabel: 'step', yLabel: 'loss', series: lossSeries, logY: true, markers: false }) });
  }
  return figures;
}
