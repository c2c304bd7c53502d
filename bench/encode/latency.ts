// Encoder latency on one thread: a 16-token query (the search-time call, where every layer's weight is
// read once for few tokens, so packing the weights per product cost most) and a batch of 8 x 128-token
// documents, on the 6-layer, 768-wide bench model (random weights, bert-base vocabulary). Median and best
// of 100 query calls and 8 batch calls after a warm-up. To compare two builds of the addon, run it with
// SPLADE_ADDON=path/to/splade.node for each, alternating.
//   npx tsx bench/encode/latency.ts
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeModel, setThreads } from '../../lib/index.js';
import { makeBenchCheckpoint } from '../checkpoint.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'bert-L6-C768');
makeBenchCheckpoint(root, { layers: 6, hidden: 768 });
setThreads(Number(process.env.SPLADE_BENCH_THREADS ?? 1));
const model = await SpladeModel.load(root);
const query = [101, ...Array.from({ length: 14 }, (_, i) => 2000 + i * 37), 102];
const docs = Array.from({ length: 8 }, (_, d) => [101, ...Array.from({ length: 126 }, (_, i) => 1000 + ((i * 131 + d * 7) % 20000)), 102]);

async function time(n: number, fn: () => Promise<unknown>): Promise<{ median: number; best: number }> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(n / 2)], best: t[0] };
}

for (let i = 0; i < 5; i++) await model.encodeIds([query]); // warm-up: packs the weights, grows the workspace
const q = await time(100, () => model.encodeIds([query]));
const b = await time(8, () => model.encodeIds(docs));
console.log(`16-token query: median ${q.median.toFixed(2)} ms, best ${q.best.toFixed(2)}; 8 x 128 tokens: median ${b.median.toFixed(1)} ms, best ${b.best.toFixed(1)}`);
