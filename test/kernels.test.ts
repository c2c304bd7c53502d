// Each fast CPU kernel against its plain C++ reference on fresh random inputs, for every vector-unit
// variant this machine supports. Error is |fast - ref| / (|ref| + rms(ref)) (see kernel_check.h).
import { describe, expect, it } from 'vitest';

import { info } from '../lib/index.js';
import { encoderAddon } from '../lib/model/native-encoder.js';

const OPS = ['embed', 'layernorm', 'attention', 'splade_pool_max', 'splade_pool_sum', 'encoder'];
// fp32 kernels against double-accumulating references: 1e-5 everywhere, the whole 2-layer encoder
// included (measured ~1.3e-6).
const TOL = 1e-5;

describe('fast CPU kernels match the references', () => {
  const addon = encoderAddon();
  for (const cpu of info().supportedCpus) {
    for (const op of OPS) {
      it(`${op} on ${cpu}`, () => {
        for (const seed of [1, 2 + Math.floor(Math.random() * 1e9)]) {
          const r = addon.kernelCheck(op, cpu, seed);
          expect(r.nonFinite, `seed ${seed}`).toBe(0);
          expect(r.mismatches, `seed ${seed}`).toBe(0);
          expect(r.checked).toBeGreaterThan(0);
          expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(TOL);
        }
      });
    }
  }

  it('refuses unknown ops and variants', () => {
    expect(() => addon.kernelCheck('nope', 'generic', 1)).toThrow(/unknown op/);
    expect(() => addon.kernelCheck('embed', 'sse9', 1)).toThrow(/Expected one of/);
  });
});

// Reference backward kernels against central differences of the reference forward (ggml's grad
// mode). Float32 forwards with eps = 1e-2 leave ~1e-3 of noise (measured max 3e-3 over 200 seeds), so
// the tolerance is 1e-2; SPLADE pooling skips steps that cross its relu / max kinks.
describe('backward kernels match finite differences', () => {
  const addon = encoderAddon();
  for (const op of ['grad_embed', 'grad_layernorm', 'grad_attention', 'grad_gelu', 'grad_splade_pool_max', 'grad_splade_pool_sum']) {
    it(op, () => {
      for (let k = 0; k < 5; k++) {
        const seed = k === 0 ? 1 : Math.floor(Math.random() * 1e9);
        const r = addon.kernelCheck(op, 'generic', seed);
        expect(r.nonFinite, `seed ${seed}`).toBe(0);
        expect(r.checked, `seed ${seed}`).toBeGreaterThan(10);
        expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(1e-2);
      }
    });
  }
});
