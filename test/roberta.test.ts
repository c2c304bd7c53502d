// RoBERTa and XLM-RoBERTa against PyTorch (test/fixtures/make_roberta_fixtures.py: float64 plain-torch
// references following transformers' modeling_roberta.py): the byte-level BPE and Unigram tokenizers
// against independent Python ones, SPLADE vectors (max and sum) for id sequences and texts, the
// gradients of every parameter, three Trainer steps; family detection from config.json; save/load.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, Trainer, type SparseVector, type TrainBatch } from '../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const models = join(here, 'fixtures', 'models');
type Ref = [number, number][];
type Batch = { queries: number[][]; documents: number[][][]; teacherScores: number[][] };
type Parts = { loss: number; rankingLoss: number; regQ: number; regD: number; lambdaQ: number; lambdaD: number };
interface Family {
  seqs: number[][]; texts: string[]; textIds: number[][];
  vectors: Record<'max' | 'sum', Ref[]>; textVectors: Record<'max' | 'sum', Ref[]>;
  grads: Record<'max' | 'sum', Record<string, { norm: number; samples: number[] }>>;
  steps: { batches: Batch[]; options: Record<string, unknown>; stats: (Parts & { step: number; lr: number; gradNorm: number })[];
           params: Record<string, { values: number[]; maxAbs: number }> };
}
const exp = JSON.parse(readFileSync(join(here, 'fixtures', 'roberta_expected.json'), 'utf8')) as Record<string, Family>;
const FAMILIES = ['roberta', 'xlm-roberta'] as const;
const FULL = 256;  // make_roberta_fixtures.FULL: tensors up to this size stored whole, larger ones sampled

