// The reduced-precision (bf16) path: its kernels against their plain references (the AMX ones where
// this CPU and OS have AMX-BF16; the portable path on every ISA), the fp32 decoder screened in bf16
// against the fp32 reference, and SpladeModel's precision option on the PyTorch fixtures.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SpladeModel, info } from '../lib/index.js';
import { encoderAddon } from '../lib/model/native-encoder.js';
import { TEST_SEED } from './helpers/seed.js';
import { agreement, dense } from './helpers/agreement.js';
import { checkAddon } from './helpers/check-addon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const MODELS = join(here, 'fixtures', 'models');
const addon = encoderAddon();
const amx = addon.bf16Kernel() === 'amx';

// Tolerances: each fast kernel against a reference on the same bf16-rounded operands (double
// accumulation there, fp32 here: measured ~5e-7); the exact decoder against the fp32 reference
// (measured ~4e-7), with no argmax mismatch.
const TOL: Record<string, number> = {
  gemm_bf16_fallback: 1e-5,
  gemm_bf16: 1e-5,
  gemm_bf16_avx512: 1e-5,
  splade_pool_max_bf16: 1e-5,
  splade_pool_max_bf16_exact: 1e-5,
};

function check(op: string, cpu: string): void {
  for (const seed of [1, TEST_SEED]) {
    const r = checkAddon().kernelCheck(op, cpu, seed);
    expect(r.nonFinite, `seed ${seed}`).toBe(0);
    expect(r.mismatches, `seed ${seed}`).toBe(0);
    expect(r.checked, `seed ${seed}`).toBeGreaterThan(0);
    expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(TOL[op]);
  }
}

describe('bf16 kernels match their references', () => {
  for (const cpu of info().supportedCpus) {
    it(`gemm_bf16_fallback on ${cpu}`, () => check('gemm_bf16_fallback', cpu));
  }
  // vdpbf16ps (the path of CPUs with AVX512_BF16 and no AMX) where this CPU has it; else refused
  it('gemm_bf16_avx512 (vdpbf16ps)', () => {
    let r;
    try {
      r = checkAddon().kernelCheck('gemm_bf16_avx512', 'generic', 1);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_SPLADE_UNSUPPORTED');
      expect(amx).toBe(false);  // every AMX CPU so far has AVX512_BF16
      return;
    }
    expect(r.checked).toBeGreaterThan(0);
    check('gemm_bf16_avx512', 'generic');
  });
  for (const op of ['gemm_bf16', 'splade_pool_max_bf16', 'splade_pool_max_bf16_exact']) {
    // The AMX kernels where this CPU and OS have them; elsewhere the check must refuse, not pass.
    it(`${op} (${amx ? 'AMX' : 'refused without AMX'})`, () => {
      if (amx) check(op, 'avx512');
      else expect(() => checkAddon().kernelCheck(op, 'generic', 1)).toThrow(/AMX/);
    });
  }
});

describe('SpladeModel precision', () => {
  const seqs = [[101, 7, 8, 9, 102], [101, 200, 201, 45, 46, 47, 48, 102], [101, 102]];

  it('refuses an unknown precision', async () => {
    await expect(SpladeModel.load(join(MODELS, 'bert'), { precision: 'int4' as 'bf16' })).rejects.toThrow(/precision/);
  });

  it('bf16 stays close to fp32 (cosine, top terms)', async () => {
    const fp32 = await SpladeModel.load(join(MODELS, 'bert'));
    const bf16 = await SpladeModel.load(join(MODELS, 'bert'), { precision: 'bf16' });
    const V = fp32.vocabSize;
    for (const pooling of ['max', 'sum'] as const) {
      const a = await fp32.encodeIds(seqs, { pooling }), b = await bf16.encodeIds(seqs, { pooling });
      a.forEach((v, i) => {
        const { cosine, maxDiff } = agreement(v, b[i], V);
        expect(cosine, `${pooling} ${i}`).toBeGreaterThan(0.999);
        expect(maxDiff, `${pooling} ${i}: bf16 is not fp32`).toBeGreaterThan(0);
      });
    }
  });

  it('re-packs its inference weights after parameters() are written', async () => {
    for (const precision of ['fp32', 'bf16'] as const) {
      const model = await SpladeModel.load(join(MODELS, 'bert'), { precision });
      await model.encodeIds(seqs);  // packs
      const params = model.parameters();
      const E = params.get('bert.embeddings.word_embeddings.weight')!;
      for (let i = 0; i < E.length; i++) E[i] *= i % 3 === 0 ? -1.5 : 1.25;
      const after = await model.encodeIds(seqs);
      const plain = await model.encodeIdsDense(seqs.map((s) => Int32Array.from(s)));  // fp32 on the arena itself
      const V = model.vocabSize;
      after.forEach((v, i) => {
        const x = dense(v, V);
        let err = 0, scale = 0;
        for (let j = 0; j < V; j++) (err = Math.max(err, Math.abs(x[j] - plain[i * V + j]))), (scale = Math.max(scale, Math.abs(plain[i * V + j])));
        expect(err / scale, `${precision} ${i}`).toBeLessThanOrEqual(precision === 'fp32' ? 1e-5 : 3e-2);
      });
    }
  });
});
