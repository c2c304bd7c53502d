// Whole-model backward against PyTorch: gradients of sum_bj w[b,j] R[b,j] for every parameter of the
// tiny BERT and DistilBERT (float64 PyTorch, test/fixtures/make_fixtures.py), both poolings. Each
// parameter's gradient is compared by its L2 norm and 16 sampled entries.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SpladeModel } from '../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const exp = JSON.parse(readFileSync(join(here, 'fixtures', 'expected.json'), 'utf8')) as {
  seqs: number[][];
  bert: Record<string, [number, number][][]>;
  distilbert: Record<string, [number, number][][]>;
  grads: Record<string, Record<string, Record<string, { norm: number; samples: number[] }>>>;
};

// float32 forward and backward against float64. Error per sampled entry: |g - ref| / (|ref| + rms of
// that tensor's reference gradient); per tensor: relative error of the L2 norm. Measured worst ~1.1e-6
// (SPLADE_PRINT_ERRORS=1 prints it); 1e-4 leaves room for longer sequences' reductions.
const TOL = 1e-4;

describe('gradients match PyTorch', () => {
  for (const arch of ['bert', 'distilbert'] as const) {
    for (const pooling of ['max', 'sum'] as const) {
      it(`${arch}, ${pooling} pooling`, async () => {
        const model = await SpladeModel.load(join(here, 'fixtures', 'models', arch));
        const V = 256, B = exp.seqs.length;
        const dw = new Float32Array(B * V);
        for (let b = 0; b < B; b++) for (let j = 0; j < V; j++) dw[b * V + j] = Math.sin(0.7 * j + 1.3 * b + 0.1);
        const { vectors, gradients } = await model.encodeIdsBackward(exp.seqs, dw, { pooling });
        // the training forward gives the inference forward's vectors
        const ref = exp[arch][pooling];
        for (let b = 0; b < B; b++) {
          for (const [j, v] of ref[b]) expect(Math.abs(vectors[b * V + j] - v) / Math.max(Math.abs(v), 0.1)).toBeLessThan(1e-4);
        }
        const want = exp.grads[arch][pooling];
        expect([...gradients.keys()].sort()).toEqual(Object.keys(want).sort());
        let worst = 0;
        const maxNorm = Math.max(...Object.values(want).map((w) => w.norm));
        for (const [name, g] of gradients) {
          const { norm, samples } = want[name];
          let ss = 0;
          for (const x of g) ss += x * x;
          if (norm < 1e-9 * maxNorm) {
            // exactly zero in exact arithmetic (the key bias: softmax ignores a per-row constant)
            expect(Math.sqrt(ss), name).toBeLessThan(1e-5 * maxNorm);
            continue;
          }
          const scale = Math.max(norm / Math.sqrt(g.length), 1e-12);
          worst = Math.max(worst, Math.abs(Math.sqrt(ss) - norm) / Math.max(norm, 1e-12));
          samples.forEach((s, k) => {
            const i = (k * 7919) % g.length;
            worst = Math.max(worst, Math.abs(g[i] - s) / (Math.abs(s) + scale));
          });
          expect(worst, name).toBeLessThanOrEqual(TOL);
        }
        if (process.env.SPLADE_PRINT_ERRORS) console.log(`${arch} ${pooling}: worst gradient error ${worst.toExponential(2)}`);
      });
    }
  }
});
