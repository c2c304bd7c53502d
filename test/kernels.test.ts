// Each fast CPU kernel against its plain C++ reference on fresh random inputs, for every vector-unit
// variant this machine supports. Error is |fast - ref| / (|ref| + rms(ref)) (see kernel_check.h).
import { describe, expect, it } from 'vitest';

import { info } from '../lib/index.js';
import { encoderAddon } from '../lib/model/native-encoder.js';
import { TEST_SEED, testSeeds } from './helpers/seed.js';
import { checkAddon } from './helpers/check-addon.js';

// Per-op tolerances: fp32 kernels against double-accumulating references.
const TOL: Record<string, number> = {
  embed: 1e-5, // exact (same additions)
  layernorm: 1e-5, // measured ~2e-7
  attention: 1e-5, // ~1.3e-6
  splade_pool_max: 1e-5, // ~1e-7
  splade_pool_sum: 1e-5, // ~4e-7
  splade_pool_max_fused: 1e-5, // fp32 FMA sums against double
  splade_pool_max_screen: 1e-5, // against double; bit for bit against splade_pool_max_fused (mismatches)
  splade_pool_screen_logits: 0, // the screen's kernel bit for bit against its reference (mismatches too)
  // against fp32: int8 rows and 7-bit tokens move a logit near 0 of a token at 4x the others' scale by a
  // few hundredths of w's rms (measured 0.046 on seed 1); bit for bit against its reference (mismatches)
  splade_pool_max_i8: 0.1,
  encoder: 1e-5, // whole 2-layer forward, ~1.3e-6
  gelu: 1e-5, // vector erfc, fractional error < 1.2e-7
  backward_gelu: 1e-5,
  backward_layernorm: 1e-5, // ~6e-7
  backward_attention: 1e-5, // ~1.6e-6
  backward_splade_pool_max: 1e-5, // ~2e-6
  backward_splade_pool_sum: 1e-5, // ~1.3e-6
  // Whole 2-layer training forward + backward of a random network, each parameter's gradient against
  // its own scale: float32 rounding compounds through every layer (~1e-5 measured).
  encoder_backward: 1e-4,
  bmp_group_bounds: 0, // bit for bit (and mismatches counts any differing bits)
  bmp_group_mask: 0, // exact: mismatches counts differing masks and class-3 counts
  // ModernBERT's (native/check/modernbert_check.cpp), measured worst over 4 seeds x 3 variants in
  // brackets: rotary embeddings (the same float arithmetic, a table of cos / sin instead of computing
  // them per use: 0), GeGLU (the vector erfc: 3.5e-7), sliding-window attention (float SGEMM blocks
  // against double loops: 1.5e-6), the whole 3-layer forward (2.5e-6) and its training forward +
  // backward (float32 rounding compounds through every layer, as encoder_backward: 9e-6)
  modernbert_rotary: 1e-6,
  backward_modernbert_rotary: 1e-6,
  modernbert_geglu: 1e-5,
  backward_modernbert_geglu: 1e-5,
  modernbert_attention_window: 1e-5,
  backward_modernbert_attention_window: 1e-5,
  modernbert_encoder: 1e-5,
  modernbert_encoder_backward: 1e-4,
};
const OPS = Object.keys(TOL);

describe('fast CPU kernels match the references', () => {
  const addon = checkAddon();
  for (const cpu of info().supportedCpus) {
    for (const op of OPS) {
      it(`${op} on ${cpu}`, () => {
        // The whole-network backward is checked on fixed seeds: ReLU and max-pooling kinks make it
        // ill-conditioned at rare inputs (a logit within float rounding of 0 or of another token's
        // switches a gradient path on or off, e.g. seed 429635720 on avx2), which a fresh seed would
        // hit now and then. Each kernel on its own is checked on seed 1 and TEST_SEED (SPLADE_TEST_SEED).
        const seeds = op.endsWith('encoder_backward') ? [1, 2, 3] : [1, TEST_SEED];
        for (const seed of seeds) {
          const r = addon.kernelCheck(op, cpu, seed);
          expect(r.nonFinite, `seed ${seed}`).toBe(0);
          expect(r.mismatches, `seed ${seed}`).toBe(0);
          expect(r.checked, `seed ${seed}`).toBeGreaterThan(0);
          expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(TOL[op]);
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
  const addon = checkAddon();
  for (const op of ['grad_embed', 'grad_layernorm', 'grad_attention', 'grad_gelu', 'grad_splade_pool_max', 'grad_splade_pool_sum',
                    'grad_modernbert_rotary', 'grad_modernbert_geglu', 'grad_modernbert_attention_window']) {
    it(op, () => {
      for (const seed of [1, ...testSeeds(4)]) {
        const r = addon.kernelCheck(op, 'generic', seed);
        expect(r.nonFinite, `seed ${seed}`).toBe(0);
        expect(r.checked, `seed ${seed}`).toBeGreaterThan(10);
        expect(r.maxError, `seed ${seed}`).toBeLessThanOrEqual(1e-2);
      }
    });
  }
});
