/*
 * Recipe files: a named, documented list of stages (init, mlm, pseudo-queries, text, mine, score,
 * train, index, evaluate) that `splade recipe` runs in order. A recipe is JSON:
 *
 *   { "name": "...", "description": "...", "params": { "data": "../data/med", ... },
 *     "stages": [ { "stage": "mine", "name": "bm25-negatives", ... }, ... ] }
 *
 * `${param}` in any string is replaced by the param's value (command-line `--set k=v` overrides the
 * recipe's). A model may be named as `@<stage name>`: the model that stage produced (a skipped stage
 * passes its input model on). Relative paths resolve against the run's work directory, except param
 * defaults starting with ./ or ../, which resolve against the recipe file's directory.
 * parseRecipe checks everything it can without touching the data, so a shipped recipe that parses
 * runs as far as its inputs allow.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { TEXT_MODES } from '../model/idf-query.js';

export const STAGE_KINDS = ['init', 'mlm', 'pseudo-queries', 'text', 'mine', 'score', 'train', 'index', 'evaluate'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** A stage after substitution: its kind, its name (default: its kind and position) and its keys. */
export interface Stage {
  stage: StageKind;
  name: string;
  [key: string]: unknown;
}

export interface Recipe {
  name: string;
  description: string;
  params: Record<string, string>;
  stages: Stage[];
  /** The file it came from (for messages), or '<inline>'. */
  source: string;
}

/** Keys each stage accepts (beyond stage, name, comment), and which of them are required. */
const STAGE_KEYS: Record<StageKind, { required: string[]; optional: string[] }> = {
  init: { required: ['output'], optional: ['layers', 'hidden', 'heads', 'init', 'seed'] },
  mlm: { required: ['model', 'corpus', 'output', 'steps'], optional: ['batchSize', 'maxLength', 'maskProbability', 'seed', 'trainer'] },
  'pseudo-queries': { required: ['corpus', 'output'], optional: ['source', 'minWords', 'maxWords', 'minRestWords', 'span', 'seed'] },
  text: { required: ['collection', 'output'], optional: ['mode', 'split'] },
  mine: { required: ['collection', 'output'], optional: ['split', 'retrievers', 'model', 'depth', 'ranks', 'count', 'fusion', 'seed', 'perCollection', 'maxLength'] },
  score: { required: ['negatives', 'collection', 'model', 'output'], optional: ['batchSize', 'maxLength'] },
  train: {
    required: ['model', 'output', 'corpus', 'queries', 'negatives', 'steps'],
    optional: ['negativeSource', 'negativesPerQuery', 'batchSize', 'queryMaxLength', 'docMaxLength', 'checkpointEvery', 'seed', 'trainer'],
  },
  index: { required: ['model', 'corpus', 'output'], optional: ['maxLength'] },
  evaluate: { required: ['model', 'index', 'collection', 'output'], optional: ['split', 'k', 'bm25', 'fusion', 'queryWeights'] },
};

const TRAINER_KEYS = new Set(['loss', 'inBatchNegatives', 'temperature', 'lambdaQ', 'lambdaD', 'lambdaWarmupSteps', 'queryReg', 'docReg',
  'lr', 'weightDecay', 'warmupSteps', 'totalSteps', 'maxGradNorm', 'dropout', 'seed']);

function bad(where: string, message: string): never {
  throw new SpladeError(`${where}: ${message}`, ErrorCode.invalidArgument);
}

function substitute(value: unknown, params: Record<string, string>, where: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]*)\}/g, (_, k: string) => {
      if (!(k in params)) bad(where, `unknown param \${${k}} (params: ${Object.keys(params).join(', ') || 'none'})`);
      return params[k];
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, params, where));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, params, where)]));
  }
  return value;
}

