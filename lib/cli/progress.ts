// Progress for long CLI work: a bar with rate and ETA on a terminal, plain periodic lines otherwise
// (logs, CI), so output stays readable in both.
export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  intervalMs?: number; // between plain lines when not on a terminal
}

export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private lastDraw = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  /** Extra text shown after the counts (e.g. the current loss); set it before tick(). */
  detail = '';

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  get count(): number {
    return this.done;
  }

  tick(n = 1): void {
    this.done += n;
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
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const unit = this.opts.unit ?? 'items';
    const total = this.opts.total;
    const parts = [`${this.opts.label}: ${this.done}${total ? `/${total}` : ''} ${unit}`, `${formatRate(rate)} ${unit}/s`];
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

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
