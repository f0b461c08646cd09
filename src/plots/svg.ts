/**
 * Small SVG charts (line and grouped bar) as strings. Platform-neutral: the
 * caller saves the string or converts it (see `svgToPng` in `png.ts`, Node).
 */

/** matplotlib's "tab10" colours, the default series colours. */
export const SERIES_COLORS: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

export interface LineSeries {
  name: string;
  y: readonly number[];
  /** Default 0, 1, 2, … Non-finite points break the line. */
  x?: readonly number[];
  color?: string;
  dashed?: boolean;
}

export interface ChartFrame {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Pixels. Defaults 640 × 400. */
  width?: number;
  height?: number;
  /** Logarithmic y axis (values ≤ 0 are dropped). */
  logY?: boolean;
  /** Fixed y range instead of the data range. */
  yRange?: [number, number];
}

export interface LineChartOptions extends ChartFrame {
  series: readonly LineSeries[];
  /** Draw a dot on every point. Default: only when a series has ≤ 30 points. */
  markers?: boolean;
}

export interface BarSeries {
  name: string;
  values: readonly number[];
  color?: string;
}

export interface BarChartOptions extends ChartFrame {
  /** One group of bars per category (e.g. a layer); one bar per series (e.g. an η). */
  categories: readonly string[];
  series: readonly BarSeries[];
}

/** Escapes text for SVG content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round tick values (1, 2, 2.5, 5 × 10^k steps), the first ≤ min and the last ≥ max. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`niceTicks: 'min' and 'max' must be finite, received ${min}, ${max}`);
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Short label for a tick value. */
export function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(1).replace('e+', 'e');
  return String(Number(value.toPrecision(4)));
}

interface Axes {
  svg: string[];
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  yOf: (v: number) => number;
}

function validateFrame(fn: string, options: ChartFrame): { width: number; height: number } {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  if (!Number.isInteger(width) || width < 200 || !Number.isInteger(height) || height < 150) {
    throw new Error(`${fn}: 'width' and 'height' must be integers ≥ 200 and ≥ 150, received ${width} × ${height}`);
  }
  if (options.yRange !== undefined && !(options.yRange[0] < options.yRange[1])) {
    throw new Error(`${fn}: 'yRange' must be [min, max] with min < max, received ${JSON.stringify(options.yRange)}`);
  }
  return { width, height };
}

/** Approximate width of a bold DejaVu Sans character, in em (its average over mixed text). */
const TITLE_EM_PER_CHAR = 0.62;

/**
 * Where a title goes: centred over the plot area [x0, x1] when it fits there; shifted just enough
 * to stay inside the image when it is wider than the plot area (a wide legend); and, when it is
 * wider than the image, centred on the image in a font small enough to fit (down to 9 px).
 */
function titlePlacement(title: string, x0: number, x1: number, width: number): { x: number; fontSize: number } {
  const margin = 8;
  const room = width - 2 * margin;
  const fontSize = Math.max(9, Math.min(15, Math.floor(room / (title.length * TITLE_EM_PER_CHAR))));
  const half = (title.length * TITLE_EM_PER_CHAR * fontSize) / 2;
  if (2 * half >= room) return { x: width / 2, fontSize };
  return { x: +Math.min(Math.max((x0 + x1) / 2, margin + half), width - margin - half).toFixed(1), fontSize };
}

