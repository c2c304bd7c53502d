/*
 * sentence-transformers v5 SparseEncoder directories (sentence_transformers/sparse_encoder), read and
 * written in the layout that library saves:
 * - modules.json lists the modules in order ({ idx, name, path, type }); config_sentence_transformers.json
 *   holds { model_type: 'SparseEncoder', prompts, similarity_fn_name, ... } (and here max_active_dims
 *   when set: the encode() default for topK, as SparseEncoder(max_active_dims=...) would give);
 * - MLMTransformer: a Hugging Face masked-LM checkpoint directory (config.json, weights, tokenizer)
 *   with sentence_bert_config.json { max_seq_length, do_lower_case }; the first module is saved at the
 *   root (path "");
 * - SpladePooling: config.json { pooling_strategy: max|sum, activation_function: relu|log1p_relu,
 *   word_embedding_dimension };
 * - Router (path "", router_config.json { types, structure: { query: [ids], document: [ids] },
 *   parameters }), each route's modules in directories named by their ids ("query_0_..."); a query
 *   route of one SparseStaticEmbedding is inference-free (see query-weights.ts).
 * Any other module is an ERR_SPLADE_UNSUPPORTED error naming it.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { atomicWriteText } from '../data/atomic.js';

export type SpladeActivation = 'relu' | 'log1p_relu';

/** One route through an MLMTransformer and a SpladePooling. */
export interface MlmRoute {
  dir: string;
  pooling: 'max' | 'sum';
  activation: SpladeActivation;
  maxSeqLength?: number;
  lowerCase: boolean;
}

export interface SparseEncoderLayout {
  document: MlmRoute;
  /** An MLM route, or the directory of a SparseStaticEmbedding (inference-free queries). */
  query: MlmRoute | { staticDir: string };
  maxActiveDims?: number;
  prompts: { query: string; document: string };
}

const ST_VERSION = '5.1.0';
const MODULE = {
  mlm: 'sentence_transformers.sparse_encoder.models.MLMTransformer',
  pooling: 'sentence_transformers.sparse_encoder.models.SpladePooling',
  static: 'sentence_transformers.sparse_encoder.models.SparseStaticEmbedding',
  router: 'sentence_transformers.models.Router',
};

