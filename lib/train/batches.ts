// A training job's data: its ranking examples (the usable negatives records and the texts they name)
// and its batches as pure functions of (seed, step): batch t is examples t*B .. t*B+B-1 of endless
// seeded-shuffle epochs, so a resumed job draws exactly the batches the uninterrupted one would.
import { readNegatives, type NegativesFileRecord } from '../data/negatives.js';
import type { SpladeModel } from '../model/splade-model.js';
import { readTextsById } from '../pipeline.js';
import { hashSeed, mulberry32, sampleDistinct, shuffledIndices } from '../random.js';
import { badConfig as bad, type TrainConfig } from './config.js';
import type { MlmBatch, TrainBatch, TrainerOptions } from './types.js';

/** One ranking example: a query, its positives and the negatives it may draw from. */
export interface TrainExample { qid: string; pos: string[]; neg: string[]; scores?: { [docid: string]: number } }

/** Ranking batches: a query, one of its positives and negativesPerQuery of its negatives each. */
export class BatchSource {
  private orderEpoch = -1;
  private order = new Uint32Array(0);
  private readonly qTokens = new Map<string, Int32Array>();
  private readonly dTokens = new Map<string, Int32Array>();

  constructor(
    private readonly model: SpladeModel,
    private readonly cfg: TrainConfig,
    private readonly records: TrainExample[],
    private readonly queries: Map<string, string>,
    private readonly docs: Map<string, string>,
    private readonly teacher: boolean,
  ) {}

  /** Record order of epoch e: a Fisher-Yates shuffle seeded by (seed, e). */
  private epochOrder(e: number): Uint32Array {
    if (e !== this.orderEpoch) {
      this.order = shuffledIndices(this.records.length, hashSeed(this.cfg.seed, `epoch:${e}`));
      this.orderEpoch = e;
    }
    return this.order;
  }

  private query(qid: string): Int32Array {
    let ids = this.qTokens.get(qid);
    if (!ids) this.qTokens.set(qid, (ids = this.model.tokenize(this.queries.get(qid)!, { kind: 'query', maxLength: this.cfg.queryMaxLength })));
    return ids;
  }

  private doc(id: string): Int32Array {
    let ids = this.dTokens.get(id);
    if (!ids) this.dTokens.set(id, (ids = this.model.tokenize(this.docs.get(id)!, { kind: 'document', maxLength: this.cfg.docMaxLength })));
    return ids;
  }

  /** Batch t (0-based): examples t*B .. t*B+B-1 of the endless stream of shuffled epochs. */
  batch(t: number): TrainBatch {
    const B = this.cfg.batchSize, N = this.records.length;
    const batch: TrainBatch = { queries: [], documents: [] };
    if (this.teacher) batch.teacherScores = [];
    for (let i = 0; i < B; i++) {
      const k = t * B + i;
      const e = Math.floor(k / N);
      const r = this.records[this.epochOrder(e)[k % N]];
      const pos = r.pos[Math.floor(mulberry32(hashSeed(this.cfg.seed, `pos:${e}:${r.qid}`))() * r.pos.length)];
      const negs = (this.cfg.negativeSampling ?? 'random') === 'first'
        ? r.neg.slice(0, this.cfg.negativesPerQuery)
        : sampleDistinct(r.neg, this.cfg.negativesPerQuery, mulberry32(hashSeed(this.cfg.seed, `neg:${e}:${r.qid}`)));
      const docs = [pos, ...negs];
      batch.queries.push(this.query(r.qid));
      batch.documents.push(docs.map((d) => this.doc(d)));
      if (batch.teacherScores) batch.teacherScores.push(docs.map((d) => r.scores![d]));
    }
    return batch;
  }
}

/** MLM batches: the corpus's documents in seeded per-epoch orders, batchSize sequences a step. */
export class MlmSource {
  private orderEpoch = -1;
  private order = new Uint32Array(0);

  constructor(private readonly model: SpladeModel, private readonly cfg: TrainConfig, private readonly texts: string[]) {}

  batch(t: number): MlmBatch {
    const B = this.cfg.batchSize, N = this.texts.length;
    const sequences: Int32Array[] = [];
    for (let i = 0; i < B; i++) {
      const k = t * B + i, e = Math.floor(k / N);
      if (e !== this.orderEpoch) {
        this.order = shuffledIndices(N, hashSeed(this.cfg.seed, `mlm-epoch:${e}`));
        this.orderEpoch = e;
      }
      sequences.push(this.model.tokenize(this.texts[this.order[k % N]], { kind: 'document', maxLength: this.cfg.docMaxLength }));
    }
    return { objective: 'mlm', sequences };
  }
}

/** The examples, the texts they name, the negatives list used and the records left out for want of a positive or negatives. */
export interface RankingExamples { records: TrainExample[]; queries: Map<string, string>; docs: Map<string, string>; source: string; skipped: number }

/** True when the loss (or one of its parts) distils teacher scores. */
export function needsTeacher(loss: TrainerOptions['loss']): boolean {
  const names = loss === undefined ? [] : typeof loss === 'string' ? [loss] : Array.isArray(loss) ? loss.map((p) => p?.loss) : [];
  return names.some((n) => n === 'marginmse' || n === 'kldiv');
}

export async function readRankingExamples(cfg: TrainConfig, teacher: boolean): Promise<RankingExamples> {
  const all: Array<{ lineNo: number; record: NegativesFileRecord }> = [];
  for await (const r of readNegatives(cfg.negatives)) all.push(r);
  if (all.length === 0) bad(`${cfg.negatives}: no negatives records`);
  const source = cfg.negativeSource ?? Object.keys(all[0].record.neg)[0];
  if (source === undefined) bad(`${cfg.negatives}:${all[0].lineNo}: record ${JSON.stringify(all[0].record.qid)} has no negative lists`);
  const records: TrainExample[] = [];
  let skipped = 0;
  for (const { lineNo, record: r } of all) {
    const list = r.neg[source];
    if (r.pos.length === 0 || !Array.isArray(list) || list.length < cfg.negativesPerQuery) {
      skipped++;
      continue;
    }
    const neg = cfg.negativeSampling === 'first' ? list.slice(0, cfg.negativesPerQuery) : list.slice();
    if (teacher) {
      const where = `${cfg.negatives}:${lineNo}: record ${JSON.stringify(r.qid)}`;
      if (r.scores === null || typeof r.scores !== 'object') {
        bad(`${where} has no "scores" (the ${JSON.stringify(cfg.trainer.loss)} loss needs teacher scores: add them with 'splade score')`);
      }
      for (const d of [...r.pos, ...neg]) {
        if (typeof r.scores[d] !== 'number' || !Number.isFinite(r.scores[d])) bad(`${where}: no teacher score for document ${JSON.stringify(d)} in "scores"`);
      }
    }
    records.push({ qid: r.qid, pos: r.pos, neg, scores: r.scores });
  }
  if (records.length === 0) {
    bad(`${cfg.negatives}: no record has a positive and ${cfg.negativesPerQuery} negatives in the "${source}" list`);
  }

  // texts: only the ones the examples use
  const needQ = new Set(records.map((r) => r.qid));
  const needD = new Set(records.flatMap((r) => [...r.pos, ...r.neg]));
  const queries = await readTextsById(cfg.queries, 'query', needQ, cfg.negatives);
  const docs = await readTextsById(cfg.corpus, 'document', needD, cfg.negatives);
  return { records, queries, docs, source, skipped };
}
