// The worker thread that writes segments, so that flushes and merges never block the event loop:
// 'flush' builds a segment from buffered documents, 'merge' from the live documents of adjacent
// segments: .vec and id table streamed from the sources' (merge-stream.ts), .idx merged natively
// term by term from the sources' (segment_merge.h), so a merge's memory does not grow with the
// merged segment. Both write sK.vec, sK.ids, then sK.idx (each atomically); none is referenced until
// a commit lists the segment. Runs with the same addon as the caller.
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { join } from 'node:path';

import { loadAddon } from '../native.js';
import { callNative, ErrorCode, SpladeError } from '../errors.js';
import { InvertedIndex } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import { segmentIndexFile, segmentVectorFile, writeSegmentDocs, writeSegmentDocsStreamed, type SegmentDocs } from './files.js';
import { idTableFile, writeIdTable, writeIdTableOf } from './id-table.js';
import { MergeSources } from './merge-stream.js';
import type { LiveIndexOptions } from './manifest.js';

export type WorkerTask =
  | { op: 'flush'; dir: string; name: string; docs: SegmentDocs; options: LiveIndexOptions }
  | { op: 'merge'; dir: string; name: string; sources: { name: string; deleted: Uint8Array | null }[]; options: LiveIndexOptions };
export type WorkerReply = { id: number; ok: true; docs: number; postings: number } | { id: number; ok: false; message: string; code?: string };

interface LiveAddon {
  mergeSegments(out: string, paths: string[], deleted: Uint8Array[], scale: number, blockSize: number, impactBits: number, vocabSize: number,
    bmpBlockDocs: number, sync: true): { docs: number; postings: number };
  releaseFreeMemory(): void;
}

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

type Done = { docs: number; postings: number };

function flush(task: Extract<WorkerTask, { op: 'flush' }>): Done {
  const d = task.docs;
  writeSegmentDocs(join(task.dir, segmentVectorFile(task.name)), d);
  writeIdTableOf(join(task.dir, idTableFile(task.name)), d.ids, d.lengths);
  buildIndex(task.dir, task.name, vectors(d), d.ids, task.options);
  return { docs: d.lengths.length, postings: d.indices.length };
}

/** The live documents of adjacent segments, in order, as one new segment, in bounded memory. */
async function merge(task: Extract<WorkerTask, { op: 'merge' }>): Promise<Done> {
  const m = new MergeSources(task.dir, task.sources);
  try {
    writeSegmentDocsStreamed(join(task.dir, segmentVectorFile(task.name)), m.docs, m.postings, m.sectionBytes());
    writeIdTable(join(task.dir, idTableFile(task.name)), m.docs, m.idEntries());
  } finally {
    m.close();
  }
  const o = task.options;
  // On this thread, synchronously (it is the merge worker's alone), below normal priority: on Linux a
  // thread's nice value is its own, so adds, flushes and commits keep the CPU while a merge runs and
  // a commit waits only for its flush.
  lowerThisThreadsPriority();
  const r = callNative(() => loadAddon<LiveAddon>().mergeSegments(join(task.dir, segmentIndexFile(task.name)),
    task.sources.map((s) => join(task.dir, segmentIndexFile(s.name))), task.sources.map((s) => s.deleted ?? new Uint8Array(0)),
    o.scale, o.blockSize, o.impactBits, o.vocabSize, o.bmpBlockDocs, true));
  if (r.docs !== m.docs || r.postings !== m.postings) {
    throw new SpladeError(`${task.dir}: the sources' .idx and .vec files of ${task.name} disagree (${r.docs} against ${m.docs} documents)`, ErrorCode.corruptFile);
  }
  return { docs: m.docs, postings: m.postings };
}

function lowerThisThreadsPriority(): void {
  try {
    if (os.getPriority() < os.constants.priority.PRIORITY_BELOW_NORMAL) os.setPriority(os.constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // not permitted here (some containers): the merge runs at normal priority
  }
}

parentPort?.on('message', async ({ id, task }: { id: number; task: WorkerTask }) => {
  let reply: WorkerReply;
  try {
    reply = { id, ok: true, ...(task.op === 'flush' ? flush(task) : await merge(task)) };
  } catch (err) {
    reply = { id, ok: false, message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code };
  }
  parentPort!.postMessage(reply);
  // What the task freed goes back to the system: the resident size stays at what is held, not at
  // the largest flush or merge so far.
  loadAddon<LiveAddon>().releaseFreeMemory();
});
