// Search benchmark: a synthetic collection with SPLADE's statistics (30522-term vocabulary, Zipfian
// term frequency, ~120 terms a document and ~25 a query, skewed weights, frequent terms weighted
// lower as SPLADE does), generated deterministically from a seed. Reports build time and rate,
// bytes per posting on disk, and mean / p50 / p99 milliseconds per query for every algorithm on one
// thread (synchronous search), at k = 10 and k = 1000.
//
//   npx tsx bench/search/search.bench.ts [--docs 1000000] [--queries 1000] [--k 10,1000]
//       [--algorithms exhaustive,wand,maxscore,bmw] [--seed 1] [--repeat 1]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InvertedIndex, type SparseVector } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const NUM_DOCS = Number(arg('docs', '1000000'));
const NUM_QUERIES = Number(arg('queries', '1000'));
const KS = arg('k', '10,1000').split(',').map(Number);
const ALGORITHMS = arg('algorithms', 'exhaustive,wand,maxscore,bmw').split(',') as ('exhaustive' | 'wand' | 'maxscore' | 'bmw')[];
const SEED = Number(arg('seed', '1'));
const REPEAT = Number(arg('repeat', '1'));
const VOCAB = 30522;
const DOC_TERMS = 120;
const QUERY_TERMS = 25;
const ZIPF_S = 1.0;

/** Flat arrays: vector i is [offsets[i], offsets[i+1]) of indices / values. */
interface Flat { indices: Uint32Array; values: Float32Array; offsets: Uint32Array }

function generate(count: number, meanTerms: number, spread: number, r: () => number, term: () => number, rankOf: Uint32Array): Flat {
  const cap = Math.ceil(count * meanTerms * 1.6) + 1024;
  const indices = new Uint32Array(cap);
  const values = new Float32Array(cap);
  const offsets = new Uint32Array(count + 1);
  const stamp = new Int32Array(VOCAB).fill(-1);
  const logV = Math.log(VOCAB);
  let at = 0;
  for (let d = 0; d < count; d++) {
    // Length: mean meanTerms, from meanTerms/2 to 3 meanTerms/2.
    const len = Math.max(1, Math.round(meanTerms * (0.5 + r())));
    const start = at;
    for (let tries = 0; at - start < len && tries < len * 4; tries++) {
      const t = term();
      if (stamp[t] === d) continue;
      stamp[t] = d;
      indices[at++] = t;
    }
    indices.subarray(start, at).sort();
    for (let i = start; i < at; i++) {
      // Skewed weights: log-normal (approximate gaussian from 4 uniforms), and frequent terms weigh
      // less, as SPLADE's FLOPS regularisation makes them: an idf-like factor
      // max(0.05, (ln(1 + rank) / ln V)^2), from 0.05 for the most frequent terms to 1 for the rarest.
      const g = (r() + r() + r() + r() - 2) * 1.7;
      const lr = Math.log(1 + rankOf[indices[i]]) / logV;
      const idf = Math.max(0.05, lr * lr);
      values[i] = Math.exp(spread * g) * idf;
    }
    offsets[d + 1] = at;
  }
  return { indices: indices.subarray(0, at), values: values.subarray(0, at), offsets };
}

function* vectors(f: Flat): Generator<SparseVector> {
  for (let i = 0; i + 1 < f.offsets.length; i++) {
    yield { indices: f.indices.subarray(f.offsets[i], f.offsets[i + 1]), values: f.values.subarray(f.offsets[i], f.offsets[i + 1]) };
  }
}

function main(): void {
  const r = mulberry32(SEED);
  const cdf = new Float64Array(VOCAB);
  let acc = 0;
  for (let i = 0; i < VOCAB; i++) cdf[i] = acc += 1 / Math.pow(i + 1, ZIPF_S);
  const perm = new Uint32Array(VOCAB);
  for (let i = 0; i < VOCAB; i++) perm[i] = i;
  for (let i = VOCAB - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  const rankOf = new Uint32Array(VOCAB);
  for (let i = 0; i < VOCAB; i++) rankOf[perm[i]] = i;
  const term = () => {
    const u = r() * acc;
    let lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1; else hi = mid;
    }
    return perm[lo];
  };

  let t0 = performance.now();
  const docs = generate(NUM_DOCS, DOC_TERMS, 0.6, r, term, rankOf);
  const queries = generate(NUM_QUERIES, QUERY_TERMS, 0.8, r, term, rankOf);
  const genMs = performance.now() - t0;
  const postings = docs.indices.length;
  console.log(`generated ${NUM_DOCS} documents (${postings} postings, ${(postings / NUM_DOCS).toFixed(1)} a document) and ${NUM_QUERIES} queries in ${(genMs / 1000).toFixed(1)} s`);

  let ix: InvertedIndex | undefined;
  let buildMs = Infinity;
  for (let rep = 0; rep < REPEAT; rep++) {
    ix?.dispose();
    t0 = performance.now();
    ix = InvertedIndex.build(vectors(docs), { vocabSize: VOCAB });
    buildMs = Math.min(buildMs, performance.now() - t0);
  }
  const dir = mkdtempSync(join(tmpdir(), 'splade-bench-'));
  const file = join(dir, 'bench.idx');
  t0 = performance.now();
  ix!.save(file);
  const saveMs = performance.now() - t0;
  const fileBytes = statSync(file).size;
  ix!.dispose();
  t0 = performance.now();
  const index = InvertedIndex.open(file);
  const openMs = performance.now() - t0;
  console.log(`build ${(buildMs / 1000).toFixed(2)} s (${(postings / buildMs / 1000).toFixed(2)} M postings/s), save ${(saveMs / 1000).toFixed(2)} s, open (verifies checksums) ${(openMs / 1000).toFixed(2)} s`);
  console.log(`file ${(fileBytes / 2 ** 20).toFixed(1)} MiB, ${(fileBytes / postings).toFixed(3)} bytes a posting (impacts, block maxima, term table and all included)`);

  const qs = [...vectors(queries)];
  const rows: string[] = [];
  for (const k of KS) {
    const base = new Map<number, number>();
    for (const algorithm of ALGORITHMS) {
      const times = new Float64Array(qs.length).fill(Infinity);
      let scored = 0;
      for (let rep = 0; rep < REPEAT; rep++) {
        scored = 0;
        for (let i = 0; i < qs.length; i++) {
          const s = performance.now();
          const res = index.search(qs[i], { k, algorithm });
          times[i] = Math.min(times[i], performance.now() - s);
          scored += res.postingsScored;
        }
      }
      const sorted = Array.from(times).sort((a, b) => a - b);
      const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
      const p = (x: number) => sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))];
      if (algorithm === 'exhaustive') base.set(k, mean);
      const speedup = base.has(k) ? `${(base.get(k)! / mean).toFixed(1)}x` : '';
      const row = `| ${k} | ${algorithm} | ${mean.toFixed(2)} | ${p(0.5).toFixed(2)} | ${p(0.99).toFixed(2)} | ${speedup} | ${Math.round(scored / qs.length)} |`;
      rows.push(row);
      console.log(row);
    }
  }
  console.log('\n| k | algorithm | mean ms | p50 ms | p99 ms | speed-up vs exhaustive | postings scored / query |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  index.dispose();
  rmSync(dir, { recursive: true, force: true });
}

main();
