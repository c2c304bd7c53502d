// Builds a collection's index in one streamed pass (documents generated as the builder takes them)
// and measures it, or opens an index file an earlier run built. A file built here gets a sidecar,
// PATH.json, saying what it holds and how its build went: reusing it for another collection, size,
// seed or build options is an error rather than a wrong figure.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { InvertedIndex, type SparseVector } from '../../lib/index.js';
import type { BenchCollection } from './collection.js';

/** What an index holds: the sidecar must match this to be reused. */
export interface IndexIdentity {
  collection: string;
  docs: number;
  seed: number;
  build: Record<string, unknown>;
  /** The collection's external document ids stored in the index. */
  docIds: boolean;
}

export interface BuildFigures {
  /** Documents and postings in the index. */
  docs: number;
  postings: number;
  /** Generation and build, one pass (the documents are made as the builder takes them). */
  seconds: number;
  /** Of which in the collection's generator (or reading its files). */
  generationSeconds: number;
  postingsPerSecond: number;
  /** The build process's peak resident set (process.resourceUsage().maxRSS). */
  peakRssBytes: number;
  saveSeconds: number;
  /** The index file and any sibling PATH.* it wrote (e.g. a forward index), the sidecar PATH.json not counted. */
  fileBytes: number;
  bytesPerPosting: number;
}

export interface OpenedIndex {
  index: InvertedIndex;
  figures: BuildFigures;
  /** True when the file was built by an earlier run (the figures are that run's). */
  reused: boolean;
  openSeconds: number;
}

const sidecar = (path: string) => `${path}.json`;

/** Bytes of the index at path: the file and its siblings PATH.<anything> but the sidecar. */
export function indexFileBytes(path: string): number {
  const base = basename(path);
  return readdirSync(dirname(path))
    .filter((f) => f === base || (f.startsWith(`${base}.`) && f !== basename(sidecar(path))))
    .reduce((sum, f) => sum + statSync(join(dirname(path), f)).size, 0);
}
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const REPORT_EVERY = 1_000_000;

/** Counts postings and the time spent inside the collection's stream, and logs progress. */
class StreamMeter {
  generationMs = 0;
  docs = 0;
  postings = 0;
  readonly #t0 = performance.now();

  constructor(private readonly label: string) {}

  seen(v: SparseVector): void {
    this.docs++;
    this.postings += v.indices.length;
    if (this.docs % REPORT_EVERY === 0) {
      const s = seconds(this.#t0);
      console.error(`  ${this.label}: ${this.docs} documents, ${this.postings} postings, ${s.toFixed(0)} s (${(this.postings / s / 1e6).toFixed(2)} M postings/s), RSS ${(process.memoryUsage.rss() / 2 ** 30).toFixed(2)} GiB`);
    }
  }

  *sync(docs: Iterable<SparseVector>): Generator<SparseVector> {
    const it = docs[Symbol.iterator]();
    for (;;) {
      const t = performance.now();
      const r = it.next();
      this.generationMs += performance.now() - t;
      if (r.done) return;
      this.seen(r.value);
      yield r.value;
    }
  }

  async *async(docs: AsyncIterable<SparseVector>): AsyncGenerator<SparseVector> {
    const it = docs[Symbol.asyncIterator]();
    for (;;) {
      const t = performance.now();
      const r = await it.next();
      this.generationMs += performance.now() - t;
      if (r.done) return;
      this.seen(r.value);
      yield r.value;
    }
  }
}

async function build(collection: BenchCollection, id: IndexIdentity, path: string): Promise<BuildFigures> {
  const opts = { vocabSize: collection.vocabSize, ...(id.docIds && collection.documentIds ? { docIds: collection.documentIds(id.docs) } : {}), ...id.build };
  const docs = collection.documents(id.docs);
  const meter = new StreamMeter(`build ${id.collection}`);
  const t0 = performance.now();
  // build() takes the options as they are: options it does not know are its to refuse
  const index = Symbol.asyncIterator in docs
    ? await InvertedIndex.buildAsync(meter.async(docs as AsyncIterable<SparseVector>), opts as Parameters<typeof InvertedIndex.build>[1])
    : InvertedIndex.build(meter.sync(docs as Iterable<SparseVector>), opts as Parameters<typeof InvertedIndex.build>[1]);
  const buildSeconds = seconds(t0);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const t1 = performance.now();
  mkdirSync(dirname(path), { recursive: true });
  index.save(path);
  const saveSeconds = seconds(t1);
  const postings = index.numPostings;
  if (index.numDocs !== meter.docs || postings !== meter.postings) {
    throw new Error(`the index holds ${index.numDocs} documents and ${postings} postings, the stream gave ${meter.docs} and ${meter.postings}`);
  }
  index.dispose();
  const fileBytes = indexFileBytes(path);
  return {
    docs: meter.docs, postings, seconds: buildSeconds, generationSeconds: meter.generationMs / 1000, postingsPerSecond: postings / buildSeconds,
    peakRssBytes, saveSeconds, fileBytes, bytesPerPosting: fileBytes / postings,
  };
}

/**
 * The collection's index at path: opened when an earlier run built it for the same identity (and
 * rebuild is false), else built, saved there and opened from the file, so searches read the
 * memory-mapped file as a served index does.
 */
export async function buildOrOpen(collection: BenchCollection, id: IndexIdentity, path: string, rebuild: boolean): Promise<OpenedIndex> {
  let figures: BuildFigures;
  let reused = false;
  if (!rebuild && existsSync(path)) {
    if (!existsSync(sidecar(path))) throw new Error(`${path} has no ${sidecar(path)} saying what it holds; rebuild it (--rebuild)`);
    const saved = JSON.parse(readFileSync(sidecar(path), 'utf8')) as { identity: IndexIdentity; figures: BuildFigures };
    if (JSON.stringify(saved.identity) !== JSON.stringify(id)) {
      throw new Error(`${path} holds ${JSON.stringify(saved.identity)}, not ${JSON.stringify(id)}; use another --index or --rebuild`);
    }
    figures = saved.figures;
    reused = true;
    console.error(`reusing ${path} (built ${figures.seconds.toFixed(1)} s by an earlier run)`);
  } else {
    figures = await build(collection, id, path);
    writeFileSync(sidecar(path), `${JSON.stringify({ identity: id, figures }, null, 2)}\n`);
  }
  const t0 = performance.now();
  const index = InvertedIndex.open(path);
  return { index, figures, reused, openSeconds: seconds(t0) };
}
