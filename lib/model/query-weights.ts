/*
 * Inference-free query weights that come with a model: one weight per vocabulary id, a query being
 * the distinct ids of its text (no special tokens) each with its weight, no encoder pass. Two
 * sources hold them:
 * - OpenSearch's inference-free models (opensearch-neural-sparse-encoding-doc-*): idf.json beside
 *   the checkpoint, { token: weight }, applied as their model cards do (a query's token presence
 *   times idf);
 * - sentence-transformers' SparseStaticEmbedding (the query route of a SparseEncoder Router):
 *   model.safetensors with one tensor `weight` (V), whose forward is the same presence x weight.
 * Tokens the tokenizer does not know, and weights that are not finite, are errors naming the file.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import type { SparseVector } from '../sparse.js';
import { atomicWriteText } from '../data/atomic.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { FileHandle, numel } from './tensor.js';
import type { SpladeTokenizer } from './tokenizer.js';

export class QueryWeights {
  /** weights (V): the weight of each vocabulary id; tokenizer: the one queries go through. */
  constructor(readonly weights: Float32Array, readonly tokenizer: SpladeTokenizer) {}

  /** The query's vector: its distinct ids (the first maxLength tokens, no special tokens) with weight > 0. */
  query(text: string, maxLength: number): SparseVector {
    const ids = [...new Set(this.tokenizer.encodeBody(text, maxLength))].filter((t) => this.weights[t] > 0).sort((a, b) => a - b);
    return { indices: Uint32Array.from(ids), values: Float32Array.from(ids, (t) => this.weights[t]) };
  }

  /** OpenSearch's idf.json in dir, or undefined when there is none. */
  static readIdfJson(dir: string, tokenizer: SpladeTokenizer, vocabSize: number): QueryWeights | undefined {
    const file = join(dir, 'idf.json');
    if (!existsSync(file)) return undefined;
    let idf: unknown;
    try {
      idf = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new SpladeError(`${file}: not valid JSON (${(err as Error).message})`, ErrorCode.corruptFile);
    }
    if (idf === null || typeof idf !== 'object' || Array.isArray(idf)) throw new SpladeError(`${file}: expected an object { token: weight }`, ErrorCode.corruptFile);
    const weights = new Float32Array(vocabSize);
    for (const [token, w] of Object.entries(idf)) {
      const id = tokenizer.tokenToId(token);
      if (id === undefined || id >= vocabSize) throw new SpladeError(`${file}: token ${JSON.stringify(token)} is not in the model's vocabulary`, ErrorCode.corruptFile);
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new SpladeError(`${file}: the weight of ${JSON.stringify(token)} is not a finite number`, ErrorCode.corruptFile);
      weights[id] = w;
    }
    return new QueryWeights(weights, tokenizer);
  }

  /** A SparseStaticEmbedding's weights (dir/model.safetensors, tensor `weight` of vocabSize entries). */
  static async readStaticEmbedding(dir: string, tokenizer: SpladeTokenizer, vocabSize: number): Promise<QueryWeights> {
    const file = join(dir, 'model.safetensors');
    if (!existsSync(file)) throw new SpladeError(`${dir}: model.safetensors is missing (SparseStaticEmbedding weights)`, ErrorCode.io);
    const h = new FileHandle(file);
    try {
      const t = readSafetensors(h).find((x) => x.name === 'weight');
      if (!t) throw new SpladeError(`${file}: no tensor named weight`, ErrorCode.corruptFile);
      if (t.shape.length !== 1 || numel(t.shape) !== vocabSize) {
        throw new SpladeError(`${file}: weight has shape [${t.shape.join(', ')}], expected [${vocabSize}] (one weight per vocabulary id)`, ErrorCode.corruptFile);
      }
      const weights = new Float32Array(vocabSize);
      await t.read(weights);
      const bad = weights.findIndex((w) => !Number.isFinite(w));
      if (bad >= 0) throw new SpladeError(`${file}: weight[${bad}] is not finite`, ErrorCode.corruptFile);
      return new QueryWeights(weights, tokenizer);
    } finally {
      h.close();
    }
  }

  /** idf.json: { token: weight } for every weight > 0, written atomically. */
  writeIdfJson(dir: string): void {
    const out: Record<string, number> = {};
    this.weights.forEach((w, id) => {
      if (w > 0) out[this.tokenizer.idToToken(id)] = w;
    });
    atomicWriteText(join(dir, 'idf.json'), JSON.stringify(out));
  }

  /** A SparseStaticEmbedding module directory: config.json, model.safetensors, the tokenizer files. */
  writeStaticEmbedding(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, 'model.safetensors'), [['weight', this.weights, [this.weights.length]]]);
    atomicWriteText(join(dir, 'config.json'), JSON.stringify({ frozen: false }, null, 2));
    this.tokenizer.save(dir);
  }
}
