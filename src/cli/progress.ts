/**
 * A dependency-free progress line for long work: a bar, counts, rate, ETA
 * and free-form fields (loss, lr, images/s).
 *
 * On an interactive terminal it redraws in place (`\r`) and is cut to the
 * terminal's width, so it never wraps. When the stream is not a TTY (a pipe,
 * a log file, CI), when `NO_COLOR` is set (https://no-color.org) or when
 * `TERM=dumb`, it prints plain lines, without `\r` or bar glyphs, every
 * `plainEvery` updates. `enabled: false` (the CLI's `--quiet`) prints nothing.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  /** Bar width in cells (shrinks on narrow terminals). Default 24. */
  width?: number;
  /** Non-interactive: print every n-th update (and the last). Default total/20. */
  plainEvery?: number;
  /** false: print nothing (--quiet). Default true. */
  enabled?: boolean;
  /** Environment read for NO_COLOR and TERM. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Seconds left, when the caller knows better than the count does (e.g. a
   * sweep whose runs resume part way); null: not known yet. Default:
   * elapsed / done × (total − done).
   */
  secondsLeft?: () => number | null;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Whether progress may redraw in place on `stream`: a TTY, no NO_COLOR, TERM not 'dumb'. */
export function isInteractive(stream: NodeJS.WriteStream, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const noColor = env['NO_COLOR'];
  return stream.isTTY === true && (noColor === undefined || noColor === '') && env['TERM'] !== 'dumb';
}

/** Cuts `text` to at most `columns` characters (code points), ending in '…' when cut. */
export function fitToWidth(text: string, columns: number): string {
  const chars = Array.from(text);
  if (chars.length <= columns) return text;
  return columns <= 1 ? chars.slice(0, Math.max(0, columns)).join('') : `${chars.slice(0, columns - 1).join('')}…`;
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly start = performance.now();
  private readonly plainEvery: number;
  private readonly interactive: boolean;
  private readonly enabled: boolean;
  private lastLength = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.plainEvery = options.plainEvery ?? Math.max(1, Math.round(options.total / 20));
    this.enabled = options.enabled ?? true;
    this.interactive = this.enabled && isInteractive(this.stream, options.env);
  }

  update(done: number, fields: Record<string, string> = {}): void {
    if (!this.enabled) return;
    const { total, label } = this.options;
    const elapsed = (performance.now() - this.start) / 1000;
    const known = this.options.secondsLeft?.();
    const eta = known !== undefined ? (known ?? Infinity) : done > 0 ? (elapsed / done) * (total - done) : Infinity;
    const extras = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
    const counts = `${String(done).padStart(String(total).length)}/${total}`;
    if (this.interactive) {
      // One column less than the terminal: writing the last column makes some terminals wrap.
      const columns = Math.max(20, (this.stream.columns ?? 80) - 1);
      const times = `${formatSeconds(elapsed)}<${formatSeconds(eta)}`;
      const fixed = `${label}  ${counts}  ${times}`.length + 1;
      const width = Math.max(0, Math.min(this.options.width ?? 24, columns - fixed - 1));
      const filled = Math.round((width * done) / Math.max(total, 1));
      const bar = width > 0 ? ` ${'█'.repeat(filled)}${'░'.repeat(width - filled)}` : '';
      const line = fitToWidth(`${label}${bar} ${counts}  ${times}${extras ? `  ${extras}` : ''}`, columns);
      const length = Array.from(line).length;
      this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastLength - length))}`);
      this.lastLength = length;
      if (done >= total) {
        this.stream.write('\n');
        this.lastLength = 0;
      }
    } else if (done % this.plainEvery === 0 || done >= total) {
      this.stream.write(`${label} ${counts}  elapsed ${formatSeconds(elapsed)}  eta ${formatSeconds(eta)}${extras ? `  ${extras}` : ''}\n`);
    }
  }

  /** Ends the line early (e.g. on Ctrl-C). */
  finish(): void {
    if (this.interactive && this.lastLength > 0) this.stream.write('\n');
    this.lastLength = 0;
  }
}
