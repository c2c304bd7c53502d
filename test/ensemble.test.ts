// An ensemble of SPLADE models served as one: every text's vector is the sum of the models' vectors
// (checked against the models encoded one by one), the cut (threshold, topK) made on the sum, one
// vocabulary required; and the same through `splade encode --model a,b`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readVectors } from '../lib/data/vectors.js';
import { SpladeEnsemble, SpladeModel, loadSparseEncoder } from '../lib/index.js';
import { initModel } from '../lib/recipe/stages.js';
import type { SparseVector } from '../lib/sparse.js';
import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-ensemble-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const A = join(dir, 'a'), B = join(dir, 'b');
const SMALL_VOCAB = join(import.meta.dirname, 'fixtures', 'models', 'bert');
const texts = ['the heart and the lung', 'kidney stones in adults', 'a study of nerve growth factor in rats', 'blood'];

beforeAll(() => {
  // two models over bert-base-uncased's vocabulary with different random weights
  initModel(A, { layers: 1, hidden: 64, heads: 1, init: 'random', seed: 1 });
  initModel(B, { layers: 1, hidden: 64, heads: 1, init: 'random', seed: 2 });
});

/** The sum of vectors, term by term, as a map. */
function sum(vs: SparseVector[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const v of vs) v.indices.forEach((t, j) => m.set(t, (m.get(t) ?? 0) + v.values[j]));
  return m;
}

function expectVector(v: SparseVector, want: Map<number, number>): void {
  expect(Array.from(v.indices)).toEqual([...want.keys()].sort((x, y) => x - y));
  v.indices.forEach((t, j) => expect(Math.abs(v.values[j] - want.get(t)!)).toBeLessThanOrEqual(1e-6 * Math.max(1, want.get(t)!)));
}

describe('SpladeEnsemble', () => {
  it('encodes a text as the sum of its models\' vectors', async () => {
    const [a, b] = [await SpladeModel.load(A), await SpladeModel.load(B)];
    const ens = await SpladeEnsemble.load([A, B]);
    expect(ens.vocabSize).toBe(a.vocabSize);
    for (const kind of ['document', 'query'] as const) {
      const [va, vb, ve] = [await a.encode(texts, { kind }), await b.encode(texts, { kind }), await ens.encode(texts, { kind })];
      texts.forEach((_, i) => expectVector(ve[i], sum([va[i], vb[i]])));
      // the models differ, so the sum is neither model alone
      expect(Array.from(ve[0].values)).not.toEqual(Array.from(va[0].values));
    }
  });

  it('cuts the sum, not the models: threshold and topK', async () => {
    const [a, b] = [await SpladeModel.load(A), await SpladeModel.load(B)];
    const ens = await SpladeEnsemble.load([A, B]);
    const full = sum([(await a.encode([texts[2]]))[0], (await b.encode([texts[2]]))[0]]);
    const top = [...full.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 5);
    expectVector((await ens.encode([texts[2]], { topK: 5 }))[0], new Map(top));
    const cut = 0.5 * Math.max(...full.values());
    expectVector((await ens.encode([texts[2]], { threshold: cut }))[0], new Map([...full].filter(([, w]) => w > cut)));
  });

  it('says what is wrong', async () => {
    await expect(SpladeEnsemble.load([A, SMALL_VOCAB])).rejects.toThrow(/vocabulary differs/);
    await expect(SpladeEnsemble.load([])).rejects.toThrow(/non-empty array/);
    const ens = await SpladeEnsemble.load([A, B]);
    await expect(ens.encode(texts, { topK: 0 })).rejects.toThrow(/topK/);
    await expect(ens.encode([texts[0], 3 as never])).rejects.toThrow(/texts\[1\]/);
    await expect(ens.encode('heart' as never)).rejects.toThrow(/array of strings for texts/);
    expect(await loadSparseEncoder(A)).toBeInstanceOf(SpladeModel);
    expect(await loadSparseEncoder(`${A},${B}`)).toBeInstanceOf(SpladeEnsemble);
    await expect(loadSparseEncoder(`${A},`)).rejects.toThrow(/none empty/);
  });

  it('splade encode --model a,b writes the ensemble\'s vectors', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'corpus.jsonl'), texts.map((t, i) => JSON.stringify({ _id: `d${i}`, title: '', text: t })).join('\n'));
    const r = await runCli('encode', '--model', `${A},${B}`, '--input', join(dir, 'corpus.jsonl'), '--out', join(dir, 'docs.jsonl'));
    expect(r.code).toBe(0);
    const want = await (await SpladeEnsemble.load([A, B])).encode(texts, { kind: 'document' });
    let i = 0;
    for await (const rec of readVectors(join(dir, 'docs.jsonl'))) {
      expect(rec.id).toBe(`d${i}`);
      expect(Array.from(rec.vector.indices)).toEqual(Array.from(want[i].indices));
      rec.vector.values.forEach((x, j) => expect(x).toBeCloseTo(want[i].values[j], 5));
      i++;
    }
    expect(i).toBe(texts.length);
  });
});
