/*
 * The efficiency figures every run ends with: average terms per document and per query, FLOPS as
 * the SPLADE papers define it (the expected number of multiplications for one query-document pair,
 * sum over terms j of p_j(query) * p_j(document), p_j the fraction of queries / documents holding
 * term j), and latency percentiles.
 */
import type { SparseVector } from '../sparse.js';

/** Counts, per term, how many vectors hold it. Grows with the largest term id seen. */
export class TermStats {
  count = 0;
  totalTerms = 0;
  holders = new Float64Array(1024);

  add(v: SparseVector): void {
    this.count++;
    this.totalTerms += v.indices.length;
    const last = v.indices.length ? v.indices[v.indices.length - 1] : 0;
    if (last >= this.holders.length) {
      const grown = new Float64Array(Math.max(last + 1, this.holders.length * 2));
      grown.set(this.holders);
      this.holders = grown;
    }
    for (const t of v.indices) this.holders[t]++;
  }

  get averageTerms(): number {
    return this.count ? this.totalTerms / this.count : 0;
  }
}

/** FLOPS = sum_j (queries holding j / queries) * (documents holding j / documents). */
export function flops(queries: TermStats, docFreq: ArrayLike<number>, numDocs: number): number {
  if (!queries.count || !numDocs) return 0;
  let sum = 0;
  const n = Math.min(queries.holders.length, docFreq.length);
  for (let j = 0; j < n; j++) if (queries.holders[j]) sum += (queries.holders[j] / queries.count) * (docFreq[j] / numDocs);
  return sum;
}

/** p-th percentile (0..100) of the samples, nearest-rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Efficiency {
  avgDocTerms?: number;
  avgQueryTerms?: number;
  flops?: number;
  indexBytes?: number;
  latencyMs?: { mean: number; p50: number; p90: number; p99: number };
}

export function latencySummary(ms: number[]): Efficiency['latencyMs'] {
  return { mean: ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length), p50: percentile(ms, 50), p90: percentile(ms, 90), p99: percentile(ms, 99) };
}

export function formatEfficiency(e: Efficiency): string {
  const parts: string[] = [];
  if (e.avgDocTerms !== undefined) parts.push(`terms/doc ${e.avgDocTerms.toFixed(1)}`);
  if (e.avgQueryTerms !== undefined) parts.push(`terms/query ${e.avgQueryTerms.toFixed(1)}`);
  if (e.flops !== undefined) parts.push(`FLOPS ${e.flops.toFixed(3)}`);
  if (e.indexBytes !== undefined) parts.push(`index ${(e.indexBytes / 2 ** 20).toFixed(2)} MiB`);
  if (e.latencyMs) parts.push(`latency ms mean ${e.latencyMs.mean.toFixed(3)} p50 ${e.latencyMs.p50.toFixed(3)} p90 ${e.latencyMs.p90.toFixed(3)} p99 ${e.latencyMs.p99.toFixed(3)}`);
  return parts.join(', ');
}
