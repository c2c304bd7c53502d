/*
 * What the server knows of the documents beyond the index: their text (a BEIR corpus.jsonl or an MS
 * MARCO collection.tsv, read as `splade index --bm25` reads it) and their vectors (`splade encode`'s
 * JSONL, the file the index was built from), by external id. The inverted index holds neither in a
 * form that can be read back per document, so /doc and /explain read them here. Held in memory:
 * a few hundred bytes a document for the classic collections.
 */
import { readVectors } from '../data/vectors.js';
import { ErrorCode, SpladeError, expectString } from '../errors.js';
import { readTexts } from '../pipeline.js';
import type { SparseVector } from '../sparse.js';

export interface StoredDocument {
  text?: string;
  vector?: SparseVector;
}

export class DocumentStore {
  readonly #docs = new Map<string, StoredDocument>();
  #texts = 0;
  #vectors = 0;

  /** Reads the corpus texts and / or the document vectors (either may be left out). */
  static async load(opts: { corpus?: string; vectors?: string }): Promise<DocumentStore> {
    const store = new DocumentStore();
    if (opts.corpus !== undefined) {
      expectString('corpus', opts.corpus);
      for await (const d of readTexts(opts.corpus, 'document')) store.setText(d.id, d.text);
    }
    if (opts.vectors !== undefined) {
      expectString('vectors', opts.vectors);
      for await (const d of readVectors(opts.vectors)) store.setVector(d.id, d.vector);
    }
    return store;
  }

  /** From documents already in memory. */
  static from(docs: Iterable<{ id: string; text?: string; vector?: SparseVector }>): DocumentStore {
    const store = new DocumentStore();
    for (const d of docs) {
      if (d.text !== undefined) store.setText(d.id, d.text);
      if (d.vector !== undefined) store.setVector(d.id, d.vector);
    }
    return store;
  }

  setText(id: string, text: string): void {
    const d = this.#entry(id);
    if (d.text === undefined) this.#texts++;
    d.text = text;
  }

  setVector(id: string, vector: SparseVector): void {
    const d = this.#entry(id);
    if (d.vector === undefined) this.#vectors++;
    d.vector = vector;
  }

  get(id: string): StoredDocument | undefined {
    return this.#docs.get(id);
  }

  /** Documents with a text. */
  get texts(): number {
    return this.#texts;
  }

  /** Documents with a vector. */
  get vectors(): number {
    return this.#vectors;
  }

  *allTexts(): Generator<string> {
    for (const d of this.#docs.values()) if (d.text !== undefined) yield d.text;
  }

  #entry(id: string): StoredDocument {
    if (typeof id !== 'string') throw new SpladeError(`Expected a string document id but received ${typeof id}`, ErrorCode.invalidArgument);
    let d = this.#docs.get(id);
    if (!d) this.#docs.set(id, (d = {}));
    return d;
  }
}
