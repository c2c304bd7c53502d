// pgvector: `sparsevec` literals, `{index:value,...}/dimensions` with 1-based indices (term id + 1)
// and the vocabulary size as the dimension, e.g. {1:0.5,7:1.2}/30522. Two files:
//
// - 'pgvector': COPY-ready text (COPY ... FROM ... WITH (FORMAT text)), `id<TAB>literal` a line,
//   the id escaped as COPY's text format wants (backslash, tab, newline, carriage return). The
//   exporter prints the statements that create the table and load the file with psql's \copy.
// - 'pgvector-sql': a script for psql (or any client that runs several statements): CREATE
//   EXTENSION, CREATE TABLE (id text PRIMARY KEY, <column> sparsevec(<dim>)), multi-row INSERTs of
//   INSERT_BATCH rows, and at the end an HNSW index on inner product when every vector fits in it;
//   all in one transaction.
//
// Search with `ORDER BY <column> <#> '<query literal>' LIMIT k`: <#> is the negative inner product,
// so the best documents come first. pgvector stores float32, so the scores are the dot products of
// the exported values (each written as the shortest decimal that reads back as the same float32).
//
// Limits of pgvector 0.8: a sparsevec holds at most 16,000 non-zero elements (more is an error
// here, ERR_SPLADE_OUT_OF_RANGE, rather than at load time), and an HNSW index takes vectors of at
// most 1,000 non-zero elements: past that the exporter warns (and the SQL script leaves the index
// out; exact search still works). Prune with topK at encode time to stay under it.
import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';
import { checkVocab, float32ToJson, writeRecords, type DocumentSource, type Exporter, type ExportResult, type SparseDocument } from './common.js';
import type { SparseVector } from '../sparse.js';

export const DEFAULT_PGVECTOR_TABLE = 'splade';
export const DEFAULT_PGVECTOR_COLUMN = 'splade';
/** pgvector's SPARSEVEC_MAX_NNZ. */
export const SPARSEVEC_MAX_NNZ = 16000;
/** The most non-zero elements pgvector's HNSW index takes in a sparsevec. */
export const SPARSEVEC_HNSW_MAX_NNZ = 1000;
const SPARSEVEC_MAX_DIM = 1_000_000_000;
const INSERT_BATCH = 1000;
const NAMEDATALEN = 63; // longer identifiers are silently truncated by Postgres

export interface PgvectorOptions {
  /** Table name. Default 'splade'. */
  table?: string;
  /** The sparsevec column. Default 'splade'. */
  column?: string;
}

/** A vector as a sparsevec literal over `dimensions` (1-based indices). */
export function sparsevecLiteral(vector: SparseVector, dimensions: number, where = 'vector'): string {
  const { indices, values } = vector;
  if (indices.length > SPARSEVEC_MAX_NNZ) {
    throw new SpladeError(
      `Expected at most ${SPARSEVEC_MAX_NNZ} non-zero values (pgvector's sparsevec limit) for ${where} but received ${indices.length}`,
      ErrorCode.outOfRange,
    );
  }
  const parts = new Array<string>(indices.length);
  for (let i = 0; i < indices.length; i++) parts[i] = `${indices[i] + 1}:${float32ToJson(values[i])}`;
  return `{${parts.join(',')}}/${dimensions}`;
}

