// Typing of the encoder part of the binding (native/binding/model_binding.cpp): the encoder handle, one
// class over the CPU or a CUDA backend (native/model/encoder_backend.h), so encoding and training are one
// code for every device.
import { loadAddon } from '../native.js';
import type { EncoderConfig } from './config.js';
import type { Layout } from './weights.js';

/** Opaque: one batch's training activations (on the handle's device) between trainForward and trainBackward. */
export type TrainActivations = { readonly __trainActivations: unique symbol };

export interface EncoderHandle {
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
  prepare(precision: 'fp32' | 'bf16' | 'int8'): Promise<number>;
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
  /**
   * Training forward (fp32) on the arena (on the GPU: on the device parameters, first refreshed from the
   * arena when upload). out (B*V). dropout in [0, 1) and seed (< 2^53) fix the masks, the same on both devices.
   */
  trainForward(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, pooling: 'max' | 'sum',
               out: Float32Array, upload: boolean, dropout: number, seed: number): Promise<TrainActivations>;
  /** The handle's gradient arena += dLoss/dparams for dLoss/dw = dw (B*V); frees the activations. */
  trainBackward(acts: TrainActivations, dw: Float32Array): Promise<void>;
  /**
   * Masked-LM forward, mean cross-entropy over the labelled positions (labels (N): an id or -1) and its
   * backward into the handle's gradient arena; resolves to that mean and the number of labels.
   */
  mlmGradients(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, labels: Int32Array, upload: boolean,
               dropout: number, seed: number): Promise<{ loss: number; count: number }>;
  zeroGrads(): Promise<void>;
  /** The handle's gradient arena into out (arena-sized). */
  readGrads(out: Float32Array): Promise<void>;

  // The optimizer over the whole arena: gradients and AdamW moments stay in the handle (on the device
  // for a GPU), each arena-shaped (the layout's total floats).
  /** Moments to zero; the next adamwUpdate reads its decay mask again (a new optimizer). */
  resetOptimizer(): Promise<void>;
  /** Sum of squares of the handle's gradients (double accumulation, fixed order). */
  gradNormSq(): Promise<number>;
  /** AdamW over the whole arena; decayMask (arena-sized, 1: weight decay) is read on the first call after a reset. */
  adamwUpdate(opts: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number; gradScale: number },
              decayMask: Uint8Array): Promise<void>;
  /** The constructor's arena <- the handle's parameters (nothing to copy on the CPU, where they are the arena). */
  readParams(): Promise<void>;
  readMoments(m: Float32Array, v: Float32Array): Promise<void>;
  writeMoments(m: Float32Array, v: Float32Array): Promise<void>;
  /** Frees the handle's native (or device) memory once the calls in flight end; later calls throw. */
  dispose(): void;
}

export interface EncoderAddon {
  encoderLayout(config: EncoderConfig): Layout;
  /** What the bf16 GEMMs run here: AMX tiles, or the portable fp32-SGEMM path. */
  bf16Kernel(): 'amx' | 'avx512_bf16' | 'fallback';
  /** On the CPU over the arena (zero-copy), or given a device number on that CUDA device over a copy of it. */
  Encoder: new (config: EncoderConfig, arena: Float32Array, device?: number) => EncoderHandle;
}

export function encoderAddon(): EncoderAddon {
  return loadAddon<EncoderAddon>();
}
