// A live index's merge, streamed (lib/live/merge-stream.ts): with chunks of a few postings, so runs
// split inside and between segments and a document longer than a chunk stands alone, the merged
// .vec file equals the live documents of the sources concatenated in order, deletions dropped, and
// the merged id table holds exactly their ids, renumbered, in hash order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { readSegmentDocs, segmentVectorFile, setDeleted, writeSegmentDocs, writeSegmentDocsStreamed, type SegmentDocs } from '../lib/live/files.js';
import { compareHash, idHash, idTableFile, IdTable, writeIdTable, writeIdTableOf } from '../lib/live/id-table.js';
import { MergeSources } from '../lib/live/merge-stream.js';
import { mulberry32 } from '../lib/random.js';
import { testSeeds } from './helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-merge-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every fifth id needs JSON escapes (a quote, a backslash) and holds the array's own punctuation.
function randomSegment(rand: () => number, name: string, docs: number): SegmentDocs {
  const lengths = Uint32Array.from({ length: docs }, () => Math.floor(rand() * 20));  // 0..19 postings, some empty
  const n = lengths.reduce((a, b) => a + b, 0);
  const d: SegmentDocs = { ids: Array.from({ length: docs }, (_, i) => (i % 5 === 0 ? `${name}-"q\\${i}é,]` : `${name}-${i}`)), lengths, indices: new Uint32Array(n), values: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    d.indices[i] = Math.floor(rand() * 1000);
    d.values[i] = rand() * 8;
  }
  return d;
}

describe.each(testSeeds(3))('streamed merge (seed %i)', (seed) => {
  it.each([1, 7, 64, 1 << 18])('chunks of %i postings: the same documents as concatenating the sources', (chunk) => {
    const rand = mulberry32(seed);
    const names = [`a${seed}`, `b${seed}`, `c${seed}`];
    const segs = names.map((name, i) => randomSegment(rand, name, [40, 1, 73][i]));
    names.forEach((name, i) => writeSegmentDocs(join(dir, segmentVectorFile(name)), segs[i]));
    const deleted = segs.map((s, i) => {
      if (i === 1) return null;
      const bits = new Uint8Array((s.lengths.length + 7) >> 3);
      for (let d = 0; d < s.lengths.length; d++) if (rand() < 0.3) setDeleted(bits, d);
      return bits;
    });
    // the model: kept documents, in order
    const want = { ids: [] as string[], lengths: [] as number[], indices: [] as number[], values: [] as number[] };
    segs.forEach((s, i) => {
      for (let d = 0, at = 0; d < s.lengths.length; at += s.lengths[d], d++) {
        if (deleted[i] && (deleted[i]![d >> 3] >> (d & 7)) & 1) continue;
        want.ids.push(s.ids[d]);
        want.lengths.push(s.lengths[d]);
        want.indices.push(...s.indices.subarray(at, at + s.lengths[d]));
        want.values.push(...s.values.subarray(at, at + s.lengths[d]));
      }
    });
    names.forEach((name, i) => writeIdTableOf(join(dir, idTableFile(name)), segs[i].ids, segs[i].lengths));
    const m = new MergeSources(dir, names.map((name, i) => ({ name, deleted: deleted[i] })), chunk);
    try {
      const where = `seed ${seed}, chunk ${chunk}`;
      expect(m.docs, where).toBe(want.ids.length);
      expect(m.postings, where).toBe(want.indices.length);
      const out = join(dir, segmentVectorFile(`m${seed}x${chunk}`));
      writeSegmentDocsStreamed(out, m.docs, m.postings, m.sectionBytes());
      const back = readSegmentDocs(out);  // checks the streamed checksum too
      expect(back.ids, where).toEqual(want.ids);
      expect(Array.from(back.lengths), where).toEqual(want.lengths);
      expect(Array.from(back.indices), where).toEqual(want.indices);
      expect(Array.from(back.values), where).toEqual(Array.from(Float32Array.from(want.values)));
      const tablePath = join(dir, idTableFile(`m${seed}x${chunk}`));
      writeIdTable(tablePath, m.docs, m.idEntries());
      const table = new IdTable(tablePath, true);
      const got = [...table.entries()].map((e) => ({ hi: e.hi, lo: e.lo, doc: e.doc, postings: e.postings, id: e.id.toString('utf8') }));
      table.close();
      const expected = want.ids.map((id, doc) => ({ ...idHash(id), doc, postings: want.lengths[doc], id }))
        .sort((x, y) => compareHash(x.hi, x.lo, y.hi, y.lo) || x.doc - y.doc);
      expect(got, where).toEqual(expected);
    } finally {
      m.close();
    }
  });
});
