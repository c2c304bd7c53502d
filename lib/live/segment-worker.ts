// The worker thread that writes segments, so that flushes and merges never block the event loop:
// 'flush' builds a segment from buffered documents, 'merge' from the live documents of adjacent
// segments (streamed from their .vec files, in order, a chunk at a time). Both write sK.vec, then
// sK.idx (each atomically); neither is referenced until a commit lists the segment. Runs with the
// same addon as the caller.
import { parentPort } from 'node:worker_threads';
import { join } from 'node:path';

import { InvertedIndex } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import { segmentIndexFile, segmentVectorFile, writeSegmentDocs, writeSegmentDocsStreamed, type SegmentDocs } from './files.js';
import { MergeSources } from './merge-stream.js';
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

function buildIndex(dir: string, name: string, docs: Iterable<SparseVector>, ids: string[], o: LiveIndexOptions): void {
  const index = InvertedIndex.build(docs, {
    docIds: ids, scale: o.scale, impactBits: o.impactBits, blockSize: o.blockSize, vocabSize: o.vocabSize, bmpBlockDocs: o.bmpBlockDocs,
  });
  try {
    index.save(join(dir, segmentIndexFile(name)));
  } finally {
    index.dispose();
  }
}

type Done = { docs: number; postings: number; lengths: Uint32Array };

function flush(task: Extract<WorkerTask, { op: 'flush' }>): Done {
  const d = task.docs;
  writeSegmentDocs(join(task.dir, segmentVectorFile(task.name)), d);
  buildIndex(task.dir, task.name, vectors(d), d.ids, task.options);
  return { docs: d.lengths.length, postings: d.indices.length, lengths: d.lengths };
}

/** The live documents of adjacent segments, in order, as one new segment (streamed: merge-stream.ts). */
function merge(task: Extract<WorkerTask, { op: 'merge' }>): Done {
  const m = new MergeSources(task.dir, task.sources);
  try {
    writeSegmentDocsStreamed(join(task.dir, segmentVectorFile(task.name)), m.ids, m.lengths, m.postings, m.sectionBytes());
    buildIndex(task.dir, task.name, m.vectors(), m.ids, task.options);
    return { docs: m.lengths.length, postings: m.postings, lengths: m.lengths };
  } finally {
    m.close();
  }
}

parentPort?.on('message', ({ id, task }: { id: number; task: WorkerTask }) => {
  let reply: WorkerReply;
  try {
    reply = { id, ok: true, ...(task.op === 'flush' ? flush(task) : merge(task)) };
  } catch (err) {
    reply = { id, ok: false, message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code };
  }
  parentPort!.postMessage(reply);
});
