/*
 * A ranking job's examples: the negatives file's records that have a positive and enough negatives
 * in the chosen list (teacher scores checked when the loss needs them), and the texts of only the
 * queries and documents those records name.
 */
import { ErrorCode, SpladeError } from '../errors.js';
import { readNegatives, type NegativesFileRecord } from '../data/negatives.js';
import { readTextsById } from '../pipeline.js';
import type { TrainExample } from './batches.js';
import type { TrainConfig } from './config.js';
import type { TrainerOptions } from './types.js';

export interface RankingExamples {
  records: TrainExample[];
  queries: Map<string, string>;
  docs: Map<string, string>;
  /** The negatives list used, and how many records were left out for want of a positive or negatives. */
  source: string;
  skipped: number;
}

function bad(message: string): never {
  throw new SpladeError(message, ErrorCode.invalidArgument);
}

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
