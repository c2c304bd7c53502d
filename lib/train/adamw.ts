// AdamW as torch.optim.AdamW (single-tensor CPU path), over flat Float32Arrays: decoupled weight
// decay p *= 1 - lr*wd, then m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// And torch.nn.utils.clip_grad_norm_: total L2 norm over all gradients, scaled by
// min(1, maxNorm / (norm + 1e-6)).
// The trainer runs the native kernels (native/cpu/adamw.{h,cpp}, float math, threaded); the
// TypeScript versions here (float64 math) are their references in the tests.
import { ErrorCode, SpladeError } from '../errors.js';
import { loadAddon } from '../native.js';

export interface TrainAddon {
  /** params, m, v updated in place; gradients scaled by gradScale first; decayMask null: all decay. */
  adamwUpdate(params: Float32Array, m: Float32Array, v: Float32Array, grads: Float32Array,
              opts: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number; gradScale: number },
              decayMask: Uint8Array | null): void;
  /** Sum of squares (double accumulation, fixed order). */
  gradNormSq(grads: Float32Array): number;
  /** The first n mask factors (0 or 1 / (1 - p)) of a flat dropout site (0 embeddings .. 3 FFN output). */
  dropoutFactors(p: number, seed: number, layer: number, site: number, n: number): Float32Array;
}

export function trainAddon(): TrainAddon {
  return loadAddon<TrainAddon>();
}

/** torch.optim.AdamW's defaults, which both trainers use. */
export const ADAMW_BETA1 = 0.9, ADAMW_BETA2 = 0.999, ADAMW_EPS = 1e-8;

/**
 * One optimizer step as the trainers take it, over parallel lists of tensors (parameters, gradients,
 * moments): the finite-norm check, clip_grad_norm_'s coefficient (applied inside the update, not by
 * rewriting the gradients), then AdamW per tensor with weight decay where decay[k]. Throws, leaving
 * every parameter unchanged, when the gradient norm is not finite. Returns the norm.
 */
export function adamwStep(addon: TrainAddon, t: { params: Float32Array[]; grads: Float32Array[]; m: Float32Array[]; v: Float32Array[]; decay: boolean[] },
                          o: { lr: number; weightDecay: number; maxGradNorm: number; step: number }): number {
  let ss = 0;
  for (const g of t.grads) ss += addon.gradNormSq(g);
  const gradNorm = Math.sqrt(ss);
  if (!Number.isFinite(gradNorm)) {
    throw new SpladeError(`step ${o.step}: the gradient norm is ${gradNorm}; parameters left unchanged`, ErrorCode.outOfRange);
  }
  const gradScale = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (gradNorm + 1e-6)) : 1;
  for (let k = 0; k < t.params.length; k++) {
    addon.adamwUpdate(t.params[k], t.m[k], t.v[k], t.grads[k], {
      lr: o.lr, beta1: ADAMW_BETA1, beta2: ADAMW_BETA2, eps: ADAMW_EPS, weightDecay: t.decay[k] ? o.weightDecay : 0, step: o.step, gradScale,
    }, null);
  }
  return gradNorm;
}

/** Parameters that get no weight decay: biases and LayerNorm weights (the transformers recipe). */
export function noDecay(name: string): boolean {
  return name.includes('bias') || name.includes('LayerNorm') || name.includes('layer_norm');
}

/** Reference: one AdamW update of p (n) with gradient g; m, v (n) are the moments; t counts steps from 1. */
export function adamwUpdateReference(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number,
                            beta1: number, beta2: number, eps: number, weightDecay: number, t: number): void {
  const bc1 = 1 - beta1 ** t;
  const bc2sqrt = Math.sqrt(1 - beta2 ** t);
  const stepSize = lr / bc1;
  const decay = 1 - lr * weightDecay;
  for (let k = 0; k < p.length; k++) {
    const gk = g[k];
    const mk = (m[k] = m[k] + (gk - m[k]) * (1 - beta1));
    const vk = (v[k] = v[k] * beta2 + (1 - beta2) * gk * gk);
    const pk = p[k] * decay;
    p[k] = pk - (stepSize * mk) / (Math.sqrt(vk) / bc2sqrt + eps);
  }
}

/** Global L2 norm of the gradients (float64 sum of squares). */
export function globalNorm(grads: Iterable<Float32Array>): number {
  let ss = 0;
  for (const g of grads) for (let k = 0; k < g.length; k++) ss += g[k] * g[k];
  return Math.sqrt(ss);
}

/** Reference clip_grad_norm_: scales the gradients in place; returns the norm before clipping. */
export function clipGradNormReference(grads: Float32Array[], maxNorm: number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && Number.isFinite(maxNorm)) {
    const coef = Math.min(1, maxNorm / (norm + 1e-6));
    if (coef < 1) for (const g of grads) for (let k = 0; k < g.length; k++) g[k] *= coef;
  }
  return norm;
}
