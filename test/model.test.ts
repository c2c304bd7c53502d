// SpladeModel against PyTorch: the fixtures (test/fixtures/make_fixtures.py) hold SPLADE vectors that
// a plain-torch BertForMaskedLM / DistilBertForMaskedLM computed in float64 from the same weights.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { type SparseVector, SpladeError, SpladeModel } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { writeSafetensors } from '../lib/model/safetensors.js';

const here = dirname(fileURLToPath(import.meta.url));
const MODELS = join(here, 'fixtures', 'models');
type Ref = [number, number][];
const exp = JSON.parse(readFileSync(join(here, 'fixtures', 'expected.json'), 'utf8')) as {
  seqs: number[][];
  texts: string[];
  textIds: number[][];
  textIdsMaxLength6: number[][];
  [k: string]: unknown;
};
const refs = (key: string, pooling: 'max' | 'sum') => (exp[key] as Record<string, Ref[]>)[pooling];

const tmpRoot = mkdtempSync(join(tmpdir(), 'splade-model-test-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
const tmp = () => join(tmpRoot, String(tmpCount++));

// Tolerance: 1e-4 relative to max(|ref|, 0.1). Weights near zero come from logits near zero, i.e. from
// cancelling O(1) terms, where float32 keeps ~1e-6 absolute (not relative) accuracy; values reach ~3.
// The whole-vector relative error (L2) is held to 1e-5 (measured ~2e-7).
function compare(got: SparseVector, ref: Ref): { maxRel: number; l2Rel: number } {
  const r = new Map(ref), g = new Map<number, number>();
  for (let k = 0; k < got.indices.length; k++) g.set(got.indices[k], got.values[k]);
  let maxRel = 0, num = 0, den = 0;
  for (const i of new Set([...r.keys(), ...g.keys()])) {
    const a = g.get(i) ?? 0, b = r.get(i) ?? 0;
    maxRel = Math.max(maxRel, Math.abs(a - b) / Math.max(Math.abs(b), 0.1));
    num += (a - b) ** 2;
    den += b * b;
  }
  return { maxRel, l2Rel: Math.sqrt(num / Math.max(den, 1e-30)) };
}

function expectValid(v: SparseVector, V: number): void {
  expect(v.indices).toBeInstanceOf(Uint32Array);
  expect(v.values).toBeInstanceOf(Float32Array);
  expect(v.indices.length).toBe(v.values.length);
  for (let k = 0; k < v.indices.length; k++) {
    if (k > 0) expect(v.indices[k]).toBeGreaterThan(v.indices[k - 1]);
    expect(v.indices[k]).toBeLessThan(V);
    expect(v.values[k]).toBeGreaterThan(0);
  }
}

function expectMatches(vs: SparseVector[], ref: Ref[], label: string): number {
  expect(vs.length).toBe(ref.length);
  let worst = 0;
  vs.forEach((v, i) => {
    expectValid(v, 256);
    const { maxRel, l2Rel } = compare(v, ref[i]);
    expect(maxRel, `${label} sequence ${i}`).toBeLessThanOrEqual(1e-4);
    expect(l2Rel, `${label} sequence ${i}`).toBeLessThanOrEqual(1e-5);
    worst = Math.max(worst, maxRel);
  });
  return worst;
}

const cases: [dir: string, key: string, what: string][] = [
  ['bert', 'bert', 'BERT, model.safetensors F32'],
  ['bert-bin', 'bertF16', 'BERT, pytorch_model.bin (float16 storages)'],
  ['bert-f16', 'bertF16', 'BERT, F16 safetensors'],
  ['bert-bf16', 'bertBF16', 'BERT, BF16 safetensors'],
  ['distilbert', 'distilbert', 'DistilBERT, sharded safetensors'],
];

describe('SpladeModel matches PyTorch', () => {
  for (const [dir, key, what] of cases) {
    for (const pooling of ['max', 'sum'] as const) {
      it(`${what}, ${pooling} pooling`, async () => {
        const model = await SpladeModel.load(join(MODELS, dir));
        expectMatches(await model.encodeIds(exp.seqs, { pooling }), refs(key, pooling), `${dir} ${pooling}`);
      });
    }
  }

  it('tokenizes and encodes texts (all tokens, [CLS]/[SEP] included, take part)', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'), { threads: 2 });
    exp.texts.forEach((t, i) => expect(Array.from(model.tokenize(t))).toEqual(exp.textIds[i]));
    exp.texts.forEach((t, i) => expect(Array.from(model.tokenize(t, { maxLength: 6 }))).toEqual(exp.textIdsMaxLength6[i]));
    for (const pooling of ['max', 'sum'] as const) {
      expectMatches(await model.encode(exp.texts, { pooling, batchSize: 2 }), refs('bertTexts', pooling), `texts ${pooling}`);
    }
  });

  it('gives the same vectors whatever the batch size and order', async () => {
    const model = await SpladeModel.load(join(MODELS, 'distilbert'));
    const one = await model.encodeIds(exp.seqs);
    const rev = (await model.encodeIds([...exp.seqs].reverse())).reverse();
    const texts = await model.encode(exp.texts, { batchSize: 1 });
    const all = await model.encode(exp.texts, { batchSize: 100 });
    rev.forEach((v, i) => expect(compare(v, Array.from(one[i].indices, (j, k) => [j, one[i].values[k]])).maxRel).toBeLessThan(1e-6));
    all.forEach((v, i) => expect(Array.from(v.indices)).toEqual(Array.from(texts[i].indices)));
    // 23 texts in batches of 2: tokenized in groups of 8 while the previous group encodes; each
    // vector stays with its text
    const many = Array.from({ length: 23 }, (_, i) => `${exp.texts[i % exp.texts.length]} ${'word '.repeat(i)}`.trim());
    const grouped = await model.encode(many, { batchSize: 2 });
    const single = await Promise.all(many.map(async (t) => (await model.encode([t]))[0]));
    grouped.forEach((v, i) => {
      expect(Array.from(v.indices), `text ${i}`).toEqual(Array.from(single[i].indices));
      expect(compare(v, Array.from(single[i].indices, (j, k) => [j, single[i].values[k]])).maxRel, `text ${i}`).toBeLessThan(1e-6);
    });
  });
});

describe('SpladeModel API', () => {
  it('encode([]) is [], the empty string is [CLS] [SEP]', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    expect(await model.encode([])).toEqual([]);
    expect(await model.encodeIds([])).toEqual([]);
    expect(Array.from(model.tokenize(''))).toEqual([2, 3]);
    const [e] = await model.encode(['']);
    const [f] = await model.encodeIds([[2, 3]]);
    expect(Array.from(e.indices)).toEqual(Array.from(f.indices));
    expect(Array.from(e.values)).toEqual(Array.from(f.values));
  });

  it('applies topK and threshold', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const [full] = await model.encode([exp.texts[1]]);
    const [top] = await model.encode([exp.texts[1]], { topK: 5 });
    const [thr] = await model.encode([exp.texts[1]], { threshold: 1 });
    const [both] = await model.encode([exp.texts[1]], { topK: 3, threshold: 1 });
    expectValid(top, 256);
    expect(top.indices.length).toBe(5);
    const sorted = Array.from(full.values).sort((a, b) => b - a);
    expect(Math.min(...top.values)).toBe(sorted[4]);
    for (let k = 0; k < top.indices.length; k++) expect(full.values[Array.from(full.indices).indexOf(top.indices[k])]).toBe(top.values[k]);
    expect(thr.indices.length).toBe(sorted.filter((x) => x > 1).length);
    expect(Math.min(...thr.values)).toBeGreaterThan(1);
    expect(both.indices.length).toBe(Math.min(3, thr.indices.length));
  });

  it('explain() lists the heaviest terms as tokens', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const [v] = await model.encode(['the cat sat on the mat']);
    const top = model.explain(v, 3);
    expect(top.length).toBe(3);
    expect(top[0].weight).toBe(Math.max(...v.values));
    expect(top[0].weight).toBeGreaterThanOrEqual(top[1].weight);
    expect(top[1].weight).toBeGreaterThanOrEqual(top[2].weight);
    const vocab = JSON.parse(readFileSync(join(MODELS, 'bert', 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
    const k = Array.from(v.values).indexOf(top[0].weight);
    const inv = new Map(Object.entries(vocab).map(([t, i]) => [i, t]));
    if (inv.has(v.indices[k])) expect(top[0].token).toBe(inv.get(v.indices[k]));
    expect(model.explain(v).length).toBe(v.indices.length);
    expect(model.explain({ indices: new Uint32Array(0), values: new Float32Array(0) })).toEqual([]);
    expect(() => model.explain({ indices: [1] } as never)).toThrow(SpladeError);
    const oob = { indices: new Uint32Array([1, 256]), values: new Float32Array([1, 2]) }; // the fixture has 256 terms
    expect(() => model.explain(oob)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_OUT_OF_RANGE', message: expect.stringMatching(/v\.indices\[1\] = 256/) }));
  });

  it('rejects bad arguments with uniform messages', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    await expect(model.encode(['a'], { topK: NaN })).rejects.toThrow(/Expected a positive integer for topK but received NaN/);
    await expect(model.encode(['a'], { maxLength: NaN })).rejects.toThrow(/for maxLength but received NaN/);
    await expect(model.encode(['a'], { threshold: NaN })).rejects.toThrow(/Expected a finite number for threshold/);
    await expect(model.encode(['a'], { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(model.encode(['a'], { pooling: 'mean' as never })).rejects.toThrow(/one of 'max', 'sum' for pooling/);
    await expect(model.encode(['a'], { kind: 'passage' as never })).rejects.toThrow(/for kind/);
    await expect(model.encode(['a', 3 as never])).rejects.toThrow(/Expected a string for texts\[1\] but received 3 of type number/);
    await expect(model.encode('abc' as never)).rejects.toThrow(/Expected an array of strings for texts/);
    await expect(model.encodeIds([[2, 999, 3]])).rejects.toThrow(/ids\[0\]\[1\]/);
    await expect(model.encodeIds([[2, 1.5, 3]])).rejects.toThrow(/ids\[0\]\[1\]/);
    await expect(model.encodeIds([[]])).rejects.toThrow(/non-empty/);
    await expect(model.encodeIds([new Array(65).fill(5)])).rejects.toThrow(/at most 64 ids/);
    const err = await model.encode(['a'], { topK: -1 }).catch((e) => e);
    expect(err).toBeInstanceOf(SpladeError);
    expect(err.code).toBe('ERR_SPLADE_INVALID_ARGUMENT');
  });

  it('an unknown device gives a clear error', async () => {  // device 'cuda': test/cuda.test.ts
    await expect(SpladeModel.load(join(MODELS, 'bert'), { device: 'tpu' as never })).rejects.toThrow(/for device/);
  });

  it('parameters() are zero-copy views of the weights the kernels use', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const params = model.parameters();
    expect(params.get('bert.embeddings.word_embeddings.weight')!.length).toBe(256 * 32);
    expect(params.get('bert.encoder.layer.1.attention.self.value.bias')!.length).toBe(32);
    expect(params.has('cls.predictions.bias')).toBe(true);
    expect(params.size).toBe(5 + 2 * 16 + 5);
    const [before] = await model.encodeIds([[2, 10, 3]]);
    const bias = params.get('cls.predictions.bias')!;
    const saved = bias.slice();
    bias.fill(-100); // every logit negative: an empty vector
    const [after] = await model.encodeIds([[2, 10, 3]]);
    expect(after.indices.length).toBe(0);
    bias.set(saved);
    const [again] = await model.encodeIds([[2, 10, 3]]);
    expect(Array.from(again.values)).toEqual(Array.from(before.values));
  });

  it('loads separate query and document encoders', async () => {
    const model = await SpladeModel.load({ query: join(MODELS, 'distilbert'), document: join(MODELS, 'bert') });
    expectMatches(await model.encodeIds(exp.seqs, { kind: 'query' } as never), refs('distilbert', 'max'), 'query');
    expectMatches(await model.encodeIds(exp.seqs), refs('bert', 'max'), 'document');
    const q = await model.encode(exp.texts, { kind: 'query' });
    const d = await model.encode(exp.texts, { kind: 'document' });
    expectMatches(d, refs('bertTexts', 'max'), 'document texts');
    expect(Array.from(q[1].values)).not.toEqual(Array.from(d[1].values));
    expect([...model.parameters().keys()].some((k) => k.startsWith('query/distilbert.'))).toBe(true);
    const out = tmp();
    await model.save(out);
    const back = await SpladeModel.load(out);
    expect(Array.from((await back.encode(exp.texts, { kind: 'query' }))[1].values)).toEqual(Array.from(q[1].values));
  });
});

describe('save and load', () => {
  it('round-trips through model.safetensors + config.json + tokenizer.json', async () => {
    for (const dir of ['bert-bin', 'distilbert']) {
      const model = await SpladeModel.load(join(MODELS, dir));
      const out = tmp();
      await model.save(out);
      expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
      const back = await SpladeModel.load(out);
      for (const [name, p] of model.parameters()) expect(Array.from(back.parameters().get(name)!)).toEqual(Array.from(p));
      const [a, b] = [await model.encode(exp.texts), await back.encode(exp.texts)];
      a.forEach((v, i) => expect(Array.from(b[i].values)).toEqual(Array.from(v.values)));
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(MODELS, dir, 'config.json'), 'utf8')));
      // Hugging Face layout: the header names the tensors as transformers' state dict does, format pt
      const st = readFileSync(join(out, 'model.safetensors'));
      const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8'));
      expect(header.__metadata__).toEqual({ format: 'pt' });
      const prefix = dir === 'distilbert' ? 'distilbert.' : 'bert.';
      expect(header[`${prefix}embeddings.word_embeddings.weight`]).toMatchObject({ dtype: 'F32', shape: [256, 32] });
    }
  });

  it('overwrites atomically and leaves no temporary files', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const out = tmp();
    await model.save(out);
    await model.save(out);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('load errors name the file and the tensor', () => {
  const copy = (from: string) => {
    const d = tmp();
    cpSync(join(MODELS, from), d, { recursive: true });
    return d;
  };
  const rewrite = async (dir: string, edit: (ts: [string, Float32Array, number[]][]) => [string, Float32Array, number[]][]) => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const shapes = new Map<string, number[]>();
    const st = readFileSync(join(MODELS, 'bert', 'model.safetensors'));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8'));
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') shapes.set(k, (v as { shape: number[] }).shape);
    const ts = [...model.parameters()].map(([n, p]) => [n, p, shapes.get(n)!] as [string, Float32Array, number[]]);
    writeSafetensors(join(dir, 'model.safetensors'), edit(ts));
  };

  it('missing tensor', async () => {
    const d = copy('bert');
    await rewrite(d, (ts) => ts.filter(([n]) => n !== 'bert.encoder.layer.1.output.dense.weight'));
    const err = await SpladeModel.load(d).catch((e) => e);
    expect(err).toBeInstanceOf(SpladeError);
    expect(err.message).toMatch(/model\.safetensors: missing tensor bert\.encoder\.layer\.1\.output\.dense\.weight/);
    expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
  });

  it('mis-shaped tensor', async () => {
    const d = copy('bert');
    await rewrite(d, (ts) => ts.map(([n, p, s]) => (n === 'cls.predictions.bias' ? [n, p.subarray(0, 200), [200]] : [n, p, s])));
    await expect(SpladeModel.load(d)).rejects.toThrow(/model\.safetensors: tensor cls\.predictions\.bias has shape \[200\], expected \[256\]/);
  });

  it('truncated safetensors and pytorch_model.bin', async () => {
    const d = copy('bert');
    const f = join(d, 'model.safetensors');
    truncateSync(f, readFileSync(f).length - 100);
    await expect(SpladeModel.load(d)).rejects.toThrow(/model\.safetensors: truncated file: tensor cls\.predictions\.bias/);
    truncateSync(f, 5);
    await expect(SpladeModel.load(d)).rejects.toThrow(/model\.safetensors: truncated file/);
    const b = copy('bert-bin');
    const fb = join(b, 'pytorch_model.bin');
    truncateSync(fb, readFileSync(fb).length - 4000);
    await expect(SpladeModel.load(b)).rejects.toThrow(/pytorch_model\.bin: truncated file/);
  });

  it('a damaged byte in pytorch_model.bin fails the CRC-32 of its zip entry (weights and pickle alike)', async () => {
    const size = readFileSync(join(MODELS, 'bert-bin', 'pytorch_model.bin')).length;
    // the middle of the file is weight data; byte 100 is in the first entry (data.pkl, after its local header)
    for (const at of [Math.floor(size / 2), 100]) {
      const b = copy('bert-bin');
      const fb = join(b, 'pytorch_model.bin');
      const bytes = readFileSync(fb);
      bytes[at] ^= 0x10;
      writeFileSync(fb, bytes);
      const err = await SpladeModel.load(b).catch((e) => e);
      expect(err, `byte ${at}`).toBeInstanceOf(SpladeError);
      expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
      expect(err.message).toMatch(/pytorch_model\.bin: zip entry \S+ fails its CRC-32 check/);
    }
  });

  it('a NaN or infinite weight is a corrupt-file Error (F32 and F16 safetensors), not empty vectors', async () => {
    const poison = (dir: string, tensor: string, write: (b: Buffer, at: number) => void) => {
      const d = copy(dir);
      const f = join(d, 'model.safetensors');
      const b = readFileSync(f);
      const n = Number(b.readBigUInt64LE(0));
      const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
      write(b, 8 + n + header[tensor].data_offsets[0]);
      writeFileSync(f, b);
      return d;
    };
    const q = 'bert.encoder.layer.0.attention.self.query.weight';
    for (const [v, at] of [[NaN, 10], [Infinity, 0], [-Infinity, 1023]] as const) {
      const d = poison('bert', q, (b, off) => b.writeFloatLE(v, off + 4 * at));
      const err = await SpladeModel.load(d).catch((e) => e);
      expect(err, String(v)).toBeInstanceOf(SpladeError);
      expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
      expect(err.message).toContain(`tensor ${q} holds ${v} at element ${at}`);
    }
    const d16 = poison('bert-f16', q, (b, off) => b.writeUInt16LE(0x7c00, off + 2 * 7)); // half +inf
    await expect(SpladeModel.load(d16)).rejects.toThrow(`tensor ${q} holds Infinity at element 7`);
  });

  it('firstNonFinite finds the first NaN / infinity wherever it is (block edges, last element)', () => {
    const { firstNonFinite } = loadAddon<{ firstNonFinite(v: Float32Array): number }>();
    const x = new Float32Array(10000).map((_, i) => Math.sin(i) * 1e30);
    expect(firstNonFinite(x)).toBe(-1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    for (const at of [0, 4095, 4096, 9999]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const y = x.slice();
        y[at] = bad;
        if (at < 9999) y[9999] = NaN; // a later one must not be reported first
        expect(firstNonFinite(y), `${bad} at ${at}`).toBe(at);
      }
    }
    const big = new Float32Array([3.4e38, -3.4e38, 1e-45, -0]); // largest, subnormal, negative zero: finite
    expect(firstNonFinite(big)).toBe(-1);
  });

  it('unknown dtype', async () => {
    const d = copy('bert');
    const f = join(d, 'model.safetensors');
    const st = readFileSync(f);
    const n = Number(st.readBigUInt64LE(0));
    const header = JSON.parse(st.subarray(8, 8 + n).toString('utf8'));
    header['bert.embeddings.LayerNorm.bias'].dtype = 'F8_E4M3';
    const h = JSON.stringify(header).padEnd(n, ' ');
    expect(h.length).toBe(n);
    writeFileSync(f, Buffer.concat([st.subarray(0, 8), Buffer.from(h), st.subarray(8 + n)]));
    const err = await SpladeModel.load(d).catch((e) => e);
    expect(err.message).toMatch(/model\.safetensors: tensor bert\.embeddings\.LayerNorm\.bias has unsupported dtype F8_E4M3/);
    expect(err.code).toBe('ERR_SPLADE_UNSUPPORTED');
    header['bert.embeddings.LayerNorm.bias'].dtype = 'I32';
    writeFileSync(f, Buffer.concat([st.subarray(0, 8), Buffer.from(JSON.stringify(header).padEnd(n, ' ')), st.subarray(8 + n)]));
    await expect(SpladeModel.load(d)).rejects.toThrow(/model\.safetensors: tensor bert\.embeddings\.LayerNorm\.bias has unsupported dtype I32/);
  });

  it('unsupported architecture and missing files', async () => {
    const d = copy('bert');
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, architectures: ['GPT2LMHeadModel'] }));
    const err = await SpladeModel.load(d).catch((e) => e);
    expect(err.message).toMatch(/config\.json: unsupported architecture "GPT2LMHeadModel"/);
    expect(err.code).toBe('ERR_SPLADE_UNSUPPORTED');
    const e2 = copy('bert');
    rmSync(join(e2, 'model.safetensors'));
    await expect(SpladeModel.load(e2)).rejects.toThrow(/no weights found/);
    const e3 = copy('distilbert');
    rmSync(join(e3, 'model-00002-of-00002.safetensors'));
    await expect(SpladeModel.load(e3)).rejects.toThrow(/shard model-00002-of-00002\.safetensors is missing/);
    await expect(SpladeModel.load(join(tmpRoot, 'nope'))).rejects.toThrow(/nope is neither an existing directory nor a Hugging Face model id/);
    const e4 = copy('bert');
    rmSync(join(e4, 'tokenizer.json'));
    await expect(SpladeModel.load(e4)).rejects.toThrow(/tokenizer\.json is missing/);
    expect(existsSync(join(MODELS, 'bert', 'model.safetensors'))).toBe(true);
  });
});

