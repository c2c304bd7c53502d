// Cross-encoder fine-tuning: the loss and every parameter gradient against PyTorch autograd
// (test/fixtures/make_cross_fixtures.py, float64) for the pointwise and listwise losses, on the
// reference and the fast kernels; then the trainer: it learns a toy task, is deterministic for a seed,
// saves a checkpoint that loads back, and rejects bad batches.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { CrossEncoder, CrossEncoderTrainer } from '../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, 'fixtures', 'models', 'cross');
type Grad = { maxAbs: number; index: number[]; value: number[] };
const fx = JSON.parse(readFileSync(join(here, 'fixtures', 'cross_train_expected.json'), 'utf8')) as {
  pairs: { ids: number[]; typeIds: number[] }[]; targets: number[]; groups: number[];
  cases: Record<'pointwise' | 'listwise', { loss: number; logits: number[]; grads: Record<string, Grad> }>;
};
const tmp = mkdtempSync(join(tmpdir(), 'splade-cross-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const pairs = fx.pairs.map((p) => ({ ids: Int32Array.from(p.ids), typeIds: Int32Array.from(p.typeIds) }));

describe('cross-encoder gradients against PyTorch', () => {
  for (const loss of ['pointwise', 'listwise'] as const) {
    for (const reference of [true, false]) {
      it(`${loss} (${reference ? 'reference' : 'fast'} kernels)`, async () => {
        const model = await CrossEncoder.load(modelDir);
        const grads = new Float32Array(model.parameterCount);
        const exp = fx.cases[loss];
        const out = await model.trainPairs(pairs, loss, loss === 'pointwise' ? Float32Array.from(fx.targets) : null,
          loss === 'listwise' ? Int32Array.from(fx.groups) : null, grads, 0, 0, reference);
        expect(Math.abs(out.loss - exp.loss) / Math.abs(exp.loss)).toBeLessThanOrEqual(1e-5);
        out.logits.forEach((l, i) => expect(Math.abs(l - exp.logits[i])).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(exp.logits[i]))));
        const views = model.views(grads);
        expect([...views.keys()].sort()).toEqual(Object.keys(exp.grads).sort());
        let worst = 0;
        const largest = Math.max(...Object.values(exp.grads).map((g) => g.maxAbs));
        for (const [name, g] of Object.entries(exp.grads)) {
          const got = views.get(name)!;
          if (g.maxAbs < 1e-9 * largest) {
            // zero in exact arithmetic (the attention key bias: softmax ignores a per-row constant): ours
            // must be float32 round-off at the scale of the whole gradient
            for (const x of got) expect(Math.abs(x), `${name} (zero in exact arithmetic)`).toBeLessThan(1e-5 * largest);
            continue;
          }
          for (let k = 0; k < g.index.length; k++) {
            const err = Math.abs(got[g.index[k]] - g.value[k]) / Math.max(g.maxAbs, 1e-12);
            expect(err, `${name}[${g.index[k]}]`).toBeLessThanOrEqual(1e-4);
            worst = Math.max(worst, err);
          }
          let nonFinite = 0;
          for (const x of got) if (!Number.isFinite(x)) nonFinite++;
          expect(nonFinite, name).toBe(0);
        }
        expect(worst).toBeGreaterThan(0);  // something was compared with a real difference scale
      });
    }
  }
});

// A toy relevance task, one fixed batch to fit: a passage is relevant when it names the query's topic.
const topics = ['water', 'cat', 'dog', 'search', 'house', 'people'];
const toy = {
  queries: topics.map((a) => `where is the ${a}`),
  passages: topics.map((a, i) => [`the ${a} sat on the mat`, `the ${topics[(i + 3) % topics.length]} sat on the mat`]),
  labels: topics.map(() => [1, 0]),
};
const toyListwise = { queries: toy.queries, passages: toy.passages };

