// Cross-encoder teacher scores for a negatives file (`splade score`, the recipe's score stage): each
// record gets "scores": {docid: logit} for every document it names; streamed, written atomically.
import { writeFileAtomic } from '../data/atomic.js';
import { readNegatives, recordDocIds, type NegativesFileRecord } from '../data/negatives.js';
import { expectInteger } from '../errors.js';
import { CrossEncoder } from '../model/cross-encoder.js';
import { readTextsById, type ProgressFactory } from '../pipeline.js';

export interface ScoreNegativesOptions {
  negatives: string; corpus: string; queries: string;
  /** A BertForSequenceClassification with one label: a directory or a hub id. */
  model: string;
  out: string;
  /** Pairs per forward pass (default 32). */
  batchSize?: number;
  /** Tokens per pair (default 512, capped at the model's positions). */
  maxLength?: number;
  threads?: number;
  progress?: ProgressFactory;
}

/** Writes opts.out; returns the number of records scored. */
export async function scoreNegatives(opts: ScoreNegativesOptions): Promise<number> {
  const batchSize = expectInteger('batchSize', opts.batchSize ?? 32, 1, 1 << 20);
  // First pass: which queries and documents the records name, so only those texts are kept.
  const needDocs = new Set<string>(), needQueries = new Set<string>();
  for await (const { record } of readNegatives(opts.negatives)) {
    needQueries.add(record.qid);
    for (const d of recordDocIds(record)) needDocs.add(d);
  }
  const docs = await readTextsById(opts.corpus, 'document', needDocs, opts.negatives);
  const queries = await readTextsById(opts.queries, 'query', needQueries, opts.negatives);

  const model = await CrossEncoder.load(opts.model, { threads: opts.threads });
  const progress = opts.progress?.({ label: 'score', unit: 'queries' });
  let count = 0;
  // Records are scored in chunks of at least a few batches of pairs, then written in input order.
  const chunkPairs = Math.max(batchSize * 4, 256);
  await writeFileAtomic(opts.out, (async function* () {
    let pending: NegativesFileRecord[] = [];
    let pairs = 0;
    const flush = async function* () {
      const lists = pending.map(recordDocIds);
      const input: [string, string][] = [];
      pending.forEach((r, i) => lists[i].forEach((d) => input.push([queries.get(r.qid)!, docs.get(d)!])));
      const logits = await model.score(input, { batchSize, maxLength: opts.maxLength });
      let k = 0;
      for (let i = 0; i < pending.length; i++) {
        const scores: Record<string, number> = {};
        for (const d of lists[i]) scores[d] = logits[k++];
        count++;
        progress?.tick();
        yield `${JSON.stringify({ ...pending[i], scores })}\n`;
      }
      pending = [];
      pairs = 0;
    };
    for await (const { record } of readNegatives(opts.negatives)) {
      pending.push(record);
      pairs += recordDocIds(record).length;
      if (pairs >= chunkPairs) yield* flush();
    }
    if (pending.length) yield* flush();
  })());
  progress?.finish();
  return count;
}
