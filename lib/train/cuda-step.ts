// The Trainer's step on a GPU (a model loaded with device 'cuda'): the training forward and backward run
// on the device, and so do the gradients (accumulated there), the global gradient norm, and AdamW over
// each encoder's whole parameter arena with its moments (native/cuda/encoder_cuda_optim.cu). What crosses
// to the host per step: the batch's ids, the dense (B x V) vectors out and their dLoss/dw in (the losses
// and regularisers stay in TypeScript, as on the CPU), the norm, and the updated parameters, copied into
// the host arena after each update so that save(), encode() and parameters() see them. The host arena
// is the truth between steps: each step's first forward copies it to the device again (so a write
// through parameters() views between steps counts, as on the CPU).
//
// The moments live on the device only; readMoments() / writeMoments() move them to and from the trainer's
// flat m / v (in parameter-name order) for save() and resume(). The device state belongs to the encoder,
// so a trainer takes it over: the first optimizer step of a new one (not resumed) starts from zero
// moments, as on the CPU; two trainers stepping one GPU model in turn would share them (one at a time).
// Dropout masks are the CPU's, drawn on the device from the same per-call seed (native/cuda/dropout.cuh).
// The masked-LM objective runs there too (native/cuda/mlm_head.cu), its mean loss coming back as a number.
import type { CudaActivations, CudaTrainingHandle } from '../model/cuda-encoder.js';
import { ErrorCode, SpladeError, callNativeAsync } from '../errors.js';
import type { TrainingEncoder } from '../model/splade-model.js';
import { ADAMW_BETA1, ADAMW_BETA2, ADAMW_EPS } from './adamw.js';

/** One tensor of the trainer's parameter list: its index there and its place in its encoder's arena. */
interface Slot { k: number; offset: number; length: number }

interface DeviceEncoder { gpu: CudaTrainingHandle; enc: TrainingEncoder; grads: Float32Array; slots: Slot[]; decayMask: Uint8Array }

export class CudaTrainingState {
  private readonly devices: DeviceEncoder[];
  /** Encoders whose device parameters were refreshed from the host arena in the current step. */
  private uploaded = new Set<CudaTrainingHandle>();
  /** The device moments are still another trainer's (or none): reset before this one's first use. */
  private fresh = true;

  /**
   * encoders: the trainer's (one when shared), each with its host gradient buffer; params / decay: the
   * trainer's parameter list (views of the encoders' arenas) and which of them get weight decay.
   */
  constructor(encoders: Array<{ enc: TrainingEncoder; grads: Float32Array }>, params: Float32Array[], decay: boolean[]) {
    this.devices = encoders.map(({ enc, grads }) => {
      if (enc.cuda === null) throw new SpladeError('internal: CudaTrainingState over a CPU encoder', ErrorCode.internal);
      const slots: Slot[] = [];
      const decayMask = new Uint8Array(enc.layout.total);
      params.forEach((p, k) => {
        if (p.buffer !== enc.arena.buffer) return;
        const offset = (p.byteOffset - enc.arena.byteOffset) / Float32Array.BYTES_PER_ELEMENT;
        slots.push({ k, offset, length: p.length });
        if (decay[k]) decayMask.fill(1, offset, offset + p.length);
      });
      return { gpu: enc.cuda, enc, grads, slots, decayMask };
    });
  }

  private device(enc: TrainingEncoder): DeviceEncoder {
    const d = this.devices.find((x) => x.enc === enc);
    if (d === undefined) throw new SpladeError('internal: no device state for this encoder', ErrorCode.internal);
    return d;
  }

  /** Starts a step: the next forward of each encoder copies the host arena to the device first. */
  beginStep(): void {
    this.uploaded.clear();
  }

  /** Training forward of packed sequences on enc's device: out (B*V) gets the vectors; dropout masks from seed. */
  forward(enc: TrainingEncoder, ids: Int32Array, cu: Int32Array, out: Float32Array, dropout: number, seed: number)
    : Promise<CudaActivations> {
    const { gpu } = this.device(enc);
    const upload = !this.uploaded.has(gpu);
    this.uploaded.add(gpu);
    return callNativeAsync(() => gpu.trainForward(ids, null, cu, 'max', out, upload, dropout, seed));
  }

