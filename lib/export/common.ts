// Shared by the exporters: the document type, input checks with uniform messages, and the atomic
// file writer (lib/data/atomic.ts: readers see either the old file or the complete new one).
import { ErrorCode, SpladeError, expectFinite, invalidArgument } from '../errors.js';
import type { SparseVector } from '../sparse.js';

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
  /** OpenSearch / Elasticsearch index name. */
  indexName?: string;
  /** The rank_features field. */
  field?: string;
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
  write(docs: DocumentSource, vocab: readonly string[], path: string, opts: ExportOptions): Promise<{ documents: number; print?: string }>;
}