/** A Postgres identifier, always double-quoted (so case and reserved words are kept as given). */
export function quoteIdentifier(name: string, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0') || Buffer.byteLength(name, 'utf8') > NAMEDATALEN) {
    invalidArgument(what, `a non-empty name of at most ${NAMEDATALEN} bytes without NUL`, name);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

function checkId(doc: SparseDocument, where: string): string {
  if (doc.id.includes('\0')) invalidArgument(`${where}.id`, 'an id without NUL (Postgres text cannot hold it)', doc.id);
  return doc.id;
}

/** COPY text format: backslash, tab, newline and carriage return escaped. */
function copyText(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** An SQL string literal (standard_conforming_strings, the default since PostgreSQL 9.1). */
function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function dimensionsOf(vocab: readonly string[]): number {
  checkVocab(vocab);
  if (vocab.length === 0 || vocab.length > SPARSEVEC_MAX_DIM) invalidArgument('vocab', `1 to ${SPARSEVEC_MAX_DIM} tokens (sparsevec dimensions)`, vocab);
  return vocab.length;
}

function names(opts: PgvectorOptions): { table: string; column: string } {
  if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object { table?, column? }', opts);
  const table = quoteIdentifier(opts.table ?? DEFAULT_PGVECTOR_TABLE, 'opts.table');
  const column = quoteIdentifier(opts.column ?? DEFAULT_PGVECTOR_COLUMN, 'opts.column');
  if (column === '"id"') invalidArgument('opts.column', "a column name other than 'id'", opts.column);
  return { table, column };
}

/** CREATE EXTENSION and CREATE TABLE for the export. */
export function pgvectorCreateTable(dimensions: number, opts: PgvectorOptions = {}): string {
  const { table, column } = names(opts);
  return `CREATE EXTENSION IF NOT EXISTS vector;\nCREATE TABLE ${table} (id text PRIMARY KEY, ${column} sparsevec(${dimensions}));\n`;
}

/** The HNSW index on inner product. */
export function pgvectorCreateIndex(opts: PgvectorOptions = {}): string {
  const { table, column } = names(opts);
  return `CREATE INDEX ON ${table} USING hnsw (${column} sparsevec_ip_ops);\n`;
}

/** What the writers return: documents, and how many have more non-zeros than HNSW takes. */
export interface PgvectorWriteResult {
  documents: number;
  overHnswLimit: number;
}

function hnswWarning(r: PgvectorWriteResult): string[] {
  if (r.overHnswLimit === 0) return [];
  return [
    `${r.overHnswLimit} of ${r.documents} documents have more than ${SPARSEVEC_HNSW_MAX_NNZ} non-zero values, ` +
      `more than pgvector's HNSW index takes: search them exactly (no index), or prune with topK at encode time`,
  ];
}

/** Writes `id<TAB>sparsevec` lines for COPY ... WITH (FORMAT text) (atomically). */
export async function writePgvectorCopy(docs: DocumentSource, vocab: readonly string[], path: string, opts: PgvectorOptions = {}): Promise<PgvectorWriteResult> {
  const dim = dimensionsOf(vocab);
  names(opts);
  let overHnswLimit = 0;
  const { documents } = await writeRecords(docs, dim, path, (doc, where) => {
    if (doc.vector.indices.length > SPARSEVEC_HNSW_MAX_NNZ) overHnswLimit++;
    return `${copyText(checkId(doc, where))}\t${sparsevecLiteral(doc.vector, dim, `${where}.vector`)}`;
  });
  return { documents, overHnswLimit };
}

/** Writes the SQL script (atomically): table, batched INSERTs, and the HNSW index when every vector fits it. */
export async function writePgvectorSql(docs: DocumentSource, vocab: readonly string[], path: string, opts: PgvectorOptions = {}): Promise<PgvectorWriteResult> {
  const dim = dimensionsOf(vocab);
  const { table, column } = names(opts);
  const insert = `INSERT INTO ${table} (id, ${column}) VALUES\n`;
  let overHnswLimit = 0;
  const { documents } = await writeRecords(
    docs,
    dim,
    path,
    (doc, where, n) => {
      if (doc.vector.indices.length > SPARSEVEC_HNSW_MAX_NNZ) overHnswLimit++;
      const row = `(${sqlString(checkId(doc, where))}, '${sparsevecLiteral(doc.vector, dim, `${where}.vector`)}')`;
      return n === 0 ? insert + row : row;
    },
    {
      head: `-- SPLADE vectors for pgvector (>= 0.7, sparsevec); load with: psql -f FILE\nBEGIN;\n${pgvectorCreateTable(dim, opts)}`,
      separator: (n) => (n % INSERT_BATCH === 0 ? `;\n${insert}` : ',\n'),
      tail: (n) => {
        const rows = n > 0 ? ';\n' : '';
        const index = overHnswLimit === 0
          ? pgvectorCreateIndex(opts)
          : `-- no HNSW index: ${overHnswLimit} vectors have more than ${SPARSEVEC_HNSW_MAX_NNZ} non-zero values\n`;
        return `${rows}${index}COMMIT;\n`;
      },
    },
  );
  return { documents, overHnswLimit };
}

function copyInstructions(dim: number, path: string, opts: PgvectorOptions, r: PgvectorWriteResult): string {
  const { table, column } = names(opts);
  const index = r.overHnswLimit === 0 ? pgvectorCreateIndex(opts) : '';
  return `${pgvectorCreateTable(dim, opts)}\\copy ${table} (id, ${column}) FROM ${sqlString(path)} WITH (FORMAT text)\n${index}`;
}

export const pgvectorExporter: Exporter = {
  name: 'pgvector',
  description: 'pgvector COPY text (id, sparsevec literal {i:v}/dim, 1-based); prints the SQL to load it',
  write: async (docs, vocab, path, opts): Promise<ExportResult> => {
    const o = { table: opts.indexName, column: opts.field };
    const r = await writePgvectorCopy(docs, vocab, path, o);
    return { documents: r.documents, print: copyInstructions(vocab.length, path, o, r), warnings: hnswWarning(r) };
  },
};

export const pgvectorSqlExporter: Exporter = {
  name: 'pgvector-sql',
  description: 'pgvector SQL script: CREATE TABLE ... sparsevec(dim), INSERTs, HNSW index (psql -f)',
  write: async (docs, vocab, path, opts): Promise<ExportResult> => {
    const r = await writePgvectorSql(docs, vocab, path, { table: opts.indexName, column: opts.field });
    return { documents: r.documents, warnings: hnswWarning(r) };
  },
};
