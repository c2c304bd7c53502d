/*
 * Relevance judgments, in either layout:
 *   BEIR     `qrels/<split>.tsv`: tab-separated `query-id corpus-id score`, with a header line;
 *   TREC     `qid iter docid rel` (MS MARCO's qrels.*.tsv and every TREC track), whitespace-separated.
 * 'auto' looks at each line's field count (3 = BEIR, 4 = TREC). Relevance must be an integer
 * (trec_eval's rule). A pair judged twice with different grades is an error; an identical repeat
 * is accepted.
 */
import type { Qrels } from './types.js';
import { corruptLine, readLines } from './lines.js';

export type QrelsFormat = 'auto' | 'beir' | 'trec';

const INT = /^[+-]?\d+$/;

export async function readQrels(path: string, opts: { format?: QrelsFormat } = {}): Promise<Qrels> {
  const format = opts.format ?? 'auto';
  const qrels: Qrels = Object.create(null) as Qrels;
  for await (const { lineNo, text } of readLines(path)) {
    const line = text.trim();
    if (line === '') continue;
    const fields = line.includes('\t') && format !== 'trec' ? line.split('\t').map((f) => f.trim()) : line.split(/\s+/);
    let qid: string, docid: string, rel: string;
    if (fields.length === 3 && format !== 'trec') {
      [qid, docid, rel] = fields as [string, string, string];
      if (lineNo === 1 && !INT.test(rel)) continue; // the BEIR header: query-id corpus-id score
    } else if (fields.length === 4 && format !== 'beir') {
      [qid, , docid, rel] = fields as [string, string, string, string];
    } else {
      const want = format === 'beir' ? '3 tab-separated fields (query-id, corpus-id, score)'
        : format === 'trec' ? '4 fields (qid iter docid rel)' : '3 fields (BEIR) or 4 fields (TREC)';
      throw corruptLine(path, lineNo, `expected ${want} but found ${fields.length}`, text);
    }
    if (qid === '' || docid === '') throw corruptLine(path, lineNo, 'empty query or document id', text);
    if (!INT.test(rel)) throw corruptLine(path, lineNo, `relevance must be an integer, not ${JSON.stringify(rel)}`, text);
    const grade = Number.parseInt(rel, 10);
    const q = (qrels[qid] ??= Object.create(null) as Record<string, number>);
    const prev = q[docid];
    if (prev !== undefined && prev !== grade) {
      throw corruptLine(path, lineNo, `document ${docid} is judged ${prev} earlier for query ${qid} and ${grade} here`, text);
    }
    q[docid] = grade;
  }
  return qrels;
}
