// Child of test/live-ids.test.ts ("writer memory"): adds `docs` documents (4 postings each, ids of
// 48 characters) to a new live index in `dir` with a budget of `budgetMB`, a commit every 20,000,
// background merges on; prints RSS and JS heap (after a GC) once a quarter of them are in (the
// first merges have run by then: both workers are up) and at the end, as one JSON line. Run with
// --expose-gc.
import { rmSync } from 'node:fs';

import { IndexWriter } from '../../lib/index.js';

const [dir, docsArg, budgetArg] = process.argv.slice(2);
const N = Number(docsArg);
rmSync(dir, { recursive: true, force: true });
const w = await IndexWriter.open(dir, { ramBudgetMB: Number(budgetArg), vocabSize: 1000 });
const sample = () => {
  global.gc?.();
  return process.memoryUsage();
};
let quarter = { rss: 0, heapUsed: 0 };
const BATCH = 5000;
for (let at = 0; at < N; at += BATCH) {
  const docs = [];
  for (let i = at; i < Math.min(N, at + BATCH); i++) {
    const t = (i * 7919) % 996;
    docs.push({ id: `doc-${i}-`.padEnd(48, 'x'), vector: { indices: Uint32Array.of(t, t + 1, t + 2, t + 3), values: Float32Array.of(1, 2, 3, 1.5) } });
  }
  await w.add(docs);
  if ((at + BATCH) % 20000 === 0) await w.commit();
  if (at + BATCH === N / 4) quarter = sample();
}
await w.commit();
const end = sample();
await w.close();
console.log(JSON.stringify({ quarter: quarter.rss, end: end.rss, heapQuarter: quarter.heapUsed, heapEnd: end.heapUsed }));
