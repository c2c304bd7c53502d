// The Trainer's passes over its encoders, one code for the CPU and the GPU: the encoder handles are one
// class over a backend (native/model/encoder_backend.h), so the training forward and backward, the
// masked-LM objective, the gradients and the optimizer go through them alike; the losses stay in
// TypeScript. AdamW runs in each handle over its whole arena (native/cpu/adamw.cpp on the CPU,
// native/cuda/encoder_cuda_optim.cu on a GPU), with the gradients and moments kept there. The host arena
// is the truth between steps: on a GPU each step's first pass uploads it and the parameters come back
// after each update (on the CPU the handle's parameters are the arena). The moments move to and from
// the trainer's m / v for save() and resume(); a new trainer (not resumed) starts from zero moments.
import { ErrorCode, SpladeError, callNativeAsync } from '../errors.js';
import type { EncoderHandle, TrainActivations } from '../model/native-encoder.js';
import type { TrainingEncoder } from '../model/splade-model.js';
import { ADAMW_BETA1, ADAMW_BETA2, ADAMW_EPS } from './adamw.js';

/** The trainer's parameter list: parameters, gradients and moments per tensor (host views), decay per tensor. */
export interface ParameterTensors { params: Float32Array[]; grads: Float32Array[]; m: Float32Array[]; v: Float32Array[]; decay: boolean[] }

/** One optimizer step's settings. */
export interface StepOptions { lr: number; weightDecay: number; maxGradNorm: number; step: number }

/** One encoder and its host gradient buffer (arena-shaped; the tensors' grads view it). */
interface EncoderState { enc: TrainingEncoder; grads: Float32Array }

export interface Optimizer {
  /** Global L2 norm of the gradients. */
  gradNorm(): Promise<number>;
  /** The finite-norm check (throws, changing nothing), clipping, AdamW; returns the norm. */
  step(o: StepOptions): Promise<number>;
  readMoments(): Promise<void>;  // into the trainer's m / v views
  writeMoments(): Promise<void>;  // from them
}

export class TrainingState {
  readonly device: 'cpu' | 'cuda';
  readonly optimizer: Optimizer;
  /** Handles whose device parameters were refreshed from the host arena in the current step. */
  private uploaded = new Set<EncoderHandle>();

  constructor(private readonly encoders: EncoderState[], tensors: ParameterTensors) {
    this.device = encoders[0].enc.device;
    if (encoders.some((e) => e.enc.device !== this.device)) throw new SpladeError('internal: encoders on two devices', ErrorCode.internal);
    this.optimizer = new HandleAdamw(encoders, tensors);
  }

  /** Starts a step: the next pass of each encoder copies the host arena to its device first. */
  beginStep(): void {
    this.uploaded.clear();
  }

  private upload(native: EncoderHandle): boolean {
    const first = !this.uploaded.has(native);
    this.uploaded.add(native);
    return first;
  }

  /** Training forward of packed sequences: out (B*V) gets the vectors; dropout masks from seed. */
  forward(enc: TrainingEncoder, ids: Int32Array, cu: Int32Array, out: Float32Array, dropout: number, seed: number): Promise<TrainActivations> {
    return callNativeAsync(() => enc.native.trainForward(ids, null, cu, 'max', out, this.upload(enc.native), dropout, seed));
  }

  /** The masked-LM objective: its gradients added to enc's gradient arena; the mean loss and count. */
  mlm(enc: TrainingEncoder, ids: Int32Array, cu: Int32Array, labels: Int32Array, dropout: number, seed: number)
    : Promise<{ loss: number; count: number }> {
    return callNativeAsync(() => enc.native.mlmGradients(ids, null, cu, labels, this.upload(enc.native), dropout, seed));
  }

  /** enc's gradient arena += the backward of acts for dLoss/dw = dw. */
  backward(enc: TrainingEncoder, acts: TrainActivations, dw: Float32Array): Promise<void> {
    return callNativeAsync(() => enc.native.trainBackward(acts, dw));
  }

