// The live index's goals (issue 17), measured on the `splade` synthetic collection (mean 120 terms a
// document, weights below 8, the writer's default scale):
//   1. add throughput with a commit every --commit-every documents (postings/s, adds + commits +
//      the background merges they cause; each batch generated outside the clock, so the collection
//      is never in memory at once), and each commit's latency (p50 / p99 / max);
//   2. the writer's memory: RSS and JS heap above what the process held before the writer opened,
//      sampled every 50 ms, at a quarter, half and all of the collection; with --force-merge, then
//      a forceMerge(1) of the whole collection (peak RSS above the same base);
//   3. a merge's memory: RSS above the writer before a forceMerge(1) of --search-docs documents in
//      10 segments, sampled every 20 ms (the merge streams its sources and writes the new .idx
//      term by term);
//   4. search over 10 unmerged segments against the same documents merged into one (maxscore, bmp
//      and approximate with its default knobs, k = 10, ms a query, best of --rounds rounds, the two
//      readers taking turns; and the postings each scores a query).
// Run under `flock -x /tmp/bench.lock` on a shared machine. The kill test is kill.ts beside this.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { IndexWriter, InvertedIndex, info, type SparseVector } from '../../lib/index.js';
import { spladeCollection } from '../search/splade-collection.js';

const { values: a } = parseArgs({
  options: {
    docs: { type: 'string', default: '200000' }, 'commit-every': { type: 'string', default: '10000' }, 'budget-mb': { type: 'string', default: '64' }, 'flush-mb': { type: 'string', default: '4' },
    'search-docs': { type: 'string', default: '100000' }, queries: { type: 'string', default: '200' }, rounds: { type: 'string', default: '5' },
    'force-merge': { type: 'boolean', default: false }, 'skip-search': { type: 'boolean', default: false },
  },
});
const N = Number(a.docs), EVERY = Number(a['commit-every']), BUDGET = Number(a['budget-mb']), FLUSH = Number(a['flush-mb']);
const SEARCH_DOCS = Number(a['search-docs']), QUERIES = Number(a.queries), ROUNDS = Number(a.rounds);
const col = spladeCollection(1);
const root = mkdtempSync(join(tmpdir(), 'splade-live-bench-'));
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function generate(count: number): { id: string; vector: SparseVector }[] {
  let i = 0;
  return Array.from(col.documents(count) as Iterable<SparseVector>, (vector) => ({ id: `d${i++}`, vector }));
}

async function addThroughput(): Promise<void> {
  const stream = (col.documents(N) as Iterable<SparseVector>)[Symbol.iterator]();
  let next = 0;
  const batch = (count: number) => {
    const out: { id: string; vector: SparseVector }[] = [];
    for (let i = 0; i < count; i++) out.push({ id: `d${next++}`, vector: stream.next().value as SparseVector });
    return out;
  };
  let postings = 0;
  let secs = 0;
  global.gc?.();
  const base = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
  let peak = { rss: 0, heap: 0 };
  const marks: string[] = [];
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = { rss: Math.max(peak.rss, m.rss - base.rss), heap: Math.max(peak.heap, m.heapUsed - base.heap) };
  }, 50);
  const dir = join(root, 'add');
  const w = await IndexWriter.open(dir, { ramBudgetMB: BUDGET, flushMB: FLUSH });
  const commits: number[] = [];
  for (let at = 0; at < N; at += EVERY) {
    const docs = batch(Math.min(EVERY, N - at));
    for (const d of docs) postings += d.vector.indices.length;
    const t0 = performance.now();
    await w.add(docs);
    const c0 = performance.now();
    await w.commit();
    commits.push(performance.now() - c0);
    secs += (performance.now() - t0) / 1000;
    const done = Math.min(N, at + EVERY);
    if (done === N / 4 || done === N / 2 || done === N) marks.push(`${done} docs: peak RSS +${mib(peak.rss)} MiB, heap +${mib(peak.heap)} MiB, ${w.numSegments} segments, segment state ${(w.segmentStateBytes / 1024).toFixed(0)} KiB`);
  }
  if (a['force-merge']) {
    const f0 = performance.now();
    await w.forceMerge(1);
    await w.commit();
    marks.push(`forceMerge(1) of all ${N} (${((performance.now() - f0) / 1000).toFixed(1)} s): peak RSS +${mib(peak.rss)} MiB, heap +${mib(peak.heap)} MiB`);
  }
  clearInterval(sampler);
  await w.close();
  console.log(`add: ${N} documents, ${postings} postings, a commit every ${EVERY}, flushes at ${FLUSH} MiB: ${secs.toFixed(1)} s, ${(postings / secs / 1e6).toFixed(2)}M postings/s (${(N / secs).toFixed(0)} docs/s)`);
  console.log(`commit latency over ${commits.length} commits: p50 ${pct(commits, 50).toFixed(1)} ms, p99 ${pct(commits, 99).toFixed(1)} ms, max ${Math.max(...commits).toFixed(1)} ms`);
  console.log(`writer memory (budget ${BUDGET} MiB; above the process before open):\n  ${marks.join('\n  ')}`);
}

