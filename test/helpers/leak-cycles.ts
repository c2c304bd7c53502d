// Child process of test/leak.test.ts: runs create / use / drop cycles of one kind and prints, as JSON,
// how much the resident set (RSS), V8's heap and the ArrayBuffers grew after the warm-up. Run apart
// from the test runner so that only these cycles move the figures.
//   node --expose-gc --import tsx test/helpers/leak-cycles.ts model|index-disposed|index-dropped WARMUP CYCLES [keep]
// `keep` holds every object alive: a leak on purpose, to show the measurement sees one.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { InvertedIndex, SpladeModel, type SparseVector } from '../../lib/index.js';

const [kind, warmupArg, cyclesArg, keepArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const kept: unknown[] = [];
const keep = keepArg === 'keep';
const MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models', 'bert');

// 8 documents of 120 words: the model handle's activations are ~0.1 MB of native memory.
const texts = Array.from({ length: 8 }, (_, i) => Array.from({ length: 120 }, (_, k) => ['the', 'cat', 'sat', 'mat', 'sparse', 'retrieval', 'model', 'index'][(i + k * 3) % 8]).join(' '));
// 2000 documents of 50 terms: ~1.2 MiB of native postings an index.
const docs: SparseVector[] = Array.from({ length: 2000 }, (_, d) => {
  const terms = [...new Set(Array.from({ length: 50 }, (_, k) => (d * 7 + k * 131) % 30000))].sort((a, b) => a - b);
  return { indices: Uint32Array.from(terms), values: Float32Array.from(terms, (_, k) => 1 + k) };
});

const cycles: Record<string, () => Promise<void>> = {
  async model() {
    const m = await SpladeModel.load(MODEL);
    await m.encode(texts);
    await m.encodeIdsBackward([[2, 10, 3]], new Float32Array(256).fill(1));
    if (keep) kept.push(m);
  },
  async 'index-disposed'() {
    const index = InvertedIndex.build(docs);
    if (index.search(docs[0], { k: 10 }).ids[0] !== 0) throw new Error('a document is not its own best match');
    if (keep) kept.push(index);
    else index.dispose();
  },
  async 'index-dropped'() {
    const index = InvertedIndex.build(docs);
    index.search(docs[1], { k: 10 });
    if (keep) kept.push(index);
  },
};
const cycle = cycles[kind];
if (!cycle) throw new Error(`unknown kind ${kind}; one of ${Object.keys(cycles).join(', ')}`);

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage();
}

for (let i = 0; i < Number(warmupArg); i++) await cycle();
const base = await settle();
for (let i = 0; i < Number(cyclesArg); i++) await cycle();
const after = await settle();
console.log(JSON.stringify({ rss: after.rss - base.rss, heapTotal: after.heapTotal - base.heapTotal, arrayBuffers: after.arrayBuffers - base.arrayBuffers, baseRss: base.rss }));