function checkStage(s: Stage, where: string, earlier: Map<string, StageKind>): void {
  const spec = STAGE_KEYS[s.stage];
  for (const k of spec.required) if (s[k] === undefined) bad(where, `"${k}" is required for a ${s.stage} stage`);
  const known = new Set(['stage', 'name', 'comment', ...spec.required, ...spec.optional]);
  const unknown = Object.keys(s).filter((k) => !known.has(k));
  if (unknown.length) bad(where, `unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')} for a ${s.stage} stage (known: ${[...known].join(', ')})`);
  const str = (k: string) => {
    if (s[k] !== undefined && (typeof s[k] !== 'string' || s[k] === '')) bad(where, `"${k}" must be a non-empty string`);
  };
  const int = (k: string, min: number) => {
    const v = s[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) bad(where, `"${k}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  for (const k of ['output', 'model', 'corpus', 'queries', 'negatives', 'collection', 'index', 'negativeSource', 'split']) str(k);
  for (const k of ['steps', 'layers', 'hidden', 'heads', 'count', 'depth', 'batchSize']) int(k, 1);
  for (const k of ['seed', 'checkpointEvery', 'negativesPerQuery', 'minWords', 'maxWords', 'minRestWords']) int(k, 0);
  for (const k of ['maxLength', 'queryMaxLength', 'docMaxLength']) int(k, 2);
  if (typeof s.model === 'string' && s.model.startsWith('@')) {
    const ref = s.model.slice(1);
    const kind = earlier.get(ref);
    if (!kind) bad(where, `"model": "${s.model}" names no earlier stage (earlier: ${[...earlier.keys()].join(', ') || 'none'})`);
    if (!['init', 'mlm', 'train'].includes(kind)) bad(where, `"model": "${s.model}" names a ${kind} stage, which makes no model`);
  }
  if (s.stage === 'mine') {
    const r = s.retrievers ?? ['bm25'];
    if (!Array.isArray(r) || r.length === 0 || !r.every((x) => x === 'bm25' || x === 'splade')) bad(where, `"retrievers" must be a non-empty list of "bm25" / "splade"`);
    if (r.includes('splade') && s.model === undefined) bad(where, 'the splade retriever needs "model"');
    const ranks = s.ranks;
    if (ranks !== undefined && !(Array.isArray(ranks) && ranks.length === 2 && ranks.every((x) => Number.isInteger(x) && x >= 1) && ranks[0] <= ranks[1])) {
      bad(where, `"ranks" must be [from, to] with 1 <= from <= to`);
    }
    if (s.fusion !== undefined && !['rrf', 'sum', 'none'].includes(s.fusion as string)) bad(where, `"fusion" must be "rrf", "sum" or "none"`);
  }
  if (s.stage === 'pseudo-queries' && s.source !== undefined && !['title', 'sentence', 'auto'].includes(s.source as string)) {
    bad(where, `"source" must be "title", "sentence" or "auto"`);
  }
  if (s.stage === 'init' && s.init !== undefined && s.init !== 'lexical' && s.init !== 'random') bad(where, `"init" must be "lexical" or "random"`);
  if (s.stage === 'evaluate' && s.fusion !== undefined && !['rrf', 'sum', 'none'].includes(s.fusion as string)) bad(where, `"fusion" must be "rrf", "sum" or "none"`);
  if (s.stage === 'evaluate' && s.queryWeights !== undefined && s.queryWeights !== 'encoder' && s.queryWeights !== 'idf') bad(where, `"queryWeights" must be "encoder" or "idf"`);
  if (s.stage === 'text' && s.mode !== undefined && !(TEXT_MODES as readonly unknown[]).includes(s.mode)) bad(where, `"mode" must be one of ${TEXT_MODES.map((m) => `"${m}"`).join(', ')}`);
  for (const k of ['span', 'perCollection', 'bm25']) if (s[k] !== undefined && typeof s[k] !== 'boolean') bad(where, `"${k}" must be true or false`);
  if (s.trainer !== undefined) {
    const t = s.trainer;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) bad(where, '"trainer" must be an object');
    const unknownT = Object.keys(t).filter((k) => !TRAINER_KEYS.has(k));
    if (unknownT.length) bad(where, `unknown trainer option(s) ${unknownT.map((k) => `"${k}"`).join(', ')}`);
  }
}

/** Parses and checks a recipe object; `overrides` replace param values. */
export function parseRecipe(raw: unknown, opts: { source?: string; overrides?: Record<string, string> } = {}): Recipe {
  const source = opts.source ?? '<inline>';
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(source, 'a recipe must be a JSON object');
  const r = raw as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => !['name', 'description', 'params', 'stages', 'comment'].includes(k));
  if (unknown.length) bad(source, `unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')} (known: name, description, params, stages, comment)`);
  if (typeof r.name !== 'string' || r.name === '') bad(source, '"name" must be a non-empty string');
  const description = Array.isArray(r.description) ? r.description.join(' ') : r.description;
  if (typeof description !== 'string' || description === '') bad(source, '"description" must be a non-empty string (or a list of lines)');
  const params: Record<string, string> = {};
  const p = r.params ?? {};
  if (p === null || typeof p !== 'object' || Array.isArray(p)) bad(source, '"params" must be an object of strings');
  const base = source === '<inline>' ? process.cwd() : dirname(resolve(source));
  for (const [k, v] of Object.entries(p)) {
    if (typeof v !== 'string') bad(source, `param "${k}" must be a string`);
    params[k] = /^\.\.?\//.test(v) ? resolve(base, v) : v;
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (!(k in params)) bad(source, `--set ${k}: the recipe has no param "${k}" (params: ${Object.keys(params).join(', ') || 'none'})`);
    params[k] = v;
  }
  if (!Array.isArray(r.stages) || r.stages.length === 0) bad(source, '"stages" must be a non-empty list');
  const earlier = new Map<string, StageKind>();
  const stages = r.stages.map((raw, i) => {
    const where = `${source}: stage ${i + 1}`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(where, 'a stage must be an object');
    const kind = (raw as { stage?: unknown }).stage;
    if (typeof kind !== 'string' || !(STAGE_KINDS as readonly string[]).includes(kind)) {
      bad(where, `"stage" must be one of ${STAGE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    }
    const s = substitute(raw, params, where) as Stage;
    s.name ??= `${kind}-${i + 1}`;
    if (typeof s.name !== 'string' || s.name === '') bad(where, '"name" must be a non-empty string');
    if (earlier.has(s.name)) bad(where, `two stages are named "${s.name}"`);
    checkStage(s, `${source}: stage ${i + 1} (${s.name})`, earlier);
    earlier.set(s.name, s.stage);
    return s;
  });
  return { name: r.name, description, params, stages, source };
}

export function readRecipe(path: string, overrides?: Record<string, string>): Recipe {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SpladeError(`${path}: ${(err as Error).message}`, ErrorCode.invalidArgument);
  }
  return parseRecipe(raw, { source: path, overrides });
}

/** A stage path resolved against the work directory. */
export function resolveIn(workdir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(workdir, p);
}
