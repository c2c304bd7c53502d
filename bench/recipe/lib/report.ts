/*
 * The leave-one-out report, generated from a run's results (bench/recipe/loo.ts writes them):
 * a Markdown table per metric (nDCG@10, RR@10, Recall@100 for BM25, the trained SPLADE and the two
 * fused) with the average row, the efficiency figures, the stage timings, and a grouped-bar SVG of
 * nDCG@10 per held-out collection. Hand-written SVG, no dependencies.
 */
import type { Efficiency } from '../../../lib/eval/efficiency.js';
import { formatTick } from '../../../lib/train/plot.js';

export interface LooRow {
  collection: string; queries: number; documents: number; trainQueries: number; encodeSeconds: number;
  bm25: Record<string, number>; splade: Record<string, number>; fusedSum: Record<string, number>; fusedRrf: Record<string, number>;
  /** The same document index searched with inference-free idf queries (absent in older results). */
  spladeIdf?: Record<string, number>;
  /**
   * Zero-shot: the pseudo-query models (no judged query of any collection) with idf queries; with
   * several, the sum of their max-normalised runs; spladeZeroParts: each model alone.
   */
  spladeZero?: Record<string, number>; spladeZeroParts?: Record<string, Record<string, number>>;
  /** norm(BM25) + w norm(SPLADE), w and norm chosen by nested leave-one-out (encoder / idf queries / zero-shot). */
  fusedChosen?: Record<string, number>; fusedIdfChosen?: Record<string, number>; fusedZeroChosen?: Record<string, number>;
  fusionChoice?: Partial<Record<ChosenKey, { weight: number; norm: string; chosenOn: string[] }>>;
  spladeEfficiency: Efficiency; spladeIdfEfficiency?: Efficiency; bm25Efficiency: Efficiency;
  /**
   * The zero-shot run as served: terms per document, FLOPS and index size summed over its models'
   * indexes; latency per query of all their searches plus the fusion; encoding every model's index.
   */
  spladeZeroEfficiency?: Efficiency & { models: number; encodeSeconds: number };
}

export interface LooResults {
  started: string; finished: string; totalSeconds: number; machine: string;
  load: { mean: number; min: number; max: number };
  setup: Record<string, unknown>;
  stages: Array<{ name: string; seconds: number; load: [number, number] }>;
  rows: LooRow[];
}

const ALL_SYSTEMS = [
  { key: 'bm25', label: 'BM25 (k1 0.9, b 0.4)', color: '#7f7f7f' },
  { key: 'splade', label: 'SPLADE (trained)', color: '#1f77b4' },
  { key: 'spladeIdf', label: 'SPLADE, idf queries', color: '#17becf' },
  { key: 'spladeZero', label: 'SPLADE zero-shot, idf queries', color: '#bcbd22' },
  { key: 'fusedSum', label: 'SPLADE + BM25 (score sum)', color: '#2ca02c' },
  { key: 'fusedRrf', label: 'SPLADE + BM25 (RRF)', color: '#ff7f0e' },
  { key: 'fusedChosen', label: 'SPLADE + BM25 (LOO weight)', color: '#9467bd' },
  { key: 'fusedIdfChosen', label: 'SPLADE idf-q + BM25 (LOO weight)', color: '#d62728' },
  { key: 'fusedZeroChosen', label: 'zero-shot + BM25 (LOO weight)', color: '#8c564b' },
] as const;
type ChosenKey = 'fusedChosen' | 'fusedIdfChosen' | 'fusedZeroChosen';
type SystemKey = (typeof ALL_SYSTEMS)[number]['key'];
type SpladeKey = 'splade' | 'spladeIdf' | 'spladeZero';
type FusedKey = 'fusedSum' | 'fusedRrf' | ChosenKey;
const value = (row: LooRow, key: SystemKey, m: string): number => row[key]?.[m] ?? NaN;
/** The systems every row has (older results have no idf-query or chosen-weight runs). */
const systemsOf = (r: LooResults) => ALL_SYSTEMS.filter((s) => r.rows.length > 0 && r.rows.every((row) => row[s.key] !== undefined));
const METRICS: Array<[string, string]> = [['ndcg@10', 'nDCG@10'], ['mrr@10', 'RR@10'], ['recall@100', 'Recall@100']];

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const f3 = (x: number) => x.toFixed(3);