type TimedAlgorithm = 'maxscore' | 'bmp' | 'approximate';

/** ms a query, and postings scored a query. */
function timeQueries(ix: InvertedIndex, qs: SparseVector[], algorithm: TimedAlgorithm): { ms: number; postings: number } {
  let postings = 0;
  const t0 = performance.now();
  for (const q of qs) postings += ix.search(q, { k: 10, algorithm }).postingsScored;
  return { ms: (performance.now() - t0) / qs.length, postings: postings / qs.length };
}

async function segmentsVersusMerged(): Promise<void> {
  const docs = generate(SEARCH_DOCS);
  const qs = col.queries(QUERIES) as SparseVector[];
  const dir = join(root, 'search');
  const w = await IndexWriter.open(dir, { backgroundMerges: false, ramBudgetMB: 4096, flushMB: 2048 });
  const per = Math.ceil(SEARCH_DOCS / 10);
  for (let at = 0; at < SEARCH_DOCS; at += per) {
    await w.add(docs.slice(at, at + per));
    await w.commit();
  }
  const ten = InvertedIndex.open(dir);
  if (w.numSegments !== 10) throw new Error(`expected 10 segments, have ${w.numSegments}`);
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss - before); }, 20);
  await w.forceMerge(1);
  clearInterval(sampler);
  const postings = docs.reduce((n, d) => n + d.vector.indices.length, 0);
  console.log(`forceMerge(1) of ${SEARCH_DOCS} documents (${(postings / 1e6).toFixed(1)}M postings) in 10 segments: peak RSS +${mib(peak)} MiB (${(peak / postings).toFixed(1)} bytes a posting)`);
  await w.commit();
  await w.close();
  const one = ten.refresh();
  for (const algorithm of ['maxscore', 'bmp', 'approximate'] as const) {
    let best10 = Infinity, best1 = Infinity, postings10 = 0, postings1 = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const t10 = timeQueries(ten, qs, algorithm);
      const t1 = timeQueries(one, qs, algorithm);
      best10 = Math.min(best10, t10.ms);
      best1 = Math.min(best1, t1.ms);
      postings10 = t10.postings;
      postings1 = t1.postings;
    }
    console.log(`search ${algorithm}, k 10, ${SEARCH_DOCS} documents: 10 segments ${best10.toFixed(3)} ms a query, merged ${best1.toFixed(3)} ms: ` +
      `${(best10 / best1).toFixed(2)}x (postings scored a query: ${postings10.toFixed(0)} against ${postings1.toFixed(0)})`);
  }
  ten.dispose();
  one.dispose();
}

console.log(`cpu ${info().cpu}, ${info().threads} threads; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
try {
  await addThroughput();
  if (!a['skip-search']) await segmentsVersusMerged();
} finally {
  rmSync(root, { recursive: true, force: true });
}
