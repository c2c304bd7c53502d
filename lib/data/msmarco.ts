/*
 * MS MARCO passage files: collection.tsv (`pid\ttext`, 8.8 million lines: streamed) and
 * queries.*.tsv (`qid\ttext`). Qrels are TREC format (`qid 0 pid rel`): see readQrels.
 * The text is everything after the first tab.
 */
import { corruptLine, readLines } from './lines.js';
import type { CorpusDoc, Query } from './types.js';

async function* readIdText(path: string): AsyncGenerator<{ id: string; text: string }> {
  for await (const { lineNo, text } of readLines(path)) {
    if (text.trim() === '') continue;
    const tab = text.indexOf('\t');
    if (tab < 0) throw corruptLine(path, lineNo, 'expected "id<TAB>text" but found no tab', text);
    const id = text.slice(0, tab).trim();
    if (id === '') throw corruptLine(path, lineNo, 'empty id', text);
    yield { id, text: text.slice(tab + 1) };
  }
}

/** Streams MS MARCO's collection.tsv as corpus documents (title ''). */
export async function* readMsMarcoCollection(path: string): AsyncGenerator<CorpusDoc> {
  for await (const { id, text } of readIdText(path)) yield { id, title: '', text };
}

/** Streams an MS MARCO queries.*.tsv. */
export async function* readMsMarcoQueries(path: string): AsyncGenerator<Query> {
  yield* readIdText(path);
}
