// sentence-transformers v5 SparseEncoder directories and OpenSearch's idf.json query weights. The
// directories are laid out here as sentence-transformers saves them (modules.json, module
// directories, router_config.json, SpladePooling's config.json, SparseStaticEmbedding's `weight`)
// around the PyTorch-checked tiny BERT; each must give the vectors of the equivalent plain Hugging
// Face directory, with the pooling, activation, max_active_dims and prompts it names.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, type SparseVector } from '../lib/index.js';
import { readVectors } from '../lib/data/vectors.js';
import { writeSafetensors } from '../lib/model/safetensors.js';
import { runCli } from './helpers/cli.js';

const BERT = join(import.meta.dirname, 'fixtures', 'models', 'bert');
const TEXTS = ['The cat sat on the mat.', 'Sparse retrieval: learning what words matter!', 'how many dogs were there in the house'];
const V = 256;

const tmpRoot = mkdtempSync(join(tmpdir(), 'splade-st-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
const tmp = () => join(tmpRoot, String(tmpCount++));

const json = (path: string, v: unknown) => writeFileSync(path, JSON.stringify(v, null, 2));
const MLM = 'sentence_transformers.sparse_encoder.models.MLMTransformer';
const POOL = 'sentence_transformers.sparse_encoder.models.SpladePooling';
const STATIC = 'sentence_transformers.sparse_encoder.models.SparseStaticEmbedding';

/** MLMTransformer saved at the root, then 1_SpladePooling, as SparseEncoder.save writes them. */
function plainSparseEncoder(pooling: object, stConfig: object = {}): string {
  const d = tmp();
  cpSync(BERT, d, { recursive: true });
  json(join(d, 'sentence_bert_config.json'), { max_seq_length: 256, do_lower_case: false });
  mkdirSync(join(d, '1_SpladePooling'));
  json(join(d, '1_SpladePooling', 'config.json'), { word_embedding_dimension: V, ...pooling });
  json(join(d, 'config_sentence_transformers.json'), { model_type: 'SparseEncoder', prompts: { query: '', document: '' }, similarity_fn_name: 'dot', ...stConfig });
  json(join(d, 'modules.json'), [{ idx: 0, name: '0', path: '', type: MLM }, { idx: 1, name: '1', path: '1_SpladePooling', type: POOL }]);
  return d;
}

/** A weight per vocabulary id, zero for some. */
const staticWeights = () => Float32Array.from({ length: V }, (_, i) => (i % 7 === 0 ? 0 : 0.5 + ((i * 37) % 11) / 4));

/** A Router: query_0_SparseStaticEmbedding (inference-free) and document_0_MLMTransformer + document_1_SpladePooling. */
function routerSparseEncoder(weights: Float32Array): string {
  const d = tmp();
  mkdirSync(d);
  const q = join(d, 'query_0_SparseStaticEmbedding'), m = join(d, 'document_0_MLMTransformer'), p = join(d, 'document_1_SpladePooling');
  mkdirSync(q);
  writeSafetensors(join(q, 'model.safetensors'), [['weight', weights, [V]]]);
  json(join(q, 'config.json'), { frozen: false });
  cpSync(join(BERT, 'tokenizer.json'), join(q, 'tokenizer.json'));
  cpSync(BERT, m, { recursive: true });
  mkdirSync(p);
  json(join(p, 'config.json'), { pooling_strategy: 'max', activation_function: 'relu', word_embedding_dimension: V });
  json(join(d, 'router_config.json'), {
    types: { query_0_SparseStaticEmbedding: STATIC, document_0_MLMTransformer: MLM, document_1_SpladePooling: POOL },
    structure: { query: ['query_0_SparseStaticEmbedding'], document: ['document_0_MLMTransformer', 'document_1_SpladePooling'] },
    parameters: { default_route: 'document', allow_empty_key: true },
  });
  json(join(d, 'config_sentence_transformers.json'), { model_type: 'SparseEncoder', prompts: { query: '', document: '' } });
  json(join(d, 'modules.json'), [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Router' }]);
  return d;
}

/** SparseStaticEmbedding's forward: each distinct token of the text (no special tokens) with its weight. */
async function presenceTimesWeight(text: string, weights: Float32Array): Promise<SparseVector> {
  const hf = await SpladeModel.load(BERT);
  const ids = Array.from(hf.tokenize(text)).slice(1, -1);  // [CLS] ... [SEP]
  const keep = [...new Set(ids)].filter((t) => weights[t] > 0).sort((a, b) => a - b);
  return { indices: Uint32Array.from(keep), values: Float32Array.from(keep, (t) => weights[t]) };
}

const plain = (v: SparseVector) => ({ indices: Array.from(v.indices), values: Array.from(v.values) });
const same = (a: SparseVector[], b: SparseVector[]) => expect(a.map(plain)).toEqual(b.map(plain));

describe('sentence-transformers SparseEncoder directories', () => {
  it('MLMTransformer + SpladePooling (max, relu) gives the Hugging Face directory\'s vectors', async () => {
    const hf = await SpladeModel.load(BERT);
    const st = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'max', activation_function: 'relu' }));
    for (const kind of ['query', 'document'] as const) same(await st.encode(TEXTS, { kind }), await hf.encode(TEXTS, { kind }));
  });

  it('takes sum pooling, log1p_relu, max_active_dims and prompts from the directory', async () => {
    const hf = await SpladeModel.load(BERT);
    const sum = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'sum', activation_function: 'relu' }));
    same(await sum.encode(TEXTS), await hf.encode(TEXTS, { pooling: 'sum' }));

    const log1p = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'max', activation_function: 'log1p_relu' }));
    const want = (await hf.encode(TEXTS)).map((v) => ({ indices: Array.from(v.indices), values: Array.from(v.values, (x) => Math.log1p(x)) }));
    const got = await log1p.encode(TEXTS);
    got.forEach((v, i) => {
      expect(Array.from(v.indices)).toEqual(want[i].indices);
      v.values.forEach((x, k) => expect(x).toBeCloseTo(want[i].values[k], 6));
    });
    await expect(log1p.encode(TEXTS, { pooling: 'sum' })).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED' });
    await expect(SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'sum', activation_function: 'log1p_relu' })))
      .rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED' });

    const k5 = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'max' }, { max_active_dims: 5 }));
    const top5 = await k5.encode(TEXTS);
    expect(top5.every((v) => v.indices.length === 5)).toBe(true);
    same(top5, await hf.encode(TEXTS, { topK: 5 }));

    const prompted = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'max' }, { prompts: { query: 'what is ', document: '' } }));
    same(await prompted.encode(TEXTS, { kind: 'query' }), await hf.encode(TEXTS.map((t) => 'what is ' + t), { kind: 'query' }));
    same(await prompted.encode(TEXTS), await hf.encode(TEXTS));

    // do_lower_case: the (case-sensitive) text lower-cased first; kept by save
    const cased = ['Zebra QUERY', 'MiXeD case Text'];
    const lower = plainSparseEncoder({ pooling_strategy: 'max' });
    json(join(lower, 'sentence_bert_config.json'), { max_seq_length: 256, do_lower_case: true });
    const tok = JSON.parse(readFileSync(join(lower, 'tokenizer.json'), 'utf8'));
    tok.normalizer.lowercase = false;
    json(join(lower, 'tokenizer.json'), tok);
    const lowered = await SpladeModel.load(lower);
    same(await lowered.encode(cased), await lowered.encode(cased.map((t) => t.toLowerCase())));
    const out = tmp();
    await lowered.save(out, { format: 'sentence-transformers' });
    expect(JSON.parse(readFileSync(join(out, 'sentence_bert_config.json'), 'utf8')).do_lower_case).toBe(true);
    same(await (await SpladeModel.load(out)).encode(cased), await lowered.encode(cased));
  });

  it('a Router whose query route is a SparseStaticEmbedding: inference-free queries, encoded documents', async () => {
    const weights = staticWeights();
    const hf = await SpladeModel.load(BERT);
    const st = await SpladeModel.load(routerSparseEncoder(weights));
    expect(st.hasQueryWeights).toBe(true);
    same(await st.encode(TEXTS), await hf.encode(TEXTS));
    const q = await st.encode(TEXTS, { kind: 'query' });
    same(q, await Promise.all(TEXTS.map((t) => presenceTimesWeight(t, weights))));
    expect(q[0].indices.length).toBeGreaterThan(2);
    // opting out runs the query encoder (here the document encoder: the Router shares it)
    same(await st.encode(TEXTS, { kind: 'query', queryWeights: false }), await hf.encode(TEXTS, { kind: 'query' }));
  });

  it('save({ format: "sentence-transformers" }) writes directories that load back with the same vectors', async () => {
    const hf = await SpladeModel.load(BERT);
    const out = tmp();
    await hf.save(out, { format: 'sentence-transformers' });
    for (const f of ['modules.json', 'config_sentence_transformers.json', 'sentence_bert_config.json', 'config.json', 'model.safetensors',
      'tokenizer.json', '1_SpladePooling/config.json']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'modules.json'), 'utf8')).map((m: { type: string }) => m.type)).toEqual([MLM, POOL]);
    const back = await SpladeModel.load(out);
    same(await back.encode(TEXTS), await hf.encode(TEXTS));

    const weights = staticWeights();
    const router = await SpladeModel.load(routerSparseEncoder(weights));
    const out2 = tmp();
    await router.save(out2, { format: 'sentence-transformers' });
    const cfg = JSON.parse(readFileSync(join(out2, 'router_config.json'), 'utf8'));
    expect(cfg.structure).toEqual({ query: ['query_0_SparseStaticEmbedding'], document: ['document_0_MLMTransformer', 'document_1_SpladePooling'] });
    const back2 = await SpladeModel.load(out2);
    expect(back2.hasQueryWeights).toBe(true);
    for (const kind of ['query', 'document'] as const) same(await back2.encode(TEXTS, { kind }), await router.encode(TEXTS, { kind }));

    const log1p = await SpladeModel.load(plainSparseEncoder({ pooling_strategy: 'max', activation_function: 'log1p_relu' }, { max_active_dims: 7 }));
    const out3 = tmp();
    await log1p.save(out3, { format: 'sentence-transformers' });
    same(await (await SpladeModel.load(out3)).encode(TEXTS), await log1p.encode(TEXTS));
    await expect(hf.save(tmp(), { format: 'onnx' as never })).rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
  });

  it('a model with separate query and document encoders saves as a Router of two MLM routes', async () => {
    const distil = join(import.meta.dirname, 'fixtures', 'models', 'distilbert');
    const two = await SpladeModel.load({ query: distil, document: BERT });
    const out = tmp();
    await two.save(out, { format: 'sentence-transformers' });
    const cfg = JSON.parse(readFileSync(join(out, 'router_config.json'), 'utf8'));
    expect(cfg.structure).toEqual({ query: ['query_0_MLMTransformer', 'query_1_SpladePooling'],
      document: ['document_0_MLMTransformer', 'document_1_SpladePooling'] });
    const back = await SpladeModel.load(out);
    expect(back.hasQueryWeights).toBe(false);
    for (const kind of ['query', 'document'] as const) same(await back.encode(TEXTS, { kind }), await two.encode(TEXTS, { kind }));
    // the two routes really differ
    expect((await back.encode(TEXTS, { kind: 'query' })).map(plain)).not.toEqual((await back.encode(TEXTS)).map(plain));
  });

  it('refuses modules it does not implement, and broken files, with coded errors', async () => {
    const d = plainSparseEncoder({ pooling_strategy: 'max' });
    json(join(d, 'modules.json'), [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }]);
    await expect(SpladeModel.load(d)).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/Transformer \+ Pooling/) });
    const bad = plainSparseEncoder({ pooling_strategy: 'mean' });
    await expect(SpladeModel.load(bad)).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/mean/) });
    const escape = plainSparseEncoder({ pooling_strategy: 'max' });
    json(join(escape, 'modules.json'), [{ idx: 0, name: '0', path: '', type: MLM }, { idx: 1, name: '1', path: '../../x', type: POOL }]);
    await expect(SpladeModel.load(escape)).rejects.toMatchObject({ code: 'ERR_SPLADE_CORRUPT_FILE' });
    const short = routerSparseEncoder(new Float32Array(V));
    writeSafetensors(join(short, 'query_0_SparseStaticEmbedding', 'model.safetensors'), [['weight', new Float32Array(10), [10]]]);
    await expect(SpladeModel.load(short)).rejects.toMatchObject({ code: 'ERR_SPLADE_CORRUPT_FILE', message: expect.stringMatching(/one weight per vocabulary id/) });
  });
});

