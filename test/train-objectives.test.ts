// The training path's dropout and masked-LM objective: native training kernels against their
// references and against central differences (fixed dropout masks), the dropout masks' statistics,
// MLM gradients against PyTorch autograd (test/fixtures/make_train_fixtures.py, mlmCases), BERT's
// 80/10/10 masking, MLM steps lowering the loss, and dropout's determinism through save/resume.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, Trainer, type MlmBatch, type TrainBatch } from '../lib/index.js';
import { trainAddon } from '../lib/train/adamw.js';
import { checkAddon } from './helpers/check-addon.js';
import { maskTokens } from '../lib/train/mlm.js';
import { Rng } from '../lib/random.js';

const here = dirname(fileURLToPath(import.meta.url));
const models = join(here, 'fixtures', 'models');
const exp = JSON.parse(readFileSync(join(here, 'fixtures', 'train', 'expected.json'), 'utf8')) as {
  mlmCases: Record<string, { sequences: number[][]; labels: number[][]; loss: number }>;
  steps: Record<string, { batches: { queries: number[][]; documents: number[][][] }[]; options: Record<string, unknown> }>;
  tensors: Record<string, Record<string, [number, number, number, number]>>;
};
const blobBytes = readFileSync(join(here, 'fixtures', 'train', 'expected.bin'));
const blob = new Float32Array(blobBytes.buffer.slice(blobBytes.byteOffset, blobBytes.byteOffset + blobBytes.byteLength));
const tmp = mkdtempSync(join(tmpdir(), 'splade-objectives-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const addon = trainAddon();

function check(op: string, seed: number) {
  return checkAddon().trainKernelCheck(op, seed);
}

describe('training kernels', () => {
  // fast against the double-accumulating reference (float32 round-off only)
  for (const op of ['attention_dropout', 'splade_pool_sparse', 'mlm_head', 'encoder_dropout', 'encoder_mlm']) {
    it(`${op}: fast == reference`, () => {
      for (const seed of [1, 2]) {
        const r = check(op, seed);
        expect(r.checked).toBeGreaterThan(0);
        expect(r.nonFinite).toBe(0);
        expect(r.mismatches).toBe(0);
        expect(r.maxError, `${op} seed ${seed}`).toBeLessThan(1e-5 * 10);
      }
    });
  }
  // reference backward against central differences of the reference forward, dropout mask fixed
  for (const [op, tol] of [['grad_attention_dropout', 1e-2], ['grad_mlm_head', 1e-2], ['grad_encoder_mlm', 1e-2],
    // SPLADE sum pooling adds ~10 log1p terms per weight: float32 forwards leave ~1e-3 noise in the differences
    ['grad_encoder_dropout', 0.1]] as const) {
    it(`${op}: backward == central differences`, () => {
      for (const seed of [1, 2, 3]) {
        const r = check(op, seed);
        expect(r.checked).toBeGreaterThan(20);
        expect(r.nonFinite).toBe(0);
        expect(r.maxError, `${op} seed ${seed}`).toBeLessThan(tol);
      }
    });
  }
  it('rejects an unknown op', () => {
    expect(() => checkAddon().trainKernelCheck('nope', 1)).toThrow(/unknown op/);
  });
});

describe('dropout masks', () => {
  it('drop a fraction p, scale the rest by 1/(1-p), depend on seed, site and layer only', () => {
    const n = 200000;
    for (const p of [0.1, 0.5]) {
      const f = addon.dropoutFactors(p, 12345, 0, 0, n);
      let zeros = 0, others = 0;
      for (const x of f) {
        if (x === 0) zeros++;
        else if (x !== Math.fround(1 / (1 - p))) others++;
      }
      expect(others).toBe(0);
      // binomial: 5 standard deviations
      expect(Math.abs(zeros / n - p)).toBeLessThan(5 * Math.sqrt(p * (1 - p) / n));
    }
    const a = addon.dropoutFactors(0.1, 7, 0, 1, 1000);
    expect(Buffer.from(addon.dropoutFactors(0.1, 7, 0, 1, 1000).buffer).equals(Buffer.from(a.buffer))).toBe(true);
    for (const other of [addon.dropoutFactors(0.1, 8, 0, 1, 1000), addon.dropoutFactors(0.1, 7, 1, 1, 1000),
      addon.dropoutFactors(0.1, 7, 0, 2, 1000)]) {
      expect(Buffer.from(other.buffer).equals(Buffer.from(a.buffer))).toBe(false);
    }
    expect(addon.dropoutFactors(0, 7, 0, 1, 100).every((x) => x === 1)).toBe(true);
  });
});

function toBatch(b: { queries: number[][]; documents: number[][][] }): TrainBatch {
  return { queries: b.queries.map((q) => Int32Array.from(q)), documents: b.documents.map((ds) => ds.map((d) => Int32Array.from(d))) };
}

function bytesOf(model: SpladeModel): Buffer {
  return Buffer.concat([...model.parameters().values()].map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

describe('Trainer with dropout', () => {
  const { batches, options } = exp.steps.bert;
  const opts = { ...options, dropout: 0.1, maxGradNorm: 0 };

  it('is deterministic for a seed, differs from dropout 0 and between seeds, resumes bit-exactly', async () => {
    const run = async (o: Record<string, unknown>, n = 3) => {
      const t = new Trainer(await SpladeModel.load(join(models, 'bert')), o);
      const losses: number[] = [];
      for (let k = 0; k < n; k++) losses.push((await t.step(toBatch(batches[k]))).loss);
      return { t, losses };
    };
    const a = await run(opts), b = await run(opts);
    expect(b.losses).toEqual(a.losses);
    expect(bytesOf(b.t.model).equals(bytesOf(a.t.model))).toBe(true);
    const none = await run({ ...opts, dropout: 0 });
    expect(none.losses[0]).not.toBe(a.losses[0]);
    const other = await run({ ...opts, seed: 99 });
    expect(other.losses[0]).not.toBe(a.losses[0]);
    // 2 steps, save, resume, 1 step == 3 steps (the masks' seeds come from the saved RNG)
    const first = await run(opts, 2);
    await first.t.save(join(tmp, 'drop'));
    const resumed = await Trainer.resume(join(tmp, 'drop'));
    expect(resumed.options.dropout).toBe(0.1);
    expect((await resumed.step(toBatch(batches[2]))).loss).toBe(a.losses[2]);
    expect(bytesOf(resumed.model).equals(bytesOf(a.t.model))).toBe(true);
  });

  it('dropout 0 gives the same gradients as before (no RNG draws, exact kernels)', async () => {
    const g0 = await new Trainer(await SpladeModel.load(join(models, 'bert')), { ...opts, dropout: 0 }).computeGradients(toBatch(batches[0]));
    const g1 = await new Trainer(await SpladeModel.load(join(models, 'bert')), { ...opts, dropout: 0, seed: 5 }).computeGradients(toBatch(batches[0]));
    for (const [name, g] of g0.gradients) expect(Buffer.from(g.buffer).equals(Buffer.from(g1.gradients.get(name)!.buffer)), name).toBe(true);
  });
});

describe('masked-language-model objective', () => {
  for (const arch of ['bert', 'distilbert'] as const) {
    it(`${arch}: loss and every gradient match PyTorch autograd for a fixed mask`, async () => {
      const { sequences, labels, loss } = exp.mlmCases[arch];
      const model = await SpladeModel.load(join(models, arch));
      const trainer = new Trainer(model, { dropout: 0 });
      const batch: MlmBatch = { objective: 'mlm', sequences: sequences.map((s) => Int32Array.from(s)), labels: labels.map((l) => Int32Array.from(l)) };
      const r = await trainer.computeGradients(batch);
      expect(Math.abs(r.mlmLoss! - loss) / loss).toBeLessThan(1e-5);
      expect(r.loss).toBe(r.mlmLoss);
      expect(r.maskedTokens).toBe(labels.flat().filter((x) => x >= 0).length);
      const table = exp.tensors[`${arch}/mlm`];
      expect([...r.gradients.keys()].sort()).toEqual(Object.keys(table).sort());
      const largest = Math.max(...Object.values(table).map((e) => e[2]));
      for (const [name, [off, count, maxAbs]] of Object.entries(table)) {
        const g = r.gradients.get(name)!;
        if (maxAbs < 1e-9 * largest) {  // the attention key bias: zero in exact arithmetic
          for (const x of g) expect(Math.abs(x)).toBeLessThan(1e-5 * largest);
          continue;
        }
        let err = 0;
        for (let k = 0; k < count; k++) {
          const i = count === g.length ? k : (k * 7919) % g.length;
          err = Math.max(err, Math.abs(g[i] - blob[off + k]) / maxAbs);
        }
        expect(err, `${arch} mlm: ${name}`).toBeLessThanOrEqual(1e-4);
      }
    });
  }

  it('masks 15% of the non-special tokens, 80/10/10, reproducibly', () => {
    const V = 1000, maskId = 4, special = new Set([2, 3]);
    const rng = new Rng(3);
    let selected = 0, masked = 0, random = 0, kept = 0, total = 0;
    for (let s = 0; s < 400; s++) {
      const ids = Int32Array.from([2, ...Array.from({ length: 100 }, (_, k) => 10 + ((s * 131 + k * 17) % 900)), 3]);
      const { inputs, labels } = maskTokens(ids, rng, V, maskId, special);
      expect(labels[0]).toBe(-1);
      expect(labels[labels.length - 1]).toBe(-1);
      for (let k = 1; k < ids.length - 1; k++) {
        total++;
        if (labels[k] < 0) {
          expect(inputs[k]).toBe(ids[k]);
          continue;
        }
        selected++;
        expect(labels[k]).toBe(ids[k]);
        if (inputs[k] === maskId) masked++;
        else if (inputs[k] === ids[k]) kept++;
        else random++;
      }
    }
    expect(Math.abs(selected / total - 0.15)).toBeLessThan(0.01);
    expect(Math.abs(masked / selected - 0.8)).toBeLessThan(0.02);
    expect(Math.abs(random / selected - 0.1)).toBeLessThan(0.02);  // a random id equal to the original counts as kept
    expect(Math.abs(kept / selected - 0.1)).toBeLessThan(0.02);
    const a = maskTokens(Int32Array.from([2, 11, 12, 13, 3]), new Rng(9), V, maskId, special);
    const b = maskTokens(Int32Array.from([2, 11, 12, 13, 3]), new Rng(9), V, maskId, special);
    expect(a).toEqual(b);
  });

  it('a few MLM steps lower the MLM loss on a tiny corpus; errors are clear', async () => {
    const model = await SpladeModel.load(join(models, 'bert'));
    const texts = ['the cat sat on the mat', 'a dog ran in the park', 'the cat and the dog play', 'sparse retrieval with bert'];
    const sequences = texts.map((t) => model.tokenize(t, { kind: 'document' }));
    // a fixed mask, so the loss is comparable step to step
    const labels = sequences.map((s) => Int32Array.from(s, (id, k) => (k > 0 && k < s.length - 1 && k % 2 === 1 ? id : -1)));
    const vocab = model.vocabulary(), maskId = Math.max(0, vocab.indexOf('[MASK]'));
    const inputs = sequences.map((s, i) => Int32Array.from(s, (id, k) => (labels[i][k] >= 0 ? maskId : id)));
    const trainer = new Trainer(model, { lr: 3e-3, dropout: 0, weightDecay: 0 });
    const batch: MlmBatch = { objective: 'mlm', sequences: inputs, labels };
    const losses: number[] = [];
    for (let k = 0; k < 6; k++) {
      const s = await trainer.step(batch);
      expect(s.peakMemoryBytes).toBeGreaterThan(0);
      losses.push(s.mlmLoss!);
    }
    expect(losses[5]).toBeLessThan(losses[0] * 0.8);
    // the trainer's own masking (BERT's) runs too
    const s = await trainer.step({ objective: 'mlm', sequences });
    expect(Number.isFinite(s.loss)).toBe(true);
    expect(() => trainer.step({ objective: 'mlm', sequences: [] })).toThrow(/batch\.sequences/);
    expect(() => trainer.step({ objective: 'mlm', sequences, labels: [labels[0]] })).toThrow(/batch\.labels/);
    expect(() => trainer.step({ objective: 'mlm', sequences: [Int32Array.from([2, 99999, 3])] })).toThrow(/batch\.sequences\[0\]\[1\]/);
  });
});