  /** The masked-LM objective on enc's device: its gradients added to the device gradients; the mean loss and count. */
  mlm(enc: TrainingEncoder, ids: Int32Array, cu: Int32Array, labels: Int32Array, dropout: number, seed: number)
    : Promise<{ loss: number; count: number }> {
    const { gpu } = this.device(enc);
    const upload = !this.uploaded.has(gpu);
    this.uploaded.add(gpu);
    return callNativeAsync(() => gpu.mlmGradients(ids, null, cu, labels, upload, dropout, seed));
  }

  /** enc's device gradients += the backward of acts for dLoss/dw = dw. */
  backward(enc: TrainingEncoder, acts: CudaActivations, dw: Float32Array): Promise<void> {
    const { gpu } = this.device(enc);
    return callNativeAsync(() => gpu.trainBackward(acts, dw));
  }

  async zeroGrads(): Promise<void> {
    for (const d of this.devices) await callNativeAsync(() => d.gpu.zeroGrads());
  }

  /** Global L2 norm of the device gradients (each encoder's sum of squares, added in encoder order). */
  async gradNorm(): Promise<number> {
    let ss = 0;
    for (const d of this.devices) ss += await callNativeAsync(() => d.gpu.gradNormSq());
    return Math.sqrt(ss);
  }

  /** The device gradients into the host buffers (for computeGradients). */
  async readGrads(): Promise<void> {
    for (const d of this.devices) await callNativeAsync(() => d.gpu.readGrads(d.grads));
  }

  /**
   * adamwStep (adamw.ts) on the device: the finite-norm check (throws, leaving every parameter as it
   * was), clip_grad_norm_'s coefficient, AdamW over each arena, then the host arenas updated. Returns the
   * norm before clipping.
   */
  async optimizerStep(o: { lr: number; weightDecay: number; maxGradNorm: number; step: number }): Promise<number> {
    const gradNorm = await this.gradNorm();
    if (!Number.isFinite(gradNorm)) {
      throw new SpladeError(`step ${o.step}: the gradient norm is ${gradNorm}; parameters left unchanged`, ErrorCode.outOfRange);
    }
    const gradScale = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (gradNorm + 1e-6)) : 1;
    const opts = { lr: o.lr, beta1: ADAMW_BETA1, beta2: ADAMW_BETA2, eps: ADAMW_EPS, weightDecay: o.weightDecay, step: o.step, gradScale };
    await this.ownMoments();
    for (const d of this.devices) await callNativeAsync(() => d.gpu.adamwUpdate(opts, d.decayMask));
    for (const d of this.devices) await callNativeAsync(() => d.gpu.readParams());
    return gradNorm;
  }

  /** Makes the device moments this trainer's: zero, the first time. */
  private async ownMoments(): Promise<void> {
    if (!this.fresh) return;
    for (const d of this.devices) await callNativeAsync(() => d.gpu.resetOptimizer());
    this.fresh = false;
  }

  /** The device moments into the trainer's per-parameter views of m and v. */
  async readMoments(mViews: Float32Array[], vViews: Float32Array[]): Promise<void> {
    await this.ownMoments();
    for (const d of this.devices) {
      const m = new Float32Array(d.enc.layout.total), v = new Float32Array(d.enc.layout.total);
      await callNativeAsync(() => d.gpu.readMoments(m, v));
      for (const s of d.slots) {
        mViews[s.k].set(m.subarray(s.offset, s.offset + s.length));
        vViews[s.k].set(v.subarray(s.offset, s.offset + s.length));
      }
    }
  }

  /** The device moments from the trainer's per-parameter views of m and v (resume). */
  async writeMoments(mViews: Float32Array[], vViews: Float32Array[]): Promise<void> {
    for (const d of this.devices) {
      const m = new Float32Array(d.enc.layout.total), v = new Float32Array(d.enc.layout.total);
      for (const s of d.slots) {
        m.set(mViews[s.k], s.offset);
        v.set(vViews[s.k], s.offset);
      }
      await callNativeAsync(() => d.gpu.writeMoments(m, v));
    }
    this.fresh = false;
  }
}
