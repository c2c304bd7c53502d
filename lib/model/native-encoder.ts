// Typing of the encoder part of the binding (native/binding/model_binding.cpp).
import { loadAddon } from '../native.js';
import type { EncoderConfig } from './config.js';
import type { Layout } from './weights.js';

export interface NativeEncoderHandle {
  /** Fills out (B*V) with SPLADE vectors for packed sequences; argmax (B*V) optional (max pooling). */
  forward(
    ids: Int32Array,
    typeIds: Int32Array | null,
    cuSeqlens: Int32Array,
    pooling: 'max' | 'sum',
    reference: boolean,
    out: Float32Array,
    argmax: Int32Array | null,
  ): Promise<void>;
  /** Training forward + backward: out (B*V) gets w, grads (arena-sized) += dLoss/dparams for dLoss/dw = dw. */
  gradients(
    ids: Int32Array,
    typeIds: Int32Array | null,
    cuSeqlens: Int32Array,
    pooling: 'max' | 'sum',
    dw: Float32Array,
    out: Float32Array,
    grads: Float32Array,
  ): Promise<void>;
}

export interface KernelCheckResult {
  maxError: number;
  nonFinite: number;
  mismatches: number;
  checked: number;
}

export interface EncoderAddon {
  encoderLayout(config: EncoderConfig): Layout;
  kernelCheck(op: string, cpu: string, seed: number): KernelCheckResult;
  NativeEncoder: new (config: EncoderConfig, arena: Float32Array) => NativeEncoderHandle;
}

export function encoderAddon(): EncoderAddon {
  return loadAddon<EncoderAddon>();
}