describe('CrossEncoderTrainer', () => {
  it('fits a toy task: pointwise lowers the loss; listwise ranks every positive first', async () => {
    const pointwise = new CrossEncoderTrainer(await CrossEncoder.load(modelDir), { lr: 1e-3, dropout: 0, seed: 1 });
    const first = await pointwise.step(toy);
    let last = first;
    for (let s = 1; s < 30; s++) last = await pointwise.step(toy);
    expect(last.step).toBe(30);
    expect(last.loss).toBeLessThan(first.loss * 0.5);

    const model = await CrossEncoder.load(modelDir);
    const listwise = new CrossEncoderTrainer(model, { loss: 'listwise', lr: 1e-3, dropout: 0, seed: 1 });
    const l0 = await listwise.step(toyListwise);
    let l = l0;
    for (let s = 1; s < 30; s++) l = await listwise.step(toyListwise);
    expect(l.loss).toBeLessThan(0.05 * l0.loss);
    const scores = await model.score(toy.queries.flatMap((q, i) => toy.passages[i].map((p) => [q, p] as [string, string])));
    for (let i = 0; i < topics.length; i++) expect(scores[2 * i], topics[i]).toBeGreaterThan(scores[2 * i + 1]);
  });

  it('is deterministic for a seed (with dropout), and the seed changes the dropout masks', async () => {
    const run = async (seed: number) => {
      const model = await CrossEncoder.load(modelDir);
      const trainer = new CrossEncoderTrainer(model, { loss: 'listwise', lr: 1e-3, dropout: 0.1, seed });
      const losses: number[] = [];
      for (let s = 0; s < 6; s++) losses.push((await trainer.step(toyListwise)).loss);
      return { losses, params: model.parameters().get('classifier.weight')!.slice() };
    };
    const a = await run(7), b = await run(7), c = await run(8);
    expect(a.losses).toEqual(b.losses);
    expect(a.params).toEqual(b.params);
    expect(a.losses).not.toEqual(c.losses);
  });

  it('computeGradients leaves the parameters alone; save() writes a checkpoint that loads back', async () => {
    const model = await CrossEncoder.load(modelDir);
    const trainer = new CrossEncoderTrainer(model, { lr: 1e-2, dropout: 0 });
    const before = model.parameters().get('bert.pooler.dense.weight')!.slice();
    const g = await trainer.computeGradients(toy);
    expect(model.parameters().get('bert.pooler.dense.weight')).toEqual(before);
    expect(Math.max(...g.gradients.get('bert.pooler.dense.weight')!.map(Math.abs))).toBeGreaterThan(0);
    await trainer.step(toy);
    const dir = join(tmp, 'tuned');
    model.save(dir);
    const again = await CrossEncoder.load(dir);
    const pairsText: [string, string][] = [['where is the cat', 'the cat sat'], ['dog', 'the dog sat on the mat']];
    expect(await again.score(pairsText)).toEqual(await model.score(pairsText));
    expect(again.parameters().get('bert.pooler.dense.weight')).not.toEqual(before);
  });

  it('rejects bad batches and options with clear errors', async () => {
    const model = await CrossEncoder.load(modelDir);
    const t = new CrossEncoderTrainer(model, { dropout: 0 });
    await expect(t.step({ queries: ['q'], passages: [['p']], labels: [[2]] })).rejects.toThrow(/labels\[0\]\[0\]/);
    await expect(t.step({ queries: ['q'], passages: [['p', 'p2']], labels: [[1]] })).rejects.toThrow(/labels\[0\]/);
    await expect(t.step({ queries: ['q'], passages: [['p']] })).rejects.toThrow(/labels/);
    await expect(t.step({ queries: ['q', 'r'], passages: [['p']], labels: [[1]] })).rejects.toThrow(/passages/);
    await expect(t.step({ queries: [], passages: [] })).rejects.toThrow(/queries/);
    expect(() => new CrossEncoderTrainer(model, { loss: 'pairwise' as never })).toThrow(/loss/);
    expect(() => new CrossEncoderTrainer(model, { dropout: 1 })).toThrow(/dropout/);
    const grads = new Float32Array(model.parameterCount);
    await expect(model.trainPairs(pairs.slice(0, 2), 'listwise', null, Int32Array.from([3]), grads, 0, 0))
      .rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
    const bad = [{ ids: Int32Array.from([2, 99999, 3]), typeIds: Int32Array.from([0, 0, 0]) }];
    await expect(model.trainPairs(bad, 'pointwise', Float32Array.from([1]), null, grads, 0, 0)).rejects.toThrow();
  });
});