describe('SpladeModel runs off the event loop', () => {
  it('keeps timers firing while a batch encodes', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const seqs = Array.from({ length: 64 }, (_, i) => [2, ...Array.from({ length: 60 }, (_, k) => 5 + ((i * 31 + k * 7) % 250)), 3]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const p = model.encodeIds(seqs, { pooling: 'sum' });
    await new Promise((r) => setTimeout(r, 5));
    const seen = ticks;
    await p;
    clearInterval(timer);
    expect(seen).toBeGreaterThan(0);
  });
});

describe('truncation defaults', () => {
  it('truncates to load()-configured lengths per kind, capped at max_position_embeddings', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'), { maxLength: { query: 6 } });
    const long = 'the cat sat on the mat and the dog sat on the cat';
    expect(model.tokenize(long, { kind: 'query' }).length).toBe(6);
    expect(model.tokenize(long).length).toBe(15);
    expect(model.tokenize(long.repeat(10)).length).toBe(64); // max_position_embeddings
    const [q] = await model.encode([long], { kind: 'query' });
    const [q6] = await model.encodeIds([Array.from(model.tokenize(long, { maxLength: 6 }))]);
    expect(Array.from(q.values)).toEqual(Array.from(q6.values));
    await expect(SpladeModel.load(join(MODELS, 'bert'), { maxLength: { query: 1 } })).rejects.toThrow(/maxLength\.query/);
  });
});

describe('every CPU variant and concurrent calls', () => {
  it('matches PyTorch on each variant in info().supportedCpus (setCpu)', async () => {
    const { info, setCpu } = await import('../lib/index.js');
    const start = info().cpu;
    const model = await SpladeModel.load(join(MODELS, 'distilbert'));
    try {
      for (const cpu of info().supportedCpus) {
        setCpu(cpu);
        for (const pooling of ['max', 'sum'] as const) {
          expectMatches(await model.encodeIds(exp.seqs, { pooling }), refs('distilbert', pooling), `${cpu} ${pooling}`);
        }
      }
    } finally {
      setCpu(start);
    }
  });

  it('gives the same vectors for concurrent encode calls', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const runs = await Promise.all([0, 1, 2, 3].map(() => model.encode(exp.texts, { batchSize: 2 })));
    for (const r of runs.slice(1)) r.forEach((v, i) => expect(Array.from(v.values)).toEqual(Array.from(runs[0][i].values)));
  });
});
