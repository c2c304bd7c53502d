// Negatives files (what mining writes, training reads): JSONL records {"qid", "pos": [...], "neg":
// {name: [...]}}, plus "scores": {docid: number} once scored. Streamed; a bad record names its line.
import { ErrorCode, SpladeError } from '../errors.js';
import type { NegativesRecord } from '../mine.js';
import { readLines } from './lines.js';

/** A record as the file holds it: teacher scores when present, and any other keys kept as they are. */
export type NegativesFileRecord = NegativesRecord & { scores?: { [docid: string]: number }; [key: string]: unknown };

function parseNegativesRecord(text: string, file: string, lineNo: number): NegativesFileRecord {
  const bad = (what: string) => new SpladeError(`${file}:${lineNo}: ${what}`, ErrorCode.corruptFile);
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  const rec = r as NegativesFileRecord;
  if (!rec || typeof rec !== 'object' || typeof rec.qid !== 'string') throw bad('expected a record with a string "qid"');
  const ids = (v: unknown, name: string) => {
    if (!Array.isArray(v) || !v.every((d) => typeof d === 'string')) throw bad(`expected "${name}" to be an array of document ids`);
  };
  ids(rec.pos, 'pos');
  if (!rec.neg || typeof rec.neg !== 'object' || Array.isArray(rec.neg)) throw bad('expected "neg" to be an object of document id arrays');
  for (const [name, list] of Object.entries(rec.neg)) ids(list, `neg.${name}`);
  return rec;
}

/** The records of a negatives file (plain or gzipped) with their line numbers, streamed. */
export async function* readNegatives(file: string): AsyncGenerator<{ lineNo: number; record: NegativesFileRecord }> {
  for await (const line of readLines(file)) {
    if (line.text.trim() === '') continue;
    yield { lineNo: line.lineNo, record: parseNegativesRecord(line.text, file, line.lineNo) };
  }
}

/** Every document a record names (positives, then each list's negatives), each once. */
export function recordDocIds(r: NegativesRecord): string[] {
  return [...new Set([...r.pos, ...Object.values(r.neg).flat()])];
}
