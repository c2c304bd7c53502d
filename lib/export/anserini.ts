// Anserini / Pyserini impact indexes. Anserini indexes SPLADE output as a JsonVectorCollection with
// `-impact -pretokenized`: JSONL, one document per line,
//
//   {"id":"doc7","contents":"","vector":{"hello":87,"world":142,"##s":3}}
//
// where each weight is an integer impact, round(value * quantScale). quantScale = 100 is the
// convention of Anserini's and Pyserini's SPLADE regressions (fp weights * 100, rounded). Terms whose
// impact rounds to 0 are left out. Tokens are vocab strings as-is (wordpieces keep their `##`);
// since `-pretokenized` splits on whitespace, a token containing whitespace is refused.
//
// Queries, in two forms that Anserini's topic readers take:
// - 'tsv' (`-topicReader TsvInt` / `TsvString`): `qid<TAB>tok tok tok ...`, each token repeated
//   as many times as its integer weight ("impact query": the query's term frequency is its weight,
//   so Lucene's impact scoring sums weight * impact). A query whose weights all round to 0 gives
//   an empty token list.
// - 'jsonl' (`-topicReader JsonIntVector` / `JsonStringVector`): `{"qid":"q1","vector":{"tok":w}}`.
// TsvInt and JsonIntVector parse qids as integers; use the String readers for other ids.
//
// Files are written atomically (temp file + fsync + rename) and streamed: one line in memory.
import { ErrorCode, SpladeError, expectOneOf, invalidArgument } from '../errors.js';
import {
  checkDocument,
  checkPositiveScale,
  checkVocab,
  TokenTable,
  writeAtomically,
  type DocumentSource,
  type SparseDocument,
  type Exporter,
} from './common.js';

export const ANSERINI_QUANT_SCALE = 100;
const INT32_MAX = 2147483647;

export interface AnseriniOptions {
  /** Integer weight = round(value * quantScale). Default 100. */
  quantScale?: number;
}

export interface AnseriniQueryOptions extends AnseriniOptions {
  /** 'tsv' (tokens repeated by weight, default) or 'jsonl' ({"qid","vector"}). */
  format?: 'tsv' | 'jsonl';
}

const tables = new WeakMap<readonly string[], TokenTable>();

function tokenTable(vocab: readonly string[]): TokenTable {
  let table = tables.get(vocab);
  if (!table) {
    table = new TokenTable(vocab, (tok, t) => {
      if (/\s/.test(tok)) invalidArgument(`vocab[${t}]`, 'a token without whitespace (Anserini splits pretokenized text on it)', tok);
    });
    tables.set(vocab, table);
  }
  return table;
}

/** token -> integer weight for one vector, in term-id order, zero weights dropped. */
function intVector(doc: SparseDocument, vocab: readonly string[], quantScale: number, where: string): Record<string, number> {
  const table = tokenTable(vocab);
  const { indices, values } = doc.vector;
  const out: Record<string, number> = Object.create(null); // a token may be '__proto__'
  for (let i = 0; i < indices.length; i++) {
    const w = Math.round(values[i] * quantScale);
    if (w === 0) continue;
    if (w > INT32_MAX) {
      throw new SpladeError(
        `Expected ${where}.vector.values[${i}] * quantScale to fit in int32 but received ${values[i]} * ${quantScale}`,
        ErrorCode.outOfRange,
      );
    }
    out[table.get(indices[i])] = w;
  }
  return out;
}

function quantScaleOf(opts: AnseriniOptions): number {
  return opts.quantScale === undefined ? ANSERINI_QUANT_SCALE : checkPositiveScale('opts.quantScale', opts.quantScale);
}

/** One JsonVectorCollection line (without the newline). */
export function anseriniDocumentLine(doc: SparseDocument, vocab: readonly string[], opts: AnseriniOptions = {}): string {
  checkVocab(vocab);
  checkDocument(doc, 'doc', vocab.length);
  return JSON.stringify({ id: doc.id, contents: '', vector: intVector(doc, vocab, quantScaleOf(opts), 'doc') });
}

/** One impact-query TSV line (without the newline): qid, a tab, tokens repeated by weight. */
export function anseriniQueryTsvLine(query: SparseDocument, vocab: readonly string[], opts: AnseriniOptions = {}): string {
  checkVocab(vocab);
  return tsvLine(query, vocab, quantScaleOf(opts), 'query');
}

/** One JsonIntVector query line (without the newline). */
export function anseriniQueryJsonLine(query: SparseDocument, vocab: readonly string[], opts: AnseriniOptions = {}): string {
  checkVocab(vocab);
  return jsonLine(query, vocab, quantScaleOf(opts), 'query');
}

function tsvLine(raw: unknown, vocab: readonly string[], quantScale: number, where: string): string {
  const query = checkDocument(raw, where, vocab.length);
  if (/[\t\r\n]/.test(query.id)) invalidArgument(`${where}.id`, 'an id without tabs or line breaks (TSV)', query.id);
  const parts: string[] = [];
  for (const [tok, w] of Object.entries(intVector(query, vocab, quantScale, where))) {
    for (let k = 0; k < w; k++) parts.push(tok);
  }
  return `${query.id}\t${parts.join(' ')}`;
}

function jsonLine(raw: unknown, vocab: readonly string[], quantScale: number, where: string): string {
  const query = checkDocument(raw, where, vocab.length);
  return JSON.stringify({ qid: query.id, vector: intVector(query, vocab, quantScale, where) });
}

/** Writes a JsonVectorCollection file (JSONL). Returns how many documents it holds. */
export async function writeAnseriniCollection(
  docs: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: AnseriniOptions = {},
): Promise<{ documents: number }> {
  checkVocab(vocab);
  const quantScale = quantScaleOf(opts);
  return writeAtomically(path, async (file) => {
    let n = 0;
    for await (const raw of docs) {
      const where = `docs[${n}]`;
      const doc = checkDocument(raw, where, vocab.length);
      await file.write(JSON.stringify({ id: doc.id, contents: '', vector: intVector(doc, vocab, quantScale, where) }) + '\n');
      n++;
    }
    return { documents: n };
  });
}

/** Writes queries as an impact-query TSV (default) or JsonIntVector JSONL file. */
export async function writeAnseriniQueries(
  queries: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: AnseriniQueryOptions = {},
): Promise<{ queries: number }> {
  checkVocab(vocab);
  const format = opts.format === undefined ? 'tsv' : expectOneOf('opts.format', opts.format, ['tsv', 'jsonl'] as const);
  const quantScale = quantScaleOf(opts);
  const line = format === 'tsv' ? tsvLine : jsonLine;
  return writeAtomically(path, async (file) => {
    let n = 0;
    for await (const q of queries) {
      await file.write(line(q, vocab, quantScale, `queries[${n}]`) + '\n');
      n++;
    }
    return { queries: n };
  });
}

export const anseriniExporter: Exporter = {
  name: 'anserini',
  description: 'Anserini JsonVectorCollection (integer weights = round(100 w))',
  write: async (docs, vocab, path) => ({ documents: (await writeAnseriniCollection(docs, vocab, path)).documents }),
};
