// The int8 path: each integer GEMM kernel this CPU has against the plain reference (the integers are
// exact, so only the float epilogue may differ), the ones it lacks refused rather than passed, and
// SpladeModel's precision 'int8' on the PyTorch fixtures against fp32, with the path it took reported.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SpladeModel, info } from '../lib/index.js';
import { TEST_SEED } from './helpers/seed.js';
import { agreement } from './helpers/agreement.js';
import { checkAddon } from './helpers/check-addon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const MODELS = join(here, 'fixtures', 'models');
const KERNELS = ['generic', 'avx2', 'avx_vnni', 'avx512_vnni'] as const;

describe('int8 GEMM kernels match the reference', () => {
  for (const kernel of KERNELS) {
    it(kernel, () => {
      const op = `gemm_i8_${kernel}`;
      let r;
      try {
        r = checkAddon().kernelCheck(op, 'generic', 1);
      } catch (e) {
        // only a CPU without the instructions may refuse, and then with ERR_SPLADE_UNSUPPORTED
        expect((e as { code?: string }).code).toBe('ERR_SPLADE_UNSUPPORTED');
        expect(kernel === 'generic' || (kernel === 'avx2' && info().supportedCpus.includes('avx2'))).toBe(false);
        return;
      }
      for (const seed of [1, TEST_SEED]) {
        r = checkAddon().kernelCheck(op, 'generic', seed);
        expect(r.nonFinite, `seed ${seed}`).toBe(0);
        expect(r.checked, `seed ${seed}`).toBeGreaterThan(0);
        // the same integers; the epilogue's float rounding (and the vector erfc of GELU, ~1.2e-7) only
        expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(1e-5);
      }
    });
  }
});

describe('SpladeModel precision int8', () => {
  const seqs = [[101, 7, 8, 9, 102], [101, 200, 201, 45, 46, 47, 48, 102], [101, 102]];

  it('says which kernels each precision takes', async () => {
    const p = info().precisions;
    expect(KERNELS).toContain(p.int8);
    expect(['amx', 'avx512_bf16', 'fallback']).toContain(p.bf16);
    expect(p.fp32).toBe(info().cpu);
    const model = await SpladeModel.load(join(MODELS, 'bert'), { precision: 'int8' });
    expect(model.kernels).toEqual({ precision: 'int8', kernel: p.int8 });
  });

  it('refuses an unknown precision with ERR_SPLADE_INVALID_ARGUMENT', async () => {
    await expect(SpladeModel.load(join(MODELS, 'bert'), { precision: 'int4' as 'int8' })).rejects.toMatchObject({
      code: 'ERR_SPLADE_INVALID_ARGUMENT',
    });
  });

  it('stays close to fp32 (cosine, top terms) and is not fp32', async () => {
    const fp32 = await SpladeModel.load(join(MODELS, 'bert'));
    const int8 = await SpladeModel.load(join(MODELS, 'bert'), { precision: 'int8' });
    const V = fp32.vocabSize;
    for (const pooling of ['max', 'sum'] as const) {
      const a = await fp32.encodeIds(seqs, { pooling }), b = await int8.encodeIds(seqs, { pooling });
      a.forEach((v, i) => {
        const { cosine, maxDiff } = agreement(v, b[i], V);
        expect(cosine, `${pooling} ${i}`).toBeGreaterThan(0.999);
        expect(maxDiff, `${pooling} ${i}: int8 is not fp32`).toBeGreaterThan(0);
      });
    }
  });
});