function readJson(file: string): unknown {
  if (!existsSync(file)) throw new SpladeError(`${file} is missing`, ErrorCode.io);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SpladeError(`${file}: not valid JSON (${(err as Error).message})`, ErrorCode.corruptFile);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** 'sentence_transformers....SpladePooling' (or '....SpladePooling.SpladePooling') -> 'SpladePooling'. */
function className(type: unknown, where: string): string {
  if (typeof type !== 'string' || type === '') throw new SpladeError(`${where}: a module without a type`, ErrorCode.corruptFile);
  const parts = type.split('.');
  return parts[parts.length - 1];
}

/** A module's directory under root, refusing paths that leave it. */
function moduleDir(root: string, path: unknown, where: string): string {
  if (typeof path !== 'string') throw new SpladeError(`${where}: a module path is not a string`, ErrorCode.corruptFile);
  const dir = resolve(root, path);
  if (dir !== root && !dir.startsWith(root + sep)) throw new SpladeError(`${where}: module path ${JSON.stringify(path)} leaves the model directory`, ErrorCode.corruptFile);
  return dir;
}

function readPooling(dir: string): Pick<MlmRoute, 'pooling' | 'activation'> {
  const file = join(dir, 'config.json');
  const c = readJson(file);
  if (!isObject(c)) throw new SpladeError(`${file}: expected an object`, ErrorCode.corruptFile);
  const pooling = c.pooling_strategy ?? 'max', activation = c.activation_function ?? 'relu';
  if (pooling !== 'max' && pooling !== 'sum') throw new SpladeError(`${file}: unsupported pooling_strategy ${JSON.stringify(pooling)} (max or sum)`, ErrorCode.unsupported);
  if (activation !== 'relu' && activation !== 'log1p_relu') {
    throw new SpladeError(`${file}: unsupported activation_function ${JSON.stringify(activation)} (relu or log1p_relu)`, ErrorCode.unsupported);
  }
  if (activation === 'log1p_relu' && pooling === 'sum') {
    // log1p after max pooling is log1p of the pooled value (monotone); after sum it is not
    throw new SpladeError(`${file}: log1p_relu with sum pooling is not implemented (max pooling only)`, ErrorCode.unsupported);
  }
  return { pooling, activation };
}

function readMlm(dir: string): Omit<MlmRoute, 'pooling' | 'activation'> {
  const file = join(dir, 'sentence_bert_config.json');
  const c = existsSync(file) ? readJson(file) : {};
  if (!isObject(c)) throw new SpladeError(`${file}: expected an object`, ErrorCode.corruptFile);
  const m = c.max_seq_length;
  if (m !== undefined && m !== null && !(Number.isInteger(m) && (m as number) >= 2)) {
    throw new SpladeError(`${file}: max_seq_length must be an integer >= 2, got ${JSON.stringify(m)}`, ErrorCode.corruptFile);
  }
  return { dir, maxSeqLength: typeof m === 'number' ? m : undefined, lowerCase: c.do_lower_case === true };
}

/** A route's modules ([type, dir] in order) as an MLM route or a static query embedding. */
function route(mods: [string, string][], where: string): MlmRoute | { staticDir: string } {
  const names = mods.map(([t]) => t).join(' + ');
  if (mods.length === 2 && mods[0][0] === 'MLMTransformer' && mods[1][0] === 'SpladePooling') {
    return { ...readMlm(mods[0][1]), ...readPooling(mods[1][1]) };
  }
  if (mods.length === 1 && mods[0][0] === 'SparseStaticEmbedding') return { staticDir: mods[0][1] };
  throw new SpladeError(`${where}: unsupported modules ${names} (supported: MLMTransformer + SpladePooling, or SparseStaticEmbedding for queries)`,
    ErrorCode.unsupported);
}

/** The SparseEncoder layout of root, or undefined when root has no modules.json. */
export function readSparseEncoderDir(root: string): SparseEncoderLayout | undefined {
  const modulesFile = join(root, 'modules.json');
  if (!existsSync(modulesFile)) return undefined;
  const modules = readJson(modulesFile);
  if (!Array.isArray(modules) || modules.length === 0) throw new SpladeError(`${modulesFile}: expected a non-empty list of modules`, ErrorCode.corruptFile);
  const mods = modules.map((m, i): [string, string] => {
    if (!isObject(m)) throw new SpladeError(`${modulesFile}: entry ${i} is not an object`, ErrorCode.corruptFile);
    return [className(m.type, modulesFile), moduleDir(root, m.path, modulesFile)];
  });
  const cfgFile = join(root, 'config_sentence_transformers.json');
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  if (!isObject(cfg)) throw new SpladeError(`${cfgFile}: expected an object`, ErrorCode.corruptFile);
  if (cfg.model_type !== undefined && cfg.model_type !== 'SparseEncoder') {
    throw new SpladeError(`${cfgFile}: model_type ${JSON.stringify(cfg.model_type)} is not a SparseEncoder`, ErrorCode.unsupported);
  }
  const k = cfg.max_active_dims;
  if (k !== undefined && k !== null && !(Number.isInteger(k) && (k as number) >= 1)) {
    throw new SpladeError(`${cfgFile}: max_active_dims must be a positive integer, got ${JSON.stringify(k)}`, ErrorCode.corruptFile);
  }
  const prompts = isObject(cfg.prompts) ? cfg.prompts : {};
  const prompt = (kind: string) => (typeof prompts[kind] === 'string' ? (prompts[kind] as string) : '');
  const common = { maxActiveDims: typeof k === 'number' ? k : undefined, prompts: { query: prompt('query'), document: prompt('document') } };
  if (mods.length === 1 && mods[0][0] === 'Router') {
    const rdir = mods[0][1], file = join(rdir, 'router_config.json');
    const r = readJson(file);
    if (!isObject(r) || !isObject(r.types) || !isObject(r.structure)) throw new SpladeError(`${file}: expected { types, structure }`, ErrorCode.corruptFile);
    const types = r.types, structure = r.structure;
    const side = (name: 'query' | 'document') => {
      const ids = structure[name];
      if (!Array.isArray(ids)) throw new SpladeError(`${file}: no ${name} route`, ErrorCode.unsupported);
      return route(ids.map((id): [string, string] => {
        if (typeof id !== 'string' || !(id in types)) throw new SpladeError(`${file}: route ${name} names an unknown module ${JSON.stringify(id)}`, ErrorCode.corruptFile);
        return [className(types[id], file), moduleDir(rdir, id, file)];
      }), `${file} (${name})`);
    };
    const document = side('document');
    if ('staticDir' in document) throw new SpladeError(`${file}: the document route must be MLMTransformer + SpladePooling`, ErrorCode.unsupported);
    return { document, query: side('query'), ...common };
  }
  const only = route(mods, modulesFile);
  if ('staticDir' in only) throw new SpladeError(`${modulesFile}: a SparseStaticEmbedding alone has no document encoder`, ErrorCode.unsupported);
  return { document: only, query: only, ...common };
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** What save() needs to write one MLM route: the checkpoint writer, pooling and activation. */
export interface MlmRouteWriter {
  saveCheckpoint(dir: string): void;
  pooling: 'max' | 'sum';
  activation: SpladeActivation;
  vocabSize: number;
  maxSeqLength: number;
  lowerCase: boolean;
}

function writeJson(path: string, v: unknown): void {
  atomicWriteText(path, JSON.stringify(v, null, 2) + '\n');
}

function writeMlm(dir: string, w: MlmRouteWriter): void {
  mkdirSync(dir, { recursive: true });
  w.saveCheckpoint(dir);
  writeJson(join(dir, 'sentence_bert_config.json'), { max_seq_length: w.maxSeqLength, do_lower_case: w.lowerCase });
}

function writePooling(dir: string, w: MlmRouteWriter): void {
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, 'config.json'), { pooling_strategy: w.pooling, activation_function: w.activation, word_embedding_dimension: w.vocabSize });
}