/** Whether the goals hold: SPLADE's mean nDCG@10 above BM25's; fused above BM25 on every collection. */
export function looGoals(r: LooResults, fused: FusedKey = 'fusedSum', splade: SpladeKey = 'splade'): { spladeMean: number; bm25Mean: number; spladeBeatsMean: boolean; fusedBeatsAll: boolean; underHour: boolean } {
  const spladeMean = mean(r.rows.map((x) => value(x, splade, 'ndcg@10')));
  const bm25Mean = mean(r.rows.map((x) => x.bm25['ndcg@10']));
  return {
    spladeMean, bm25Mean, spladeBeatsMean: spladeMean > bm25Mean,
    fusedBeatsAll: r.rows.length > 0 && r.rows.every((x) => value(x, fused, 'ndcg@10') > x.bm25['ndcg@10']),
    underHour: r.totalSeconds < 3600,
  };
}

export function looReportMarkdown(r: LooResults, opts: { plot?: string } = {}): string {
  const out: string[] = [];
  const g = looGoals(r);
  const SYSTEMS = systemsOf(r);
  out.push(`Run ${r.started} to ${r.finished}: ${(r.totalSeconds / 60).toFixed(1)} min wall on ${r.machine}; load average during the run ${r.load.mean.toFixed(2)} (min ${r.load.min.toFixed(2)}, max ${r.load.max.toFixed(2)}).`, '');
  for (const [m, label] of METRICS) {
    out.push(`**${label}** (held-out collection; the fold models trained on the other four${SYSTEMS.some((x) => x.key === 'spladeZero') ? ', the zero-shot ones on corpus text alone' : ''})`, '');
    out.push(`| collection | queries | ${SYSTEMS.map((s) => s.label).join(' | ')} |`);
    out.push(`|---|---|${SYSTEMS.map(() => '---').join('|')}|`);
    for (const row of r.rows) out.push(`| ${row.collection} | ${row.queries} | ${SYSTEMS.map((s) => f3(value(row, s.key, m))).join(' | ')} |`);
    out.push(`| **mean** | | ${SYSTEMS.map((s) => `**${f3(mean(r.rows.map((row) => value(row, s.key, m))))}**`).join(' | ')} |`, '');
  }
  if (opts.plot) out.push(`![nDCG@10 per held-out collection](${opts.plot})`, '');
  const chosen = (['fusedChosen', 'fusedIdfChosen', 'fusedZeroChosen'] as const).filter((k) => r.rows.every((row) => row.fusionChoice?.[k]));
  if (chosen.length) {
    out.push('**Fusion weights** chosen by nested leave-one-out: for each held-out collection, the score normalisation and the weight w of fused = norm(BM25) + w norm(SPLADE) with the best mean nDCG@10 over the other four folds\' held-out evaluations (the held-out judgments never choose)', '');
    out.push(`| collection | ${chosen.map((k) => ALL_SYSTEMS.find((s) => s.key === k)!.label).join(' | ')} |`, `|---|${chosen.map(() => '---').join('|')}|`);
    for (const row of r.rows) out.push(`| ${row.collection} | ${chosen.map((k) => `${row.fusionChoice![k]!.norm}, w ${row.fusionChoice![k]!.weight}`).join(' | ')} |`);
    out.push('');
  }
  const parts = r.rows.every((row) => row.spladeZeroParts) ? Object.keys(r.rows[0]?.spladeZeroParts ?? {}) : [];
  if (parts.length > 1) {
    out.push(`**Zero-shot models alone** (nDCG@10, idf queries; the zero-shot row ${r.setup.zeroShotEnsemble === 'sum' ? 'searches the sum of their document vectors' : 'sums their max-normalised runs'})`, '');
    out.push(`| model | ${r.rows.map((row) => row.collection).join(' | ')} | mean |`, `|---|${r.rows.map(() => '---').join('|')}|---|`);
    for (const p of parts) {
      const v = r.rows.map((row) => row.spladeZeroParts![p]?.['ndcg@10'] ?? NaN);
      out.push(`| ${p} | ${v.map(f3).join(' | ')} | ${f3(mean(v))} |`);
    }
    out.push('');
  }
  out.push('**Efficiency of the fold model** (trained SPLADE, 2-layer encoder, its query encoder; latency: one query at a time, MaxScore over the compressed index, one thread; BM25 over the native index)', '');
  out.push('| collection | documents | terms/doc | terms/query | FLOPS | index MiB | SPLADE ms mean / p99 | BM25 ms mean / p99 | corpus encode s |');
  out.push('|---|---|---|---|---|---|---|---|---|');
  for (const row of r.rows) {
    const e = row.spladeEfficiency, b = row.bm25Efficiency;
    out.push(`| ${row.collection} | ${row.documents} | ${e.avgDocTerms?.toFixed(1)} | ${e.avgQueryTerms?.toFixed(1)} | ${e.flops?.toFixed(2)} | ${((e.indexBytes ?? 0) / 2 ** 20).toFixed(2)} | ${e.latencyMs?.mean.toFixed(3)} / ${e.latencyMs?.p99.toFixed(3)} | ${b.latencyMs?.mean.toFixed(3)} / ${b.latencyMs?.p99.toFixed(3)} | ${row.encodeSeconds.toFixed(1)} |`);
  }
  const zero = r.rows.every((row) => row.spladeZeroEfficiency) ? r.rows.map((row) => row.spladeZeroEfficiency!) : [];
  if (zero.length) {
    const how = r.setup.zeroShotEnsemble === 'sum'
      ? "one index of the models' document vectors summed; latency: one query at a time, one MaxScore search, one thread"
      : "terms/doc, FLOPS and index summed over the models' indexes; latency: one query at a time, every model's MaxScore search plus the fusion, one thread";
    out.push('', `**Efficiency of the zero-shot run** (${zero[0].models} models with idf queries, no query encoder pass; ${how})`, '');
    out.push('| collection | documents | terms/doc | terms/query | FLOPS | index MiB | ms mean / p99 | BM25 ms mean / p99 | corpus encode s |');
    out.push('|---|---|---|---|---|---|---|---|---|');
    r.rows.forEach((row, i) => {
      const e = zero[i], b = row.bm25Efficiency;
      out.push(`| ${row.collection} | ${row.documents} | ${e.avgDocTerms?.toFixed(1)} | ${e.avgQueryTerms?.toFixed(1)} | ${e.flops?.toFixed(2)} | ${((e.indexBytes ?? 0) / 2 ** 20).toFixed(2)} | ${e.latencyMs?.mean.toFixed(3)} / ${e.latencyMs?.p99.toFixed(3)} | ${b.latencyMs?.mean.toFixed(3)} / ${b.latencyMs?.p99.toFixed(3)} | ${e.encodeSeconds.toFixed(1)} |`);
    });
  }
  out.push('', '**Stages** (wall seconds; load average at start -> end)', '');
  out.push('| stage | seconds | load |', '|---|---|---|');
  for (const s of r.stages) out.push(`| ${s.name} | ${s.seconds.toFixed(1)} | ${s.load[0].toFixed(2)} -> ${s.load[1].toFixed(2)} |`);
  out.push(`| **total** | **${r.totalSeconds.toFixed(0)}** | mean ${r.load.mean.toFixed(2)} |`, '');
  out.push('**Goals**', '');
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  for (const s of SYSTEMS.filter((x) => x.key === 'splade' || x.key === 'spladeIdf' || x.key === 'spladeZero')) {
    const gs = looGoals(r, 'fusedSum', s.key as SpladeKey);
    out.push(`- ${s.label} alone beats BM25's mean nDCG@10: ${yes(gs.spladeBeatsMean)} (${f3(gs.spladeMean)} vs ${f3(gs.bm25Mean)})`);
  }
  for (const s of SYSTEMS.filter((x) => x.key.startsWith('fused'))) {
    const gf = looGoals(r, s.key as FusedKey);
    out.push(`- ${s.label} beats BM25 on every held-out collection: ${yes(gf.fusedBeatsAll)} (${r.rows.map((x) => `${x.collection} ${f3(value(x, s.key, 'ndcg@10'))} vs ${f3(x.bm25['ndcg@10'])}`).join('; ')})`);
  }
  out.push(`- the whole recipe in under an hour: ${yes(g.underHour)} (${(r.totalSeconds / 60).toFixed(1)} min, shared machine at load ${r.load.mean.toFixed(1)})`, '');
  out.push('Setup:', '', '```json', JSON.stringify(r.setup, null, 1).replace(/\n\s*/g, ' '), '```', '');
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Grouped bars: nDCG@10 of each system on each held-out collection, plus the mean. */
export function looPlotSvg(r: LooResults, metric = 'ndcg@10'): string {
  const SYSTEMS = systemsOf(r);
  const groups = [...r.rows.map((row) => ({ name: row.collection, v: SYSTEMS.map((s) => value(row, s.key, metric)) })),
    { name: 'mean', v: SYSTEMS.map((s) => mean(r.rows.map((row) => value(row, s.key, metric)))) }];
  // the legend: three entries per line under the axis
  const legendRows = Math.ceil(SYSTEMS.length / 3);
  const W = 760, ML = 50, MR = 10, MT = 40, MB = 30 + 14 * legendRows, H = 290 + 14 * legendRows;
  const hi = Math.max(0.1, ...groups.flatMap((gr) => gr.v)) * 1.1;
  const gw = (W - ML - MR) / groups.length, bw = (gw * 0.8) / SYSTEMS.length;
  const y = (v: number) => H - MB - (v / hi) * (H - MT - MB);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="14">${esc(`${metric} on the held-out collection (leave-one-out)`)}</text>`,
    `<line x1="${ML}" y1="${H - MB}" x2="${W - MR}" y2="${H - MB}" stroke="#888888"/>`,
    `<line x1="${ML}" y1="${MT}" x2="${ML}" y2="${H - MB}" stroke="#888888"/>`,
  ];
  for (const t of [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi)) {
    out.push(`<text x="${ML - 4}" y="${y(t) + 4}" text-anchor="end">${esc(formatTick(Number(t.toFixed(2))))}</text>`);
    out.push(`<line x1="${ML}" y1="${y(t)}" x2="${W - MR}" y2="${y(t)}" stroke="#eeeeee"/>`);
  }
  groups.forEach((gr, gi) => {
    const x0 = ML + gi * gw + gw * 0.1;
    gr.v.forEach((v, si) => out.push(`<rect data-system="${SYSTEMS[si].key}" data-value="${v.toFixed(4)}" x="${(x0 + si * bw).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(H - MB - y(v)).toFixed(1)}" fill="${SYSTEMS[si].color}"/>`));
    out.push(`<text x="${(x0 + (gw * 0.8) / 2).toFixed(1)}" y="${H - MB + 14}" text-anchor="middle">${esc(gr.name)}</text>`);
  });
  SYSTEMS.forEach((s, si) => {
    const lx = ML + 10 + (si % 3) * 230, ly = H - 14 * (legendRows - Math.floor(si / 3)) - 2;
    out.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="${ly + 9}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