  async zeroGrads(): Promise<void> {
    for (const e of this.encoders) await callNativeAsync(() => e.enc.native.zeroGrads());
  }

  /** The handles' gradients into the host buffers. */
  async readGrads(): Promise<void> {
    for (const e of this.encoders) await callNativeAsync(() => e.enc.native.readGrads(e.grads));
  }
}

/** One tensor of the trainer's parameter list: its index there and its place in its encoder's arena. */
interface Slot { k: number; offset: number; length: number }

/** AdamW in each encoder's handle over its whole arena, its moments there. */
class HandleAdamw implements Optimizer {
  private readonly devices: Array<{ handle: EncoderHandle; enc: TrainingEncoder; slots: Slot[]; decayMask: Uint8Array }>;
  /** The handle's moments are still another trainer's (or none): reset before this one's first use. */
  private fresh = true;

  constructor(encoders: EncoderState[], private readonly t: ParameterTensors) {
    this.devices = encoders.map(({ enc }) => {
      const slots: Slot[] = [];
      const decayMask = new Uint8Array(enc.layout.total);
      t.params.forEach((p, k) => {
        if (p.buffer !== enc.arena.buffer) return;
        const offset = (p.byteOffset - enc.arena.byteOffset) / Float32Array.BYTES_PER_ELEMENT;
        slots.push({ k, offset, length: p.length });
        if (t.decay[k]) decayMask.fill(1, offset, offset + p.length);
      });
      return { handle: enc.native, enc, slots, decayMask };
    });
  }

  /** Each encoder's sum of squares, added in encoder order. */
  async gradNorm(): Promise<number> {
    let ss = 0;
    for (const d of this.devices) ss += await callNativeAsync(() => d.handle.gradNormSq());
    return Math.sqrt(ss);
  }

  async step(o: StepOptions): Promise<number> {
    const gradNorm = await this.gradNorm();
    if (!Number.isFinite(gradNorm)) {
      throw new SpladeError(`step ${o.step}: the gradient norm is ${gradNorm}; parameters left unchanged`, ErrorCode.outOfRange);
    }
    const gradScale = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (gradNorm + 1e-6)) : 1;
    const opts = { lr: o.lr, beta1: ADAMW_BETA1, beta2: ADAMW_BETA2, eps: ADAMW_EPS, weightDecay: o.weightDecay, step: o.step, gradScale };
    await this.ownMoments();
    for (const d of this.devices) await callNativeAsync(() => d.handle.adamwUpdate(opts, d.decayMask));
    for (const d of this.devices) await callNativeAsync(() => d.handle.readParams());
    return gradNorm;
  }

  /** Makes the device moments this trainer's: zero, the first time. */
  private async ownMoments(): Promise<void> {
    if (!this.fresh) return;
    for (const d of this.devices) await callNativeAsync(() => d.handle.resetOptimizer());
    this.fresh = false;
  }

  async readMoments(): Promise<void> {
    await this.ownMoments();
    for (const d of this.devices) {
      const m = new Float32Array(d.enc.layout.total), v = new Float32Array(d.enc.layout.total);
      await callNativeAsync(() => d.handle.readMoments(m, v));
      for (const s of d.slots) {
        this.t.m[s.k].set(m.subarray(s.offset, s.offset + s.length));
        this.t.v[s.k].set(v.subarray(s.offset, s.offset + s.length));
      }
    }
  }

  async writeMoments(): Promise<void> {
    for (const d of this.devices) {
      const m = new Float32Array(d.enc.layout.total), v = new Float32Array(d.enc.layout.total);
      for (const s of d.slots) {
        m.set(this.t.m[s.k], s.offset);
        v.set(this.t.v[s.k], s.offset);
      }
      await callNativeAsync(() => d.handle.writeMoments(m, v));
    }
    this.fresh = false;
  }
}
