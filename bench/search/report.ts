// The search benchmark's figures as one JSON-able record per collection, and as markdown tables
// ready for bench/RESULTS.md.
import type { BuildFigures } from './build-index.js';
import { exactnessWarnings, settingLabel, type SettingFigures } from './measure.js';

export interface CollectionResult {
  collection: string;
  description: string;
  seed: number;
  build: BuildFigures & { options: Record<string, unknown>; reused: boolean; openSeconds: number };
  queries: number;
  avgQueryTerms: number;
  rows: SettingFigures[];
  /** The search process's peak resident set, build included unless the index was reused. */
  peakRssBytes: number;
}

export interface BenchRun {
  command: string;
  machine: string;
  node: string;
  started: string;
  loadAverage: number[];
  repeat: number;
  results: CollectionResult[];
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const ratio = (base: number | undefined, x: number) => (base === undefined ? '-' : `${(base / x).toFixed(1)}x`);

export function buildTable(results: CollectionResult[]): string {
  const lines = [
    '| collection | documents | postings (a document) | build options | generation + build | of which generation | build alone | M postings/s (both) | peak RSS (build) | index bytes | bytes a posting |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const b = r.build;
    lines.push(`| ${r.collection} | ${b.docs} | ${b.postings} (${(b.postings / b.docs).toFixed(1)}) | ${Object.keys(b.options).length ? JSON.stringify(b.options) : '-'} | ${b.seconds.toFixed(1)} s${b.reused ? ' (earlier run)' : ''} | ${b.generationSeconds.toFixed(1)} s | ${(b.seconds - b.generationSeconds).toFixed(1)} s | ${(b.postingsPerSecond / 1e6).toFixed(2)} | ${gib(b.peakRssBytes)} | ${mib(b.fileBytes)} | ${b.bytesPerPosting.toFixed(3)} |`);
  }
  return lines.join('\n');
}

export function searchTable(r: CollectionResult): string {
  const lines = [
    `| k | algorithm | mean ms | p50 ms | p99 ms | vs exhaustive | vs maxscore | postings scored / query | recall@k |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const k of [...new Set(r.rows.map((x) => x.k))]) {
    const rows = r.rows.filter((x) => x.k === k);
    const exhaustive = rows.find((x) => x.algorithm === 'exhaustive')?.meanMs;
    const maxscore = (rows.find((x) => x.algorithm === 'maxscore' && Object.keys(x.options).length === 0) ?? rows.find((x) => x.algorithm === 'maxscore'))?.meanMs;
    for (const x of rows) {
      const recall = `${x.recall.toFixed(3)}${x.exact && (x.differing > 0 || x.recall < 1) ? ' **NOT EXACT**' : ''}`;
      lines.push(`| ${k} | ${settingLabel(x)} | ${x.meanMs.toFixed(2)} | ${x.p50Ms.toFixed(2)} | ${x.p99Ms.toFixed(2)} | ${ratio(exhaustive, x.meanMs)} | ${ratio(maxscore, x.meanMs)} | ${Math.round(x.postingsScored)} | ${recall} |`);
    }
  }
  return lines.join('\n');
}

export function markdownReport(run: BenchRun): string {
  const out = [
    `Command: \`${run.command}\``,
    '',
    `Machine: ${run.machine}, Node ${run.node}; load average at start ${run.loadAverage.map((l) => l.toFixed(2)).join(' ')}. One thread, synchronous search(); best of ${run.repeat} round(s) a query, rounds round-robin across the rows.`,
    '',
    buildTable(run.results),
  ];
  for (const r of run.results) {
    out.push('', `**${r.collection}**: ${r.description}. ${r.build.docs} documents, ${r.queries} queries (${r.avgQueryTerms.toFixed(1)} terms on average), seed ${r.seed}; index opened (checksums verified) in ${r.build.openSeconds.toFixed(2)} s; peak RSS of the search process ${gib(r.peakRssBytes)}.`, '', searchTable(r));
    const warnings = exactnessWarnings(r.rows);
    if (warnings.length > 0) out.push('', ...warnings);
  }
  return out.join('\n');
}