/** Title, y axis (ticks, grid, label), x axis line and label, legend; returns the plot area and the y mapping. */
function drawFrame(options: ChartFrame, values: number[], names: { name: string; color: string; dashed?: boolean }[], legendWidth: number): Axes {
  const { width, height } = validateFrame('chart', options);
  const logY = options.logY === true;
  const finite = values.filter((v) => Number.isFinite(v) && (!logY || v > 0));
  let [lo, hi] = options.yRange ?? [Math.min(...finite, Infinity), Math.max(...finite, -Infinity)];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = logY ? [1, 10] : [0, 1];
  let ticks: number[];
  let yOf: (v: number) => number;
  const x0 = 70;
  const x1 = width - 20 - legendWidth;
  const y0 = height - 50;
  const y1 = options.title !== undefined ? 40 : 20;
  if (logY) {
    const a = Math.floor(Math.log10(lo));
    const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
    ticks = [];
    for (let e = a; e <= b; e++) ticks.push(10 ** e);
    yOf = (v) => y0 - ((Math.log10(v) - a) / (b - a)) * (y0 - y1);
  } else {
    ticks = niceTicks(lo, hi, 5);
    const tlo = options.yRange?.[0] ?? Math.min(lo, ticks[0] as number);
    const thi = options.yRange?.[1] ?? Math.max(hi, ticks[ticks.length - 1] as number);
    ticks = ticks.filter((t) => t >= tlo - 1e-12 && t <= thi + 1e-12);
    yOf = (v) => y0 - ((v - tlo) / (thi - tlo)) * (y0 - y1);
  }
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title !== undefined) {
    const title = titlePlacement(options.title, x0, x1, width);
    svg.push(`<text class="title" x="${title.x}" y="24" text-anchor="middle" font-size="${title.fontSize}" font-weight="bold">${escapeXml(options.title)}</text>`);
  }
  for (const t of ticks) {
    const y = yOf(t).toFixed(1);
    svg.push(`<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" stroke="#e0e0e0"/>`);
    svg.push(`<text class="ytick" x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(t))}</text>`);
  }
  svg.push(`<line x1="${x0}" x2="${x0}" y1="${y1}" y2="${y0}" stroke="black"/>`);
  svg.push(`<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="black"/>`);
  if (options.xLabel !== undefined) {
    svg.push(`<text class="xlabel" x="${(x0 + x1) / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  }
  if (options.yLabel !== undefined) {
    const cy = (y0 + y1) / 2;
    svg.push(`<text class="ylabel" x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(options.yLabel)}</text>`);
  }
  names.forEach((entry, i) => {
    const y = y1 + 8 + 18 * i;
    const lx = x1 + 12;
    svg.push(
      `<line x1="${lx}" x2="${lx + 20}" y1="${y}" y2="${y}" stroke="${entry.color}" stroke-width="3"${entry.dashed === true ? ' stroke-dasharray="5,3"' : ''}/>`,
      `<text class="legend" x="${lx + 26}" y="${y}" dominant-baseline="middle">${escapeXml(entry.name)}</text>`,
    );
  });
  return { svg, x0, x1, y0, y1, yOf };
}

function legendWidthFor(names: readonly string[]): number {
  return names.length === 0 ? 0 : 40 + 7 * Math.max(...names.map((n) => n.length));
}

/** A line chart (e.g. training loss, ELBO per iteration for several η). */
export function lineChart(options: LineChartOptions): string {
  validateFrame('lineChart', options);
  if (!Array.isArray(options.series) || options.series.length === 0) {
    throw new Error(`lineChart: 'series' must hold at least one series, received ${Array.isArray(options.series) ? 0 : typeof options.series}`);
  }
  options.series.forEach((s, i) => {
    if (s.x !== undefined && s.x.length !== s.y.length) {
      throw new Error(`lineChart: series ${i} ('${s.name}') has ${s.x.length} x values but ${s.y.length} y values`);
    }
  });
  const colored = options.series.map((s, i) => ({ ...s, color: s.color ?? (SERIES_COLORS[i % SERIES_COLORS.length] as string) }));
  const xs: number[][] = colored.map((s) => (s.x !== undefined ? [...s.x] : s.y.map((_: number, i: number) => i)));
  const allY = colored.flatMap((s) => [...s.y]);
  const frame = drawFrame(options, allY, colored, legendWidthFor(colored.map((s) => s.name)));
  const finiteX = xs.flat().filter(Number.isFinite);
  let xlo = Math.min(...finiteX, Infinity);
  let xhi = Math.max(...finiteX, -Infinity);
  if (!Number.isFinite(xlo)) [xlo, xhi] = [0, 1];
  const xTicks = niceTicks(xlo, xhi, 6).filter((t) => t >= xlo - 1e-9 && t <= xhi + 1e-9);
  if (xhi === xlo) [xlo, xhi] = [xlo - 1, xhi + 1];
  const xOf = (v: number): number => frame.x0 + ((v - xlo) / (xhi - xlo)) * (frame.x1 - frame.x0);
  for (const t of xTicks) {
    const x = xOf(t).toFixed(1);
    frame.svg.push(`<line x1="${x}" x2="${x}" y1="${frame.y0}" y2="${frame.y0 + 5}" stroke="black"/>`);
    frame.svg.push(`<text class="xtick" x="${x}" y="${frame.y0 + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  colored.forEach((s, i) => {
    const x = xs[i] as number[];
    const markers = options.markers ?? s.y.length <= 30;
    const parts: string[] = [];
    let pen = 'M';
    const dots: string[] = [];
    s.y.forEach((v: number, j: number) => {
      const xv = x[j] as number;
      if (!Number.isFinite(v) || !Number.isFinite(xv) || (options.logY === true && v <= 0)) {
        pen = 'M';
        return;
      }
      const px = xOf(xv).toFixed(1);
      const py = frame.yOf(v).toFixed(1);
      parts.push(`${pen}${px},${py}`);
      pen = 'L';
      if (markers) dots.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${s.color}"/>`);
    });
    frame.svg.push(
      `<path class="series" data-name="${escapeXml(s.name)}" d="${parts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6,4"' : ''}/>`,
      ...dots,
    );
  });
  frame.svg.push('</svg>');
  return frame.svg.join('\n');
}