/**
 * Writes a SparseEncoder directory: MLMTransformer at the root and 1_SpladePooling when queries and
 * documents share the route; else a Router with query_* and document_* module directories (the
 * query route a SparseStaticEmbedding when writeStatic is given).
 */
export function writeSparseEncoderDir(root: string, opts: {
  document: MlmRouteWriter;
  query: MlmRouteWriter | { writeStatic(dir: string): void } | null;  // null: the document route
  maxActiveDims?: number;
  prompts: { query: string; document: string };
}): void {
  mkdirSync(root, { recursive: true });
  const modules: { idx: number; name: string; path: string; type: string }[] = [];
  if (opts.query === null) {
    writeMlm(root, opts.document);
    writePooling(join(root, '1_SpladePooling'), opts.document);
    modules.push({ idx: 0, name: '0', path: '', type: MODULE.mlm }, { idx: 1, name: '1', path: '1_SpladePooling', type: MODULE.pooling });
  } else {
    const types: Record<string, string> = {};
    const structure: Record<string, string[]> = { query: [], document: [] };
    const add = (routeName: 'query' | 'document', id: string, type: string) => {
      types[id] = type;
      structure[routeName].push(id);
      return join(root, id);
    };
    if ('writeStatic' in opts.query) {
      opts.query.writeStatic(add('query', 'query_0_SparseStaticEmbedding', MODULE.static));
    } else {
      writeMlm(add('query', 'query_0_MLMTransformer', MODULE.mlm), opts.query);
      writePooling(add('query', 'query_1_SpladePooling', MODULE.pooling), opts.query);
    }
    writeMlm(add('document', 'document_0_MLMTransformer', MODULE.mlm), opts.document);
    writePooling(add('document', 'document_1_SpladePooling', MODULE.pooling), opts.document);
    writeJson(join(root, 'router_config.json'), { types, structure, parameters: { default_route: 'document', allow_empty_key: true } });
    modules.push({ idx: 0, name: '0', path: '', type: MODULE.router });
  }
  writeJson(join(root, 'config_sentence_transformers.json'), {
    model_type: 'SparseEncoder',
    __version__: { sentence_transformers: ST_VERSION },
    prompts: opts.prompts,
    default_prompt_name: null,
    similarity_fn_name: 'dot',
    ...(opts.maxActiveDims !== undefined ? { max_active_dims: opts.maxActiveDims } : {}),
  });
  writeJson(join(root, 'modules.json'), modules);  // last: a directory with modules.json is complete
}
