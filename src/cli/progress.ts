/**
 * A dependency-free progress line for long work: a bar, counts, rate, ETA
 * and free-form fields (loss, lr, images/s). Redraws in place on a TTY;
 * on a pipe or in CI it prints a plain line every `plainEvery` updates.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  width?: number;
  /** Non-TTY: print every n-th update (and the last). Default total/20. */
  plainEvery?: number;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly start = performance.now();
  private readonly plainEvery: number;
  private lastLength = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.plainEvery = options.plainEvery ?? Math.max(1, Math.round(options.total / 20));
  }

  update(done: number, fields: Record<string, string> = {}): void {
    const { total, label } = this.options;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : Infinity;
    const extras = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
    const counts = `${String(done).padStart(String(total).length)}/${total}`;
    if (this.stream.isTTY === true) {
      const width = this.options.width ?? 24;
      const filled = Math.round((width * done) / Math.max(total, 1));
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      const line = `${label} ${bar} ${counts}  ${formatSeconds(elapsed)}<${formatSeconds(eta)}  ${extras}`;
      this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastLength - line.length))}`);
      this.lastLength = line.length;
      if (done >= total) this.stream.write('\n');
    } else if (done % this.plainEvery === 0 || done >= total) {
      this.stream.write(`${label} ${counts}  elapsed ${formatSeconds(elapsed)}  eta ${formatSeconds(eta)}  ${extras}\n`);
    }
  }

  /** Ends the line early (e.g. on Ctrl-C). */
  finish(): void {
    if (this.stream.isTTY === true && this.lastLength > 0) this.stream.write('\n');
  }
}
