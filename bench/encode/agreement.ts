// Agreement of the reduced-precision modes (bf16, int8) with fp32 on the bench model (bench/encode/encode.bench.ts's checkpoint,
// random weights, std 0.02) with the bert-base-uncased tokenizer, on the bundled MED collection
// (data/med: 1033 documents, 30 queries): cosine of the vectors, top-64 term overlap, and the ranking
// (exhaustive dot products): nDCG@10 of each run, and how many of fp32's top 10 each mode keeps.
// Random weights make the vectors dense and the scores close together: a harder test of the
// ranking's stability than a trained, sparse model would be (its effectiveness means nothing).
//   npx tsx bench/encode/agreement.ts        (SPLADE_BENCH_LAYERS=6, SPLADE_AGREE_MAXLEN=128, 2 threads)
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeModel, evaluate, loadBeir, setThreads } from '../../lib/index.js';
import type { Run } from '../../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const L = Number(process.env.SPLADE_BENCH_LAYERS ?? 6), MAXLEN = Number(process.env.SPLADE_AGREE_MAXLEN ?? 128);
const bench = join(here, '..', '.cache', `bert-L${L}-C768`);
if (!existsSync(join(bench, 'model.safetensors'))) throw new Error(`${bench}: run encode.bench.ts first (it writes the checkpoint)`);
const dir = join(here, '..', '.cache', `bert-L${L}-C768-tok`);
mkdirSync(dir, { recursive: true });
for (const f of ['model.safetensors', 'config.json'])
  if (!existsSync(join(dir, f))) symlinkSync(join(bench, f), join(dir, f));
const tokenizer = join(here, '..', '..', '..', 'shared', 'data', 'bert-base-uncased', 'tokenizer.json');
copyFileSync(existsSync(tokenizer) ? tokenizer : '/work/shared/data/bert-base-uncased/tokenizer.json', join(dir, 'tokenizer.json'));
setThreads(2);

const med = await loadBeir(join(here, '..', '..', 'data', 'med'));
const docs: { id: string; text: string }[] = [];
for await (const d of med.corpus()) docs.push({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text });
const V = 30522;
const toDense = (v: { indices: Uint32Array; values: Float32Array }) => {
  const d = new Float32Array(V);
  v.indices.forEach((j, k) => (d[j] = v.values[k]));
  return d;
};
const enc: Record<string, { d: Float32Array[]; q: Float32Array[]; s: number }> = {};
type P = 'fp32' | 'bf16' | 'int8';
// SPLADE_AGREE_PRECISIONS: the modes to run (fp32 first: the reference); default all three
const PRECISIONS = (process.env.SPLADE_AGREE_PRECISIONS ?? 'fp32,bf16,int8').split(',') as P[];
for (const precision of PRECISIONS) {
  const model = await SpladeModel.load(dir, { precision });
  const t0 = performance.now();
  const d = (await model.encode(docs.map((x) => x.text), { maxLength: MAXLEN })).map(toDense);
  const q = (await model.encode(med.queries.map((x) => x.text), { kind: 'query', maxLength: MAXLEN })).map(toDense);
  enc[precision] = { d, q, s: (performance.now() - t0) / 1000 };
}

function vectorAgreement(a: Float32Array[], b: Float32Array[]) {
  let cos = 0, minCos = 1, overlap = 0;
  const top = (v: Float32Array) => new Set(Array.from(v.keys()).sort((x, y) => v[y] - v[x]).slice(0, 64).filter((j) => v[j] > 0));
  a.forEach((x, i) => {
    const y = b[i];
    let xy = 0, xx = 0, yy = 0;
    for (let j = 0; j < V; j++) (xy += x[j] * y[j]), (xx += x[j] * x[j]), (yy += y[j] * y[j]);
    const c = xy / Math.sqrt(xx * yy);
    cos += c, minCos = Math.min(minCos, c);
    const tx = top(x), ty = top(y);
    overlap += [...ty].filter((j) => tx.has(j)).length / Math.max(1, tx.size);
  });
  return { cos: cos / a.length, minCos, overlap: overlap / a.length };
}

function run(p: string): Run {
  const r: Run = {};
  med.queries.forEach((q, i) => {
    const qv = enc[p].q[i];
    const nz = Array.from(qv.keys()).filter((j) => qv[j] > 0);
    const scores = enc[p].d.map((dv) => nz.reduce((s, j) => s + qv[j] * dv[j], 0));
    const top = scores.map((s, k) => [s, k] as const).sort((x, y) => y[0] - x[0]).slice(0, 100);
    r[q.id] = Object.fromEntries(top.map(([s, k]) => [docs[k].id, s]));
  });
  return r;
}
const runs = Object.fromEntries(PRECISIONS.map((p) => [p, run(p)])) as Record<P, Run>;
const ndcg = (p: P) => evaluate(runs[p], med.qrels, ['ndcg@10']).mean['ndcg@10'];
const top10 = (r: Record<string, number>) => Object.entries(r).sort((x, y) => y[1] - x[1]).slice(0, 10).map((e) => e[0]);
console.log(`MED: ${docs.length} documents, ${med.queries.length} queries, maxLength ${MAXLEN}, L=${L}; encode s: ${PRECISIONS.map((p) => `${p} ${enc[p].s.toFixed(1)}`).join(', ')}`);
for (const p of PRECISIONS.slice(1)) {
  let kept = 0;
  for (const q of Object.keys(runs.fp32)) {
    const b = new Set(top10(runs[p][q]));
    kept += top10(runs.fp32[q]).filter((id) => b.has(id)).length / 10;
  }
  const dAgree = vectorAgreement(enc[p].d, enc.fp32.d), qAgree = vectorAgreement(enc[p].q, enc.fp32.q);
  console.log(`${p} documents: 1 - cosine ${(1 - dAgree.cos).toExponential(1)} (worst ${(1 - dAgree.minCos).toExponential(1)}), top-64 overlap ${(100 * dAgree.overlap).toFixed(1)}%`);
  console.log(`${p} queries:   1 - cosine ${(1 - qAgree.cos).toExponential(1)} (worst ${(1 - qAgree.minCos).toExponential(1)}), top-64 overlap ${(100 * qAgree.overlap).toFixed(1)}%`);
  console.log(`${p} ranking:   nDCG@10 fp32 ${ndcg('fp32').toFixed(4)}, ${p} ${ndcg(p).toFixed(4)} (difference ${(ndcg(p) - ndcg('fp32')).toFixed(4)}); keeps ${(100 * kept / Object.keys(runs.fp32).length).toFixed(1)}% of fp32's top 10`);
}
