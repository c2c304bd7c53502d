// device: 'cuda' for SpladeModel: the encoder handle on a GPU (native/binding/model_binding.cpp's Encoder
// over native/cuda/cuda_backend.h), the same class as the CPU's, so the encode and training paths are shared.
// Without a usable GPU (a build without the CUDA backend, or no driver/device) it throws a SpladeError
// with code ERR_SPLADE_UNSUPPORTED that says which, before any weights are read.
import { ErrorCode, SpladeError, callNative } from '../errors.js';
import { info } from '../info.js';
import type { EncoderConfig } from './config.js';
import { type EncoderHandle, encoderAddon } from './native-encoder.js';

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
export function createCudaEncoder(config: EncoderConfig, arena: Float32Array): EncoderHandle {
  assertCudaUsable();
  const addon = encoderAddon();
  return callNative(() => new addon.Encoder(config, arena, 0));
}
