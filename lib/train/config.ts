// A training job's configuration (`splade train --config`, trainJob): checked key by key, defaults
// filled in, paths resolved against a base directory (the config file's).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import type { TrainerOptions } from './types.js';

/** A training job with every default filled in and every path absolute. */
export interface TrainConfig {
  /** 'ranking' (default: queries with mined negatives) or 'mlm' (masked-LM on the corpus alone). */
  objective: 'ranking' | 'mlm';
  /** queries and negatives are '' for the mlm objective. */
  model: string; output: string; corpus: string; queries: string; negatives: string;
  negativeSource?: string; negativesPerQuery: number; batchSize: number; steps: number;
  /** 'random' (default): each time a query comes round, negativesPerQuery drawn afresh from its whole list
   * (as naver/splade samples its hard negatives); 'first': always the list's first ones. */
  negativeSampling?: 'random' | 'first';
  queryMaxLength: number; docMaxLength: number; checkpointEvery: number; seed: number;
  /** 'idf': inference-free queries (word pieces x idf over the corpus; the trainer's queryTermWeights). */
  queryWeights?: 'idf';
  trainer: TrainerOptions;
}

/** A job as given: model, output, corpus and steps are required (queries and negatives too for ranking). */
export type TrainJobConfig = Partial<TrainConfig> & Pick<TrainConfig, 'model' | 'output' | 'corpus' | 'steps'>;

/** The error of a config that cannot run: invalid argument. */
export function badConfig(message: string): never {
  throw new SpladeError(message, ErrorCode.invalidArgument);
}

/** The JSON value of a config file (checked by parseTrainConfig). */
export function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return badConfig(`${path}: ${(err as Error).message}`);
  }
}

/** Checks a config; `name` prefixes the messages, relative paths resolve against `base`. */
export function parseTrainConfig(raw: unknown, name: string, base: string): TrainConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) badConfig(`${name}: the config must be a JSON object`);
  const c = raw as { [k: string]: unknown };
  const str = (k: string): string => {
    const v = c[k];
    if (typeof v !== 'string' || v === '') badConfig(`${name}: "${k}" must be a non-empty string`);
    return v;
  };
  const file = (k: string) => {
    const v = str(k);
    return isAbsolute(v) ? v : resolve(base, v);
  };
  const int = (k: string, d: number | undefined, min: number): number => {
    const v = c[k];
    if (v === undefined && d !== undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) badConfig(`${name}: "${k}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const modelRef = str('model');
  const localModel = isAbsolute(modelRef) ? modelRef : resolve(base, modelRef);
  if (c.negativeSource !== undefined && (typeof c.negativeSource !== 'string' || c.negativeSource === '')) {
    badConfig(`${name}: "negativeSource" must be a non-empty string`);
  }
  const trainer = c.trainer ?? {};
  if (trainer === null || typeof trainer !== 'object' || Array.isArray(trainer)) badConfig(`${name}: "trainer" must be an object`);
  if (c.negativeSampling !== undefined && c.negativeSampling !== 'random' && c.negativeSampling !== 'first') {
    badConfig(`${name}: "negativeSampling" must be "random" or "first", got ${JSON.stringify(c.negativeSampling)}`);
  }
  const known = new Set(['objective', 'model', 'output', 'corpus', 'queries', 'negatives', 'negativeSource', 'negativesPerQuery', 'negativeSampling',
    'batchSize', 'steps', 'queryMaxLength', 'docMaxLength', 'checkpointEvery', 'seed', 'queryWeights', 'trainer']);
  const unknown = Object.keys(c).filter((k) => !known.has(k) && c[k] !== undefined);
  if (unknown.length) badConfig(`${name}: unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const objective = c.objective ?? 'ranking';
  if (objective !== 'ranking' && objective !== 'mlm') badConfig(`${name}: "objective" must be "ranking" or "mlm", got ${JSON.stringify(objective)}`);
  const mlm = objective === 'mlm';
  if (c.queryWeights !== undefined && (c.queryWeights !== 'idf' || mlm)) badConfig(`${name}: "queryWeights" must be "idf" (ranking objective only), got ${JSON.stringify(c.queryWeights)}`);
  return {
    objective,
    // a local directory (relative to the base) when it exists, otherwise a hub id
    model: existsSync(localModel) ? localModel : modelRef,
    output: file('output'), corpus: file('corpus'), queries: mlm ? '' : file('queries'), negatives: mlm ? '' : file('negatives'),
    negativeSource: c.negativeSource as string | undefined,
    negativesPerQuery: int('negativesPerQuery', 1, 0),
    negativeSampling: (c.negativeSampling ?? 'random') as 'random' | 'first',
    batchSize: int('batchSize', 16, 1),
    steps: int('steps', undefined, 1),
    queryMaxLength: int('queryMaxLength', 32, 2),
    docMaxLength: int('docMaxLength', 256, 2),
    checkpointEvery: int('checkpointEvery', 0, 0),
    seed: int('seed', 0, 0),
    ...(c.queryWeights === 'idf' ? { queryWeights: 'idf' as const } : {}),
    trainer: trainer as TrainerOptions,
  };
}
