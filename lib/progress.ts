// Progress for long work (the CLI's commands, model downloads): a bar with rate and ETA on a
// terminal, plain periodic lines otherwise (logs, CI), so output stays readable in both.
export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  /** Counts as bytes (kB, MB, ...) instead of plain integers. */
  bytes?: boolean;
  /** Count already done before this run (a resumed download): shown, but left out of the rate. */
  initial?: number;
  stream?: NodeJS.WriteStream;
  intervalMs?: number; // between plain lines when not on a terminal
}

export class Progress {
  private done: number;
  private readonly start = performance.now();
  private lastDraw = this.start; // the first line comes one interval in: short work stays quiet
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  /** Extra text shown after the counts (e.g. the current loss); set it before tick(). */
  detail = '';

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.done = opts.initial ?? 0;
  }

  get count(): number {
    return this.done;
  }

  tick(n = 1): void {
    this.set(this.done + n);
  }

  /** Sets the count, for work reported as a running total (bytes received so far). */
  set(done: number): void {
    this.done = done;
    const now = performance.now();
    if (now - this.lastDraw >= (this.tty ? 100 : (this.opts.intervalMs ?? 5000))) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  finish(): void {
    this.draw(true);
  }

  private draw(final: boolean): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = elapsed > 0 ? (this.done - (this.opts.initial ?? 0)) / elapsed : 0;
    const unit = this.opts.bytes ? '' : ` ${this.opts.unit ?? 'items'}`;
    const count = (n: number): string => (this.opts.bytes ? formatBytes(n) : String(n));
    const total = this.opts.total;
    const rateText = this.opts.bytes ? formatBytes(rate) : formatRate(rate);
    const parts = [`${this.opts.label}: ${count(this.done)}${total ? `/${count(total)}` : ''}${unit}`, `${rateText}${unit}/s`];
    if (this.detail) parts.push(this.detail);
    if (total && rate > 0 && !final) parts.push(`ETA ${formatDuration((total - this.done) / rate)}`);
    if (final) parts.push(`in ${formatDuration(elapsed)}`);
    if (this.tty) {
      const width = 24;
      const bar = total ? '#'.repeat(Math.round((width * Math.min(this.done, total)) / total)).padEnd(width, '.') : '';
      this.stream.write(`\r${bar ? `[${bar}] ` : ''}${parts.join('  ')}\x1b[K${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${parts.join('  ')}\n`);
    }
  }
}

export function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

/** Decimal units, as huggingface_hub's progress bars show sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