/** A grouped bar chart (e.g. gradient norm per layer, one bar per η). */
export function barChart(options: BarChartOptions): string {
  validateFrame('barChart', options);
  if (!Array.isArray(options.series) || options.series.length === 0) {
    throw new Error(`barChart: 'series' must hold at least one series, received ${Array.isArray(options.series) ? 0 : typeof options.series}`);
  }
  if (!Array.isArray(options.categories) || options.categories.length === 0) {
    throw new Error(`barChart: 'categories' must hold at least one name, received ${JSON.stringify(options.categories)}`);
  }
  options.series.forEach((s, i) => {
    if (s.values.length !== options.categories.length) {
      throw new Error(`barChart: series ${i} ('${s.name}') has ${s.values.length} values, expected one per category (${options.categories.length})`);
    }
  });
  const colored = options.series.map((s, i) => ({ ...s, color: s.color ?? (SERIES_COLORS[i % SERIES_COLORS.length] as string) }));
  const values = colored.flatMap((s) => [...s.values]);
  const logY = options.logY === true;
  const frame = drawFrame(options, logY ? values : [...values, 0], colored, colored.length > 1 ? legendWidthFor(colored.map((s) => s.name)) : 0);
  const groups = options.categories.length;
  const groupWidth = (frame.x1 - frame.x0) / groups;
  const barWidth = (groupWidth * 0.8) / colored.length;
  const base = logY ? frame.y0 : Math.min(frame.y0, Math.max(frame.y1, frame.yOf(0)));
  options.categories.forEach((name, g) => {
    const cx = frame.x0 + groupWidth * (g + 0.5);
    frame.svg.push(`<text class="xtick" x="${cx.toFixed(1)}" y="${frame.y0 + 18}" text-anchor="middle">${escapeXml(name)}</text>`);
    colored.forEach((s, k) => {
      const v = s.values[g] as number;
      if (!Number.isFinite(v) || (logY && v <= 0)) return;
      const top = Math.min(frame.y0, Math.max(frame.y1, frame.yOf(v)));
      const x = frame.x0 + groupWidth * g + groupWidth * 0.1 + barWidth * k;
      frame.svg.push(
        `<rect class="bar" data-name="${escapeXml(s.name)}" x="${x.toFixed(1)}" y="${Math.min(top, base).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${Math.abs(base - top).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name} ${name}: ${formatTick(v)}`)}</title></rect>`,
      );
    });
  });
  frame.svg.push('</svg>');
  return frame.svg.join('\n');
}
