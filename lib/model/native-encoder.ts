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
    /** Run on the weights prepare() packed, in their precision. */
    packed?: boolean,
  ): Promise<void>;
  /** Packs the inference copies of the weights from the arena as it is now; resolves with their bytes. */
  prepare(precision: 'fp32' | 'bf16'): Promise<number>;
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
  /** What the bf16 GEMMs run here: AMX tiles, or the portable fp32-SGEMM path. */
  bf16Kernel(): 'amx' | 'fallback';
  NativeEncoder: new (config: EncoderConfig, arena: Float32Array) => NativeEncoderHandle;
}

export function encoderAddon(): EncoderAddon {
  return loadAddon<EncoderAddon>();
}
