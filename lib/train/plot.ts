// Training curves as one hand-written SVG (no dependencies): small multiples, one panel per
// quantity of StepStats over the steps, each with its min / max labels on both axes.
import type { StepStats } from './types.js';

type Key = Exclude<keyof StepStats, 'step'>;
/** A step's stats as the plot reads them (fields absent from older logs are left out of their panel). */
export type PlotStats = Pick<StepStats, 'step'> & Partial<Omit<StepStats, 'step'>>;

/** The panels: a title and the series drawn in it (several series share the panel's y range). */
export const PLOT_PANELS: ReadonlyArray<{ title: string; series: readonly Key[] }> = [
  { title: 'loss', series: ['loss'] },
  { title: 'rankingLoss', series: ['rankingLoss'] },
  { title: 'regQ', series: ['regQ'] },
  { title: 'regD', series: ['regD'] },
  { title: 'lambdaQ / lambdaD', series: ['lambdaQ', 'lambdaD'] },
  { title: 'lr', series: ['lr'] },
  { title: 'nnzQ / nnzD', series: ['nnzQ', 'nnzD'] },
  { title: 'mlmLoss', series: ['mlmLoss'] },
  { title: 'peakMemoryBytes', series: ['peakMemoryBytes'] },
];

const COLORS = ['#1f77b4', '#d62728'];
const COLS = 4, PW = 260, PH = 170, ML = 62, MR = 12, MT = 26, MB = 30;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short, stable number labels (4 significant digits; exponent form for tiny / huge values). */
export function formatTick(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** The SVG text of the training curves of `stats` (in step order; non-finite values are left out). */
export function trainPlotSvg(stats: readonly PlotStats[], opts: { title?: string } = {}): string {
  const rows = Math.ceil(PLOT_PANELS.length / COLS);
  const W = COLS * PW, top = opts.title ? 24 : 0, H = rows * PH + top;
  const steps = stats.map((s) => s.step);
  const x0 = steps.length ? Math.min(...steps) : 0, x1 = steps.length ? Math.max(...steps) : 1;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (opts.title) out.push(`<text x="${W / 2}" y="17" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`);
  PLOT_PANELS.forEach((panel, p) => {
    const ox = (p % COLS) * PW, oy = top + Math.floor(p / COLS) * PH;
    const left = ox + ML, right = ox + PW - MR, upper = oy + MT, lower = oy + PH - MB;
    let lo = Infinity, hi = -Infinity;
    for (const s of stats) {
      for (const k of panel.series) {
        const v = s[k] ?? NaN;
        if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    }
    if (lo > hi) { lo = 0; hi = 1; }
    const span = hi - lo;
    const sx = (x: number) => (x1 > x0 ? left + ((x - x0) / (x1 - x0)) * (right - left) : (left + right) / 2);
    const sy = (y: number) => (span > 0 ? lower - ((y - lo) / span) * (lower - upper) : (upper + lower) / 2);
    out.push(`<g>`);
    out.push(`<text x="${ox + PW / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${left}" y="${upper}" width="${right - left}" height="${lower - upper}" fill="none" stroke="#888888"/>`);
    out.push(`<text x="${left - 4}" y="${upper + 4}" text-anchor="end">${esc(formatTick(hi))}</text>`);
    out.push(`<text x="${left - 4}" y="${lower}" text-anchor="end">${esc(formatTick(lo))}</text>`);
    out.push(`<text x="${left}" y="${lower + 14}" text-anchor="start">${x0}</text>`);
    out.push(`<text x="${right}" y="${lower + 14}" text-anchor="end">${x1}</text>`);
    out.push(`<text x="${(left + right) / 2}" y="${lower + 14}" text-anchor="middle" fill="#666666">step</text>`);
    panel.series.forEach((k, j) => {
      const pts = stats.filter((s) => Number.isFinite(s[k] ?? NaN)).map((s) => `${sx(s.step).toFixed(1)},${sy(s[k] ?? NaN).toFixed(1)}`);
      out.push(`<polyline data-series="${k}" fill="none" stroke="${COLORS[j % COLORS.length]}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
      if (panel.series.length > 1) {
        out.push(`<text x="${right - 4}" y="${upper + 12 + 12 * j}" text-anchor="end" fill="${COLORS[j % COLORS.length]}">${esc(k)}</text>`);
      }
    });
    out.push(`</g>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
