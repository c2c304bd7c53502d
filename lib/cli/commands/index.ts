import { SpladeError } from '../../errors.js';
import { statSync } from 'node:fs';

import { Bm25Index } from '../../bm25/index.js';
import { readVectors } from '../../data/vectors.js';
import { TermStats, formatEfficiency } from '../../eval/efficiency.js';
import { readTexts } from '../../pipeline.js';
import { InvertedIndex } from '../../search/inverted-index.js';
import { IndexWriter } from '../../live/index-writer.js';
import { readLines } from '../../data/lines.js';
import { floatOption, intOption, parse, required } from '../args.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade index --vectors VECTORS.jsonl --out INDEX [options]
       splade index [--vectors MORE.jsonl] --into DIR [--delete IDS.txt] [options]
       splade index --bm25 --corpus CORPUS --out INDEX [--k1 0.9 --b 0.4 --stem]

Builds a compressed inverted index from SPLADE document vectors (what 'splade encode' writes), or a
BM25 index from a corpus (BEIR corpus.jsonl or MS MARCO collection.tsv). Written atomically.

With --into, adds to a live index directory (created when missing) and commits: the vectors are
added (an id already there is replaced), then the ids in --delete (one a line) deleted.
'splade search --index DIR' reads it. --bits, --scale (default 8), --block-size, --vocab-size
(default 30522) and --bmp-block-docs are fixed when the directory is created.

options (SPLADE):
  --bits 8|16          impact precision (default 8)
  --scale X            the weight that maps to the top impact (default: the largest seen)
  --block-size N       postings per compressed block (default 128)
  --vocab-size N       term ids accepted in queries (default: largest seen + 1)
  --reorder bp|none    renumber documents by recursive graph bisection (default none): documents
                       that share terms sit together, which tightens the block bounds that bmp,
                       approximate and bmw search with; results keep the input's document ids
  --bmp-block-docs N   documents per block of the block-max store (1..256, default 32; 0 leaves
                       it out: a smaller file without --algorithm bmp and approximate)
  --store lists|compact  lists (default): inverted lists plus the block-max store, every posting
                       twice; compact: the block-max store only, which every algorithm then reads
                       (a smaller file, the same results; needs --bits 8 and --bmp-block-docs > 0)
  --top-blocks N       compact only: blocks listed per term for --algorithm approximate (default
                       1024, or one in 64 of the blocks where less, at least 64; none under 4096
                       blocks; 0: none)`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    vectors: { type: 'string' }, out: { type: 'string' }, bm25: { type: 'boolean' }, corpus: { type: 'string' },
    bits: { type: 'string' }, scale: { type: 'string' }, 'block-size': { type: 'string' }, 'vocab-size': { type: 'string' },
    reorder: { type: 'string' }, 'bmp-block-docs': { type: 'string' }, store: { type: 'string' }, 'top-blocks': { type: 'string' },
    k1: { type: 'string' }, b: { type: 'string' }, stem: { type: 'boolean' }, into: { type: 'string' }, delete: { type: 'string' },
  }, HELP);
  if (!v) return 0;
  if (v.into !== undefined) return addToLiveIndex(v);
  if (v.delete !== undefined) throw new SpladeError('--delete needs --into DIR (a live index)');
  const out = required(v, 'out');
  const t0 = performance.now();
  if (v.bm25) {
    const progress = new Progress({ label: 'index (BM25)', unit: 'docs' });
    const corpus = required(v, 'corpus');
    const docs = (async function* () {
      for await (const d of readTexts(corpus, 'document')) {
        progress.tick();
        yield d;
      }
    })();
    const index = await Bm25Index.buildAsync(docs, { k1: floatOption(v, 'k1', 0.9), b: floatOption(v, 'b', 0.4), stem: Boolean(v.stem) });
    progress.finish();
    index.save(out);
    console.error(`wrote ${out}: ${index.numDocs} documents, ${formatEfficiency({ indexBytes: statSync(out).size })}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  }
  const progress = new Progress({ label: 'index', unit: 'docs' });
  const ids: string[] = [];
  const stats = new TermStats();
  const vectors = (async function* () {
    for await (const r of readVectors(required(v, 'vectors'))) {
      ids.push(r.id);
      stats.add(r.vector);
      progress.tick();
      yield r.vector;
    }
  })();
  const bits = intOption(v, 'bits', 8);
  if (bits !== 8 && bits !== 16) throw new SpladeError('--bits must be 8 or 16');
  // docIds are only known once the stream ends; buildAsync checks their count then.
  const index = await InvertedIndex.buildAsync(vectors, {
    docIds: ids, impactBits: bits, scale: v.scale ? floatOption(v, 'scale', 1) : undefined,
    blockSize: intOption(v, 'block-size', 128), vocabSize: v['vocab-size'] ? intOption(v, 'vocab-size', 1) : undefined,
    reorder: v.reorder as 'bp' | 'none' | undefined, bmpBlockDocs: intOption(v, 'bmp-block-docs', 32, 0),
    store: v.store as 'lists' | 'compact' | undefined,
    topBlocks: v['top-blocks'] === undefined ? undefined : intOption(v, 'top-blocks', 1024, 0),
  });
  progress.finish();
  index.save(out);
  const secs = (performance.now() - t0) / 1000;
  console.error(`wrote ${out}: ${index.numDocs} documents, ${index.numPostings} postings (${(index.sizeBytes / Math.max(1, index.numPostings)).toFixed(2)} bytes each), ${formatEfficiency({ avgDocTerms: stats.averageTerms, indexBytes: index.sizeBytes })}, ${secs.toFixed(1)} s`);
  return 0;
}

async function addToLiveIndex(v: Record<string, string | boolean | undefined>): Promise<number> {
  const dir = required(v, 'into');
  if (v.out !== undefined || v.bm25 || v.reorder !== undefined || v.store !== undefined || v['top-blocks'] !== undefined) {
    throw new SpladeError('--into takes neither --out, --bm25, --reorder, --store nor --top-blocks');
  }
  if (v.vectors === undefined && v.delete === undefined) throw new SpladeError('--into needs --vectors FILE or --delete FILE');
  const t0 = performance.now();
  const bits = v.bits === undefined ? undefined : intOption(v, 'bits', 8);
  if (bits !== undefined && bits !== 8 && bits !== 16) throw new SpladeError('--bits must be 8 or 16');
  const writer = await IndexWriter.open(dir, {
    impactBits: bits, scale: v.scale === undefined ? undefined : floatOption(v, 'scale', 1),
    blockSize: v['block-size'] === undefined ? undefined : intOption(v, 'block-size', 128),
    vocabSize: v['vocab-size'] === undefined ? undefined : intOption(v, 'vocab-size', 1),
    bmpBlockDocs: v['bmp-block-docs'] === undefined ? undefined : intOption(v, 'bmp-block-docs', 32, 0),
  });
  let deleted = 0;
  let added = 0;
  try {
    if (typeof v.vectors === 'string') {
      const progress = new Progress({ label: 'index', unit: 'docs' });
      const path = v.vectors;
      await writer.add((async function* () {
        for await (const r of readVectors(path)) {
          progress.tick();
          added++;
          yield r;
        }
      })());
      progress.finish();
    }
    if (typeof v.delete === 'string') {
      const ids: string[] = [];
      for await (const { text } of readLines(v.delete)) if (text.trim() !== '') ids.push(text.trim());
      await writer.delete(ids);
      deleted = ids.length;
    }
    await writer.commit();
  } finally {
    await writer.close();
  }
  console.error(`committed ${dir}: ${added} documents added, ${deleted} ids deleted, ${writer.numDocs} live documents, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
