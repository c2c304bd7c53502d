// CIFF read back into an InvertedIndex answers exactly as the index built from the original vectors:
// both quantize impacts to 8 bits with the same scale, so the rebuilt postings are the same.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { ciffToDocuments, InvertedIndex, writeCiff, type SparseVector } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-ciff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rng = mulberry32;

function randomVector(rand: () => number, vocab: number, terms: number): SparseVector {
  const set = new Set<number>();
  while (set.size < terms) set.add(Math.min(vocab - 1, Math.floor(vocab * rand() ** 2.5)));
  const indices = Uint32Array.from([...set].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, () => 0.05 + 3 * rand() ** 2) };
}

describe('CIFF round trip through the InvertedIndex', () => {
  it('gives identical top-k ids and scores for every algorithm', async () => {
    const rand = rng(7);
    const V = 400;
    const vocab = Array.from({ length: V }, (_, i) => `t${i}`);
    const docs = Array.from({ length: 500 }, (_, i) => ({ id: `doc${i}`, vector: randomVector(rand, V, 5 + Math.floor(rand() * 40)) }));
    const queries = Array.from({ length: 30 }, () => randomVector(rand, V, 1 + Math.floor(rand() * 12)));

    const path = join(dir, 'c.ciff');
    const { scale } = await writeCiff(docs, vocab, path);
    const original = InvertedIndex.build(docs.map((d) => d.vector), { docIds: docs.map((d) => d.id), scale, vocabSize: V });
    const back = await ciffToDocuments(path, vocab);
    expect(back.map((d) => d.id)).toEqual(docs.map((d) => d.id));
    const rebuilt = InvertedIndex.build(back.map((d) => d.vector), { docIds: back.map((d) => d.id), scale, vocabSize: V });
    expect(rebuilt.numPostings).toBe(original.numPostings);

    for (const q of queries) {
      for (const algorithm of ['exhaustive', 'maxscore', 'wand', 'bmw'] as const) {
        const a = original.search(q, { k: 20, algorithm });
        const b = rebuilt.search(q, { k: 20, algorithm });
        expect(b.docIds).toEqual(a.docIds);
        expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
      }
    }
  });
});
