// device: 'cuda' for SpladeModel: the GPU encoder handle (native/binding/cuda_binding.cpp over
// native/cuda/encoder_cuda.cu), shaped as the CPU NativeEncoderHandle so the encode path is shared.
// Without a usable GPU (a build without the CUDA backend, or no driver/device) it throws a SpladeError
// with code ERR_SPLADE_UNSUPPORTED that says which, before any weights are read. The same handle carries
// the Trainer's device-resident step (lib/train/training-state.ts).
import { ErrorCode, SpladeError, callNative } from '../errors.js';
import { info } from '../info.js';
import type { EncoderConfig } from './config.js';
import type { NativeEncoderHandle } from './native-encoder.js';
import { loadAddon } from '../native.js';

/**
 * The Trainer's device-resident optimizer (native/cuda/encoder_cuda_optim.cu) beside the training passes
 * every encoder handle has: gradients and AdamW moments stay on the device, each one arena-shaped (the
 * layout's total floats). @internal
 */
export interface CudaTrainingHandle extends NativeEncoderHandle {
  /** Moments to zero; the next adamwUpdate reads its decay mask again (a new optimizer). */
  resetOptimizer(): Promise<void>;
  /** Sum of squares of the device gradients (double accumulation, fixed order). */
  gradNormSq(): Promise<number>;
  /** AdamW over the whole device arena; decayMask (arena-sized, 1: weight decay) is read on the first call. */
  adamwUpdate(opts: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number; gradScale: number },
              decayMask: Uint8Array): Promise<void>;
  /** The constructor's arena <- the device parameters. */
  readParams(): Promise<void>;
  readMoments(m: Float32Array, v: Float32Array): Promise<void>;
  writeMoments(m: Float32Array, v: Float32Array): Promise<void>;
}

interface CudaAddon {
  CudaEncoder: new (config: EncoderConfig, arena: Float32Array, device: number) => CudaTrainingHandle;
}

/** Throws unless this build has the CUDA backend and the CUDA runtime sees a device. */
export function assertCudaUsable(): void {
  const i = info();
  if (!i.cuda) {
    throw new SpladeError(
      "device 'cuda': this build of splade has no CUDA backend (nvcc was not found when it was built); " +
        "install the CUDA toolkit and run `npm rebuild splade`, or use device 'cpu'",
      ErrorCode.unsupported,
    );
  }
  if (i.cudaDevices === 0) {
    throw new SpladeError(
      "device 'cuda': no CUDA device is usable here (no NVIDIA driver or GPU visible: 0 devices); use device 'cpu'",
      ErrorCode.unsupported,
    );
  }
}

/**
 * The GPU encoder over a filled parameter arena, with the CPU handle's interface: prepare(precision)
 * copies the arena to the device for the packed forwards (bf16: tensor cores; fp32: the fp32 kernels),
 * forward() on the packed copy or, unpacked, on the arena as it is in fp32, and gradients() (fp32
 * training forward and backward, the arena copied again at each call).
 */
export function createCudaEncoder(config: EncoderConfig, arena: Float32Array): CudaTrainingHandle {
  assertCudaUsable();
  const addon = loadAddon<CudaAddon>();
  return callNative(() => new addon.CudaEncoder(config, arena, 0));
}
