// The worker thread that writes segments, so that flushes and merges never block the event loop:
// 'flush' builds a segment from buffered documents, 'merge' from the live documents of adjacent
// segments (read from their .vec files, in order). Both write sK.vec, then sK.idx (each atomically);
// neither is referenced until a commit lists the segment. Runs with the same addon as the caller.
import { parentPort } from 'node:worker_threads';
import { join } from 'node:path';

import { InvertedIndex } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import { isDeleted, readSegmentDocs, segmentIndexFile, segmentVectorFile, writeSegmentDocs, type SegmentDocs } from './files.js';
import type { LiveIndexOptions } from './manifest.js';

export type WorkerTask =
  | { op: 'flush'; dir: string; name: string; docs: SegmentDocs; options: LiveIndexOptions }
  | { op: 'merge'; dir: string; name: string; sources: { name: string; deleted: Uint8Array | null }[]; options: LiveIndexOptions };
export type WorkerReply = { id: number; ok: true; docs: number; postings: number; lengths: Uint32Array } | { id: number; ok: false; message: string; code?: string };

function* vectors(d: SegmentDocs): Generator<SparseVector> {
  for (let i = 0, at = 0; i < d.lengths.length; at += d.lengths[i], i++) {
    yield { indices: d.indices.subarray(at, at + d.lengths[i]), values: d.values.subarray(at, at + d.lengths[i]) };
  }
}

/** The live documents of the sources, concatenated in order. */
function mergeDocs(dir: string, sources: { name: string; deleted: Uint8Array | null }[]): SegmentDocs {
  const parts = sources.map((s) => ({ d: readSegmentDocs(join(dir, segmentVectorFile(s.name))), deleted: s.deleted }));
  let docs = 0;
  let postings = 0;
  for (const { d, deleted } of parts) {
    for (let i = 0; i < d.lengths.length; i++) {
      if (deleted && isDeleted(deleted, i)) continue;
      docs++;
      postings += d.lengths[i];
    }
  }
  const out: SegmentDocs = { ids: [], lengths: new Uint32Array(docs), indices: new Uint32Array(postings), values: new Float32Array(postings) };
  let doc = 0;
  let at = 0;
  for (const { d, deleted } of parts) {
    for (let i = 0, from = 0; i < d.lengths.length; from += d.lengths[i], i++) {
      if (deleted && isDeleted(deleted, i)) continue;
      const n = d.lengths[i];
      out.indices.set(d.indices.subarray(from, from + n), at);
      out.values.set(d.values.subarray(from, from + n), at);
      out.lengths[doc++] = n;
      out.ids.push(d.ids[i]);
      at += n;
    }
  }
  return out;
}

function writeSegment(dir: string, name: string, d: SegmentDocs, o: LiveIndexOptions): void {
  writeSegmentDocs(join(dir, segmentVectorFile(name)), d);
  const index = InvertedIndex.build(vectors(d), {
    docIds: d.ids, scale: o.scale, impactBits: o.impactBits, blockSize: o.blockSize, vocabSize: o.vocabSize, bmpBlockDocs: o.bmpBlockDocs,
  });
  try {
    index.save(join(dir, segmentIndexFile(name)));
  } finally {
    index.dispose();
  }
}

function run(task: WorkerTask): SegmentDocs {
  const d = task.op === 'flush' ? task.docs : mergeDocs(task.dir, task.sources);
  writeSegment(task.dir, task.name, d, task.options);
  return d;
}

parentPort?.on('message', ({ id, task }: { id: number; task: WorkerTask }) => {
  let reply: WorkerReply;
  try {
    const d = run(task);
    reply = { id, ok: true, docs: d.lengths.length, postings: d.indices.length, lengths: d.lengths };
  } catch (err) {
    reply = { id, ok: false, message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code };
  }
  parentPort!.postMessage(reply);
});
