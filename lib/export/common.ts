// Shared by the exporters: the document type, input checks with uniform messages, and the atomic
// file writer (lib/data/atomic.ts: readers see either the old file or the complete new one).
import { ErrorCode, SpladeError, expectFinite, invalidArgument } from '../errors.js';
import type { SparseVector } from '../sparse.js';
import { writeAtomically } from '../data/atomic.js';

/** One exported document (or query): an id and its SPLADE vector over `vocab`'s term ids. */
export interface SparseDocument {
  id: string;
  vector: SparseVector;
}

/** Inputs stream: any sync or async iterable (arrays, generators, readline pipelines). */
export type DocumentSource = Iterable<SparseDocument> | AsyncIterable<SparseDocument>;

export function checkVocab(vocab: unknown): string[] {
  if (!Array.isArray(vocab)) invalidArgument('vocab', 'an array of token strings', vocab);
  return vocab as string[];
}

export function checkPositiveScale(name: string, value: unknown): number {
  const v = expectFinite(name, value);
  if (v <= 0) invalidArgument(name, 'a positive finite number', value);
  return v;
}

/**
 * Checks one document: a string id (non-empty), Uint32Array indices strictly ascending and within
 * the vocab, Float32Array values of the same length, finite and > 0. `where` names it in messages.
 */
export function checkDocument(doc: unknown, where: string, vocabSize: number): SparseDocument {
  if (doc === null || typeof doc !== 'object') invalidArgument(where, 'an object { id, vector }', doc);
  const { id, vector } = doc as Partial<SparseDocument>;
  if (typeof id !== 'string' || id.length === 0) invalidArgument(`${where}.id`, 'a non-empty string', id);
  checkVector(vector, `${where}.vector`, vocabSize);
  return doc as SparseDocument;
}

export function checkVector(vector: unknown, where: string, vocabSize: number): SparseVector {
  if (vector === null || typeof vector !== 'object') invalidArgument(where, 'a SparseVector { indices, values }', vector);
  const { indices, values } = vector as Partial<SparseVector>;
  if (!(indices instanceof Uint32Array)) invalidArgument(`${where}.indices`, 'a Uint32Array', indices);
  if (!(values instanceof Float32Array)) invalidArgument(`${where}.values`, 'a Float32Array', values);
  if (values.length !== indices.length) {
    invalidArgument(`${where}.values`, `a Float32Array of length ${indices.length} (as indices)`, values);
  }
  let prev = -1;
  for (let i = 0; i < indices.length; i++) {
    const t = indices[i];
    if (t <= prev) invalidArgument(`${where}.indices[${i}]`, `a term id above ${prev} (indices must be strictly ascending)`, t);
    if (t >= vocabSize) {
      throw new SpladeError(
        `Expected a term id below the vocab size ${vocabSize} for ${where}.indices[${i}] but received ${t}`,
        ErrorCode.outOfRange,
      );
    }
    const v = values[i];
    if (!(v > 0) || v === Infinity) invalidArgument(`${where}.values[${i}]`, 'a finite value > 0', v);
    prev = t;
  }
  return vector as SparseVector;
}

/** vocab[t], which must be a non-empty string (every format here keys on it). */
export function tokenOf(vocab: readonly string[], t: number): string {
  const tok = vocab[t];
  if (typeof tok !== 'string' || tok.length === 0) invalidArgument(`vocab[${t}]`, 'a non-empty token string', tok);
  return tok;
}

/**
 * Token strings for the term ids a format keys on, checked once per term: non-empty, and no two
 * ids sharing a string (that would merge two dimensions silently). Cached per vocab array.
 */
export class TokenTable {
  private readonly seen = new Map<string, number>();
  private readonly tokens: (string | undefined)[] = [];

  constructor(
    private readonly vocab: readonly string[],
    private readonly check?: (token: string, termId: number) => void,
  ) {}

  get(t: number): string {
    const cached = this.tokens[t];
    if (cached !== undefined) return cached;
    const tok = tokenOf(this.vocab, t);
    const other = this.seen.get(tok);
    if (other !== undefined && other !== t) {
      invalidArgument(`vocab[${t}]`, `a token distinct from vocab[${other}]`, tok);
    }
    this.check?.(tok, t);
    this.seen.set(tok, t);
    this.tokens[t] = tok;
    return tok;
  }
}

export { AtomicFileWriter, writeAtomically } from '../data/atomic.js';

/** How writeRecords frames a file: text before the first record, between records, after the last. */
export interface RecordFraming {
  head?: string;
  /** Between two records; default '\n' (JSONL). */
  separator?: (n: number) => string;
  /** After the last record (given the record count); default '\n' when there was one. */
  tail?: (n: number) => string;
}

/**
 * Streams checked documents into one file, atomically: `record` renders docs[n] (already checked
 * against the vocab size), one record in memory at a time. Returns how many documents it holds.
 */
export async function writeRecords(
  docs: DocumentSource,
  vocabSize: number,
  path: string,
  record: (doc: SparseDocument, where: string, n: number) => string,
  framing: RecordFraming = {},
): Promise<{ documents: number }> {
  const separator = framing.separator ?? (() => '\n');
  const tail = framing.tail ?? ((n: number) => (n > 0 ? '\n' : ''));
  return writeAtomically(path, async (file) => {
    if (framing.head) await file.write(framing.head);
    let n = 0;
    for await (const raw of docs) {
      const where = `docs[${n}]`;
      const text = record(checkDocument(raw, where, vocabSize), where, n);
      await file.write(n > 0 ? separator(n) + text : text);
      n++;
    }
    await file.write(tail(n));
    return { documents: n };
  });
}

/** A name the engines take as a collection / field / table name: a letter or _, then letters, digits, _. */
export function checkPlainName(name: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value) || value.length > maxLength) {
    invalidArgument(name, `a name of letters, digits and _ (not starting with a digit), at most ${maxLength} characters`, value);
  }
  return value;
}

/**
 * Shortest decimal that reads back as the same float32 (what a user expects to see for a
 * Float32Array value, rather than the 17 digits of its float64 widening).
 */
export function float32ToJson(v: number): number {
  for (let p = 6; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return Number(v.toPrecision(9));
}

/** What the command line passes to every exporter (each uses what applies to it). */
export interface ExportOptions {
  /** OpenSearch / Elasticsearch index, Qdrant / Milvus collection or pgvector table. */
  indexName?: string;
  /** The vector's field: rank_features / sparse_vector field, Qdrant named vector, Milvus field, pgvector column. */
  field?: string;
}

/** What an exporter reports: documents written, text to show the user, and warnings (stderr). */
export interface ExportResult {
  documents: number;
  print?: string;
  warnings?: string[];
}

/**
 * One export format behind one interface: a new format is one file exporting an Exporter and its
 * entry in EXPORTERS (lib/export/index.ts); `splade export --format NAME` finds it there.
 */
export interface Exporter {
  readonly name: string;
  /** One line for `splade export --help`. */
  readonly description: string;
  /** Writes docs (consumed once) atomically to path; `print` is what to show the user afterwards. */
  write(docs: DocumentSource, vocab: readonly string[], path: string, opts: ExportOptions): Promise<ExportResult>;
}

/** A document id that is a decimal integer (no sign or leading zeros, at most 2^53 - 1) as a number; else undefined. */
export function integerId(id: string): number | undefined {
  return /^(0|[1-9][0-9]{0,15})$/.test(id) && Number(id) <= Number.MAX_SAFE_INTEGER ? Number(id) : undefined;
}
