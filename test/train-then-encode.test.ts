// Encoding between training steps must see the weights the last step wrote: the encoder's packed
// inference weights (fp32 or bf16) are a cache of the parameter arena that AdamW updates in place.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, Trainer, type SparseVector, type TrainBatch } from '../lib/index.js';

const models = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'models');
const tmp = mkdtempSync(join(tmpdir(), 'splade-train-encode-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function batch(seed: number): TrainBatch {
  const ids = (n: number, s: number) => Int32Array.from({ length: n }, (_, i) => (i === 0 ? 2 : i === n - 1 ? 3 : 5 + ((s * 31 + i * 17) % 90)));
  return { queries: [ids(6, seed), ids(5, seed + 1)], documents: [[ids(12, seed + 2), ids(10, seed + 3)], [ids(11, seed + 4), ids(9, seed + 5)]] };
}

function maxRelDiff(a: SparseVector[], b: SparseVector[]): number {
  let worst = 0;
  a.forEach((v, i) => {
    const m = new Map<number, number>();
    v.indices.forEach((j, k) => m.set(j, v.values[k]));
    const w = b[i];
    let scale = 0, err = 0;
    w.indices.forEach((j, k) => {
      scale = Math.max(scale, Math.abs(w.values[k]));
      err = Math.max(err, Math.abs((m.get(j) ?? 0) - w.values[k]));
      m.delete(j);
    });
    for (const x of m.values()) err = Math.max(err, Math.abs(x));
    worst = Math.max(worst, err / Math.max(scale, 1e-30));
  });
  return worst;
}

describe('encode between training steps', () => {
  it('uses the weights of the last step, not a stale packed copy', async () => {
    const model = await SpladeModel.load(join(models, 'bert'));
    const trainer = new Trainer(model, { lr: 5e-2, warmupSteps: 0, totalSteps: 10, dropout: 0, seed: 1 });
    const seqs = [Int32Array.from([2, 7, 9, 11, 3]), Int32Array.from([2, 40, 41, 3])];
    const before = await model.encodeIds(seqs);
    for (let step = 0; step < 3; step++) {
      await trainer.step(batch(step));
      const now = await model.encodeIds(seqs);
      const dir = join(tmp, `step${step}`);
      await model.save(dir);
      const fresh = await (await SpladeModel.load(dir)).encodeIds(seqs);
      expect(maxRelDiff(now, fresh), `after step ${step + 1}`).toBeLessThanOrEqual(1e-5);
    }
    // and the steps did change the model (so the comparison above could fail)
    expect(maxRelDiff(before, await model.encodeIds(seqs))).toBeGreaterThan(1e-3);
  });
});