describe('OpenSearch idf.json query weights', () => {
  /** The tiny BERT with an idf.json, as OpenSearch's inference-free models ship it. */
  function withIdf(): { dir: string; weights: Float32Array } {
    const dir = tmp();
    cpSync(BERT, dir, { recursive: true });
    const vocab = JSON.parse(readFileSync(join(BERT, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
    const weights = staticWeights();
    const idf: Record<string, number> = {};
    for (const [token, id] of Object.entries(vocab)) if (weights[id] > 0) idf[token] = weights[id];
    json(join(dir, 'idf.json'), idf);
    return { dir, weights };
  }

  it('encode(kind query) weighs the query tokens by idf.json; documents and queryWeights: false use the encoder', async () => {
    const { dir, weights } = withIdf();
    const hf = await SpladeModel.load(BERT);
    const m = await SpladeModel.load(dir);
    expect(m.hasQueryWeights).toBe(true);
    expect(hf.hasQueryWeights).toBe(false);
    same(await m.encode(TEXTS, { kind: 'query' }), await Promise.all(TEXTS.map((t) => presenceTimesWeight(t, weights))));
    same(await m.encode(TEXTS, { kind: 'query', topK: 2 }), (await m.encode(TEXTS, { kind: 'query' })).map((v) => {
      const keep = Array.from(v.indices.keys()).sort((a, b) => v.values[b] - v.values[a] || a - b).slice(0, 2).sort((a, b) => a - b);
      return { indices: Uint32Array.from(keep, (k) => v.indices[k]), values: Float32Array.from(keep, (k) => v.values[k]) };
    }));
    same(await m.encode(TEXTS), await hf.encode(TEXTS));
    same(await m.encode(TEXTS, { kind: 'query', queryWeights: false }), await hf.encode(TEXTS, { kind: 'query' }));
    // save keeps idf.json
    const out = tmp();
    await m.save(out);
    same(await (await SpladeModel.load(out)).encode(TEXTS, { kind: 'query' }), await m.encode(TEXTS, { kind: 'query' }));
  });

  it('refuses an idf.json naming tokens outside the vocabulary', async () => {
    const { dir } = withIdf();
    json(join(dir, 'idf.json'), { cat: 1.5, 'no-such-token-here': 2 });
    await expect(SpladeModel.load(dir)).rejects.toMatchObject({ code: 'ERR_SPLADE_CORRUPT_FILE', message: expect.stringMatching(/no-such-token-here/) });
  });

  it('CLI: encode --kind query --query-weights model|encoder, and model without weights is an error', async () => {
    const { dir, weights } = withIdf();
    const queries = join(tmp() + '.jsonl');
    writeFileSync(queries, TEXTS.map((t, i) => JSON.stringify({ _id: `q${i}`, text: t })).join('\n') + '\n');
    const read = async (p: string) => {
      const out: SparseVector[] = [];
      for await (const r of readVectors(p)) out.push(r.vector);
      return out;
    };
    const want = await Promise.all(TEXTS.map((t) => presenceTimesWeight(t, weights)));
    for (const flag of [['--query-weights', 'model'], []]) {
      const out = tmp() + '.jsonl';
      const r = await runCli('encode', '--model', dir, '--input', queries, '--kind', 'query', '--out', out, ...flag);
      expect(r.code, r.err).toBe(0);
      same(await read(out), want);
    }
    const enc = tmp() + '.jsonl';
    expect((await runCli('encode', '--model', dir, '--input', queries, '--kind', 'query', '--out', enc, '--query-weights', 'encoder')).code).toBe(0);
    same(await read(enc), await (await SpladeModel.load(BERT)).encode(TEXTS, { kind: 'query' }));
    const r = await runCli('encode', '--model', BERT, '--input', queries, '--kind', 'query', '--out', tmp() + '.jsonl', '--query-weights', 'model');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/query weights of its own/);
  });
});
