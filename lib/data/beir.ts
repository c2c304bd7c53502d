/*
 * The BEIR layout: <dir>/corpus.jsonl ({"_id","title","text"}), <dir>/queries.jsonl ({"_id","text"}),
 * <dir>/qrels/<split>.tsv. Each file may be gzipped (corpus.jsonl.gz is found as well).
 * The corpus is streamed; queries and qrels are small and are read whole.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { corruptLine, readLines } from './lines.js';
import { readQrels } from './qrels.js';
import type { CorpusDoc, Qrels, Query } from './types.js';

function parseJsonLine(path: string, lineNo: number, text: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw corruptLine(path, lineNo, `invalid JSON (${(err as Error).message})`, text);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw corruptLine(path, lineNo, 'expected a JSON object', text);
  return obj as Record<string, unknown>;
}

function idField(path: string, lineNo: number, obj: Record<string, unknown>, text: string): string {
  const id = obj._id;
  if (typeof id === 'string' && id !== '') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  throw corruptLine(path, lineNo, 'missing or empty "_id"', text);
}

function textField(path: string, lineNo: number, obj: Record<string, unknown>, key: string, text: string, required: boolean): string {
  const v = obj[key];
  if (typeof v === 'string') return v;
  if ((v === undefined || v === null) && !required) return '';
  throw corruptLine(path, lineNo, `"${key}" must be a string`, text);
}

/** Streams the documents of a BEIR corpus.jsonl (title optional, text required). */
export async function* readBeirCorpus(path: string): AsyncGenerator<CorpusDoc> {
  for await (const { lineNo, text } of readLines(path)) {
    if (text.trim() === '') continue;
    const obj = parseJsonLine(path, lineNo, text);
    yield { id: idField(path, lineNo, obj, text), title: textField(path, lineNo, obj, 'title', text, false), text: textField(path, lineNo, obj, 'text', text, true) };
  }
}

/** Streams the queries of a BEIR queries.jsonl. */
export async function* readBeirQueries(path: string): AsyncGenerator<Query> {
  for await (const { lineNo, text } of readLines(path)) {
    if (text.trim() === '') continue;
    const obj = parseJsonLine(path, lineNo, text);
    yield { id: idField(path, lineNo, obj, text), text: textField(path, lineNo, obj, 'text', text, true) };
  }
}

/** `name` or `name.gz` inside dir; throws ERR_SPLADE_IO when neither exists. */
export function findDataFile(dir: string, name: string): string {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new SpladeError(`${dir}: neither ${name} nor ${name}.gz exists`, ErrorCode.io);
}

export interface BeirDataset {
  /** A fresh stream over corpus.jsonl on every call (so a two-pass consumer can read it twice). */
  corpus(): AsyncGenerator<CorpusDoc>;
  /** All queries, in file order (including unjudged ones). */
  queries: Query[];
  qrels: Qrels;
  paths: { corpus: string; queries: string; qrels: string };
}

/** Reads a BEIR dataset folder: queries and qrels whole, the corpus as a re-startable stream. */
export async function loadBeir(dir: string, split = 'test'): Promise<BeirDataset> {
  const paths = {
    corpus: findDataFile(dir, 'corpus.jsonl'),
    queries: findDataFile(dir, 'queries.jsonl'),
    qrels: findDataFile(join(dir, 'qrels'), `${split}.tsv`),
  };
  const queries: Query[] = [];
  const seen = new Set<string>();
  let n = 0;
  for await (const q of readBeirQueries(paths.queries)) {
    n++;
    if (seen.has(q.id)) throw new SpladeError(`${paths.queries}: query id ${JSON.stringify(q.id)} appears twice (record ${n})`, ErrorCode.corruptFile);
    seen.add(q.id);
    queries.push(q);
  }
  const qrels = await readQrels(paths.qrels, { format: 'beir' });
  return { corpus: () => readBeirCorpus(paths.corpus), queries, qrels, paths };
}