const tmpRoot = mkdtempSync(join(tmpdir(), 'splade-roberta-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
const tmp = () => join(tmpRoot, String(tmpCount++));

// As test/model.test.ts: 1e-4 relative to max(|ref|, 0.1) per entry, 1e-5 over the whole vector (L2).
// SPLADE_PRINT_ERRORS=1 prints the worst errors measured.
const report = (label: string, worst: number) => {
  if (process.env.SPLADE_PRINT_ERRORS) console.log(`${label}: worst error ${worst.toExponential(2)}`);
};

function expectMatches(vs: SparseVector[], refs: Ref[], label: string): void {
  let worst = 0;
  expect(vs.length).toBe(refs.length);
  vs.forEach((v, i) => {
    const r = new Map(refs[i]), g = new Map<number, number>();
    v.indices.forEach((j, k) => g.set(j, v.values[k]));
    let maxRel = 0, num = 0, den = 0;
    for (const j of new Set([...r.keys(), ...g.keys()])) {
      const a = g.get(j) ?? 0, b = r.get(j) ?? 0;
      maxRel = Math.max(maxRel, Math.abs(a - b) / Math.max(Math.abs(b), 0.1));
      num += (a - b) ** 2;
      den += b * b;
    }
    expect(refs[i].length, `${label} ${i}: reference not empty`).toBeGreaterThan(0);
    expect(maxRel, `${label} sequence ${i}`).toBeLessThanOrEqual(1e-4);
    expect(Math.sqrt(num / den), `${label} sequence ${i}`).toBeLessThanOrEqual(1e-5);
    worst = Math.max(worst, maxRel);
  });
  report(label, worst);
}

const toBatch = (b: Batch): TrainBatch => ({
  queries: b.queries.map((q) => Int32Array.from(q)),
  documents: b.documents.map((ds) => ds.map((d) => Int32Array.from(d))),
  teacherScores: b.teacherScores,
});

describe.each(FAMILIES)('%s against PyTorch', (family) => {
  const e = exp[family];
  const dir = join(models, family);

  it('tokenizes as the reference tokenizer does (special tokens <s> ... </s>)', async () => {
    const model = await SpladeModel.load(dir);
    e.texts.forEach((t, i) => expect(Array.from(model.tokenize(t)), JSON.stringify(t)).toEqual(e.textIds[i]));
    // truncation keeps both special tokens
    const long = Array.from(model.tokenize(e.texts[2], { maxLength: 5 }));
    expect(long).toEqual([...e.textIds[2].slice(0, 4), 2]);
  });

  it('encodes id sequences and texts within 1e-4 (max and sum pooling)', async () => {
    const model = await SpladeModel.load(dir);
    for (const pooling of ['max', 'sum'] as const) {
      expectMatches(await model.encodeIds(e.seqs, { pooling }), e.vectors[pooling], `${family} ids ${pooling}`);
      expectMatches(await model.encode(e.texts, { pooling }), e.textVectors[pooling], `${family} texts ${pooling}`);
    }
    // the longest sequence fills every position past the padding index: one more is refused
    expect(Math.max(...e.seqs.map((s) => s.length))).toBe(64);
    await expect(model.encodeIds([new Array(65).fill(5)])).rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
  });

  for (const pooling of ['max', 'sum'] as const) {
    it(`gives every parameter's gradient within 1e-4 (${pooling} pooling)`, async () => {
      const model = await SpladeModel.load(dir);
      const V = model.vocabSize, B = e.seqs.length;
      const dw = new Float32Array(B * V);
      for (let b = 0; b < B; b++) for (let j = 0; j < V; j++) dw[b * V + j] = Math.sin(0.7 * j + 1.3 * b + 0.1);
      const { gradients } = await model.encodeIdsBackward(e.seqs, dw, { pooling });
      const want = e.grads[pooling];
      expect([...gradients.keys()].sort()).toEqual(Object.keys(want).sort());
      const maxNorm = Math.max(...Object.values(want).map((w) => w.norm));
      let worst = 0;
      for (const [name, g] of gradients) {
        const { norm, samples } = want[name];
        let ss = 0;
        for (const x of g) ss += x * x;
        if (norm < 1e-9 * maxNorm) {  // zero in exact arithmetic (the attention key bias)
          expect(Math.sqrt(ss), name).toBeLessThan(1e-5 * maxNorm);
          continue;
        }
        const scale = norm / Math.sqrt(g.length);
        const errs = [Math.abs(Math.sqrt(ss) - norm) / norm,
          ...samples.map((s, k) => Math.abs(g[(k * 7919) % g.length] - s) / (Math.abs(s) + scale))];
        errs.forEach((err, k) => expect(err, `${name} (check ${k})`).toBeLessThanOrEqual(1e-4));
        worst = Math.max(worst, ...errs);
      }
      report(`${family} gradients ${pooling}`, worst);
    });
  }

  it('trains: three Trainer steps match PyTorch AdamW (losses, gradient norm, parameters)', async () => {
    const { batches, options, stats, params } = e.steps;
    const model = await SpladeModel.load(dir);
    const trainer = new Trainer(model, options);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);
    for (let k = 0; k < 3; k++) {
      const s = await trainer.step(toBatch(batches[k]));
      expect(s.step).toBe(stats[k].step);
      expect(rel(s.lr, stats[k].lr)).toBeLessThanOrEqual(1e-5);
      expect(rel(s.gradNorm, stats[k].gradNorm)).toBeLessThanOrEqual(1e-4);
      for (const key of ['loss', 'rankingLoss', 'regQ', 'regD'] as const) expect(rel(s[key], stats[k][key]), key).toBeLessThanOrEqual(1e-4);
    }
    const got = model.parameters();
    expect([...got.keys()].sort()).toEqual(Object.keys(params).sort());
    const largest = Math.max(...Object.values(params).map((p) => p.maxAbs));
    let worst = 0;
    for (const [name, { values, maxAbs }] of Object.entries(params)) {
      const g = got.get(name)!;
      values.forEach((v, k) => {
        const i = g.length <= FULL ? k : (k * 7919) % g.length;
        const err = Math.abs(g[i] - v) / Math.max(maxAbs, 1e-6 * largest);
        expect(err, `${name}[${i}]`).toBeLessThanOrEqual(1e-4);
        worst = Math.max(worst, err);
      });
    }
    report(`${family} parameters after 3 steps`, worst);
  });

  it('saves the Hugging Face layout under RoBERTa names and loads it back', async () => {
    const model = await SpladeModel.load(dir);
    const out = tmp();
    await model.save(out);
    const again = await SpladeModel.load(out);
    expect([...again.parameters().keys()].every((k) => k.startsWith('roberta.') || k.startsWith('lm_head.'))).toBe(true);
    expectMatches(await again.encodeIds(e.seqs), e.vectors.max, `${family} saved`);
  });
});

describe('model family detection (config.json)', () => {
  const withConfig = (edit: (c: Record<string, unknown>) => void) => {
    const d = tmp();
    cpSync(join(models, 'xlm-roberta'), d, { recursive: true });
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit(c);
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
    return d;
  };

  it('falls back on model_type when architectures is absent', async () => {
    const d = withConfig((c) => delete c.architectures);
    const model = await SpladeModel.load(d);
    expectMatches(await model.encodeIds(exp['xlm-roberta'].seqs), exp['xlm-roberta'].vectors.max, 'model_type xlm-roberta');
  });

  it('refuses families it does not know with ERR_SPLADE_UNSUPPORTED', async () => {
    const arch = withConfig((c) => (c.architectures = ['GPT2LMHeadModel']));
    await expect(SpladeModel.load(arch)).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/GPT2LMHeadModel/) });
    const type = withConfig((c) => {
      delete c.architectures;
      c.model_type = 'gpt2';
    });
    await expect(SpladeModel.load(type)).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/gpt2/) });
  });

  it('refuses a position table with no room past the padding index', async () => {
    const d = withConfig((c) => (c.max_position_embeddings = 2));
    await expect(SpladeModel.load(d)).rejects.toMatchObject({ code: 'ERR_SPLADE_CORRUPT_FILE' });
  });
});
