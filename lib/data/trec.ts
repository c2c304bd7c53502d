/*
 * TREC run files: one line per retrieved document, `qid Q0 docid rank score tag`, whitespace-
 * separated. Reading gives a Run (qid -> docid -> score; the rank column is checked to be an integer
 * but otherwise ignored, as trec_eval ignores it). Writing is atomic (temp file + rename) and
 * streams, so a run over many queries need not be built as one string.
 *
 * Order on write: score descending, ties by document id in trec_eval's order (see trecOrder), so the
 * rank column is the rank trec_eval will compute.
 */
import { writeFileAtomic } from './atomic.js';
import { corruptLine, readLines } from './lines.js';
import type { Run, RunEntry } from './types.js';
import { ErrorCode, SpladeError } from '../errors.js';

/**
 * Compares two ids as C's strcmp compares their UTF-8 bytes (= Unicode code point order). JS `<`
 * compares UTF-16 code units, which differs only when a surrogate pair meets a BMP character
 * at or above U+E000.
 */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Lift surrogates (D800-DFFF) above the rest of the BMP so the order is by code point.
      if (x <= 0xdfff) x += 0x2000; else if (x >= 0xe000) x -= 0x800;
      if (y <= 0xdfff) y += 0x2000; else if (y >= 0xe000) y -= 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * trec_eval's ranking order (form_res_rels.c, comp_sim_docno): score descending, and among equal
 * scores document id DESCENDING by strcmp. `evaluate` ranks with this order; writeRun writes it.
 */
export function trecOrder(aId: string, aScore: number, bId: string, bScore: number): number {
  if (aScore > bScore) return -1;
  if (aScore < bScore) return 1;
  return compareIds(bId, aId);
}

/** One query's (docid, score) pairs in trecOrder. */
export function rankDocs(scores: Record<string, number>): [string, number][] {
  const list = Object.entries(scores);
  list.sort((a, b) => trecOrder(a[0], a[1], b[0], b[1]));
  return list;
}

/** Reads a TREC run file (plain or gzipped). A document listed twice for one query is an error. */
export async function readRun(path: string): Promise<Run> {
  const run: Run = Object.create(null) as Run;
  for await (const { lineNo, text } of readLines(path)) {
    const line = text.trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    if (f.length !== 6) throw corruptLine(path, lineNo, `expected 6 fields (qid Q0 docid rank score tag) but found ${f.length}`, text);
    const [qid, , docid, rank, score] = f as [string, string, string, string, string];
    if (!/^[+-]?\d+$/.test(rank)) throw corruptLine(path, lineNo, `rank must be an integer, not ${JSON.stringify(rank)}`, text);
    const s = Number(score);
    if (score === '' || !Number.isFinite(s)) throw corruptLine(path, lineNo, `score must be a finite number, not ${JSON.stringify(score)}`, text);
    const q = (run[qid] ??= Object.create(null) as Record<string, number>);
    if (q[docid] !== undefined) throw corruptLine(path, lineNo, `document ${docid} appears twice for query ${qid}`, text);
    q[docid] = s;
  }
  return run;
}

export interface WriteRunOptions {
  /** The run tag (last column); no whitespace. Default 'splade'. */
  tag?: string;
  /** Keep at most this many documents per query. Default: all. */
  k?: number;
}

function checkField(name: string, v: string): void {
  if (v === '' || /\s/.test(v)) {
    throw new SpladeError(`Expected a non-empty ${name} without whitespace for a TREC run but received ${JSON.stringify(v)}`, ErrorCode.invalidArgument);
  }
}

async function* runLines(run: Run | Iterable<RunEntry> | AsyncIterable<RunEntry>, tag: string, k: number): AsyncGenerator<string> {
  const entries: Iterable<RunEntry> | AsyncIterable<RunEntry> =
    Symbol.iterator in run || Symbol.asyncIterator in run
      ? (run as Iterable<RunEntry> | AsyncIterable<RunEntry>)
      : Object.keys(run).map((queryId) => {
        const q = (run as Run)[queryId];
        const docIds = Object.keys(q);
        return { queryId, docIds, scores: docIds.map((d) => q[d]) };
      });
  for await (const e of entries) {
    checkField('query id', e.queryId);
    if (e.docIds.length !== e.scores.length) {
      throw new SpladeError(`Expected as many scores as docIds for query ${e.queryId} but received ${e.scores.length} and ${e.docIds.length}`, ErrorCode.invalidArgument);
    }
    const order = Array.from(e.docIds.keys());
    order.sort((i, j) => trecOrder(e.docIds[i], e.scores[i], e.docIds[j], e.scores[j]));
    const lines: string[] = [];
    const n = Math.min(k, order.length);
    for (let r = 0; r < n; r++) {
      const i = order[r];
      const d = e.docIds[i];
      const s = e.scores[i];
      checkField('document id', d);
      if (!Number.isFinite(s)) throw new SpladeError(`Expected finite scores but document ${d} of query ${e.queryId} has ${s}`, ErrorCode.invalidArgument);
      lines.push(`${e.queryId} Q0 ${d} ${r + 1} ${s} ${tag}\n`);
    }
    yield lines.join('');
  }
}

/**
 * Writes a run in TREC format, atomically. Accepts a Run object or a stream of per-query entries
 * (e.g. search results as they come). Scores are written with full precision (shortest round-trip).
 */
export async function writeRun(path: string, run: Run | Iterable<RunEntry> | AsyncIterable<RunEntry>, opts: WriteRunOptions = {}): Promise<void> {
  const tag = opts.tag ?? 'splade';
  checkField('tag', tag);
  const k = opts.k ?? Infinity;
  if (k !== Infinity && (!Number.isInteger(k) || k < 1)) {
    throw new SpladeError(`Expected a positive integer for k but received ${String(k)}`, ErrorCode.invalidArgument);
  }
  await writeFileAtomic(path, runLines(run, tag, k));
}
