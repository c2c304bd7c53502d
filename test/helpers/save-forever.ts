// Child process of test/reliability.test.ts: builds an index of DOCS documents, prints `ready`, then
// saves it to PATH over and over until it is killed (the test kills it with SIGKILL mid-save).
//   node --import tsx test/helpers/save-forever.ts PATH DOCS
import { InvertedIndex } from '../../lib/search/inverted-index.js';
import type { SparseVector } from '../../lib/sparse.js';

const [path, docsArg] = process.argv.slice(2);
function* docs(): Generator<SparseVector> {
  for (let d = 0; d < Number(docsArg); d++) {
    const terms = [...new Set(Array.from({ length: 40 }, (_, k) => (d * 7 + k * 131) % 30000))].sort((a, b) => a - b);
    yield { indices: Uint32Array.from(terms), values: Float32Array.from(terms, (_, k) => 1 + k) };
  }
}
const index = InvertedIndex.build(docs());
index.save(path);
console.log('ready');
for (;;) index.save(path);
