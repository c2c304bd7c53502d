// The GPU trainer's orchestration (lib/train/training-state.ts with its device optimizer) without a
// GPU: the CUDA handle is replaced by a host double with the device's semantics (its own copy of the
// parameters, refreshed from the host arena only when asked; gradients, moments and the decay mask kept
// arena-shaped; AdamW over the whole arena) built on a CPU encoder handle over that copy. What this checks is the
// TypeScript side: when parameters go up and come back, the decay mask and the moments' mapping between
// the arena and the trainer's parameter order, the dropout seeds (the CPU's draws), gradient accumulation
// and the masked-LM objective's plumbing. The kernels
// themselves are checked on a GPU (test/cuda-train.test.ts, native/tests/cuda_test.cpp).
// Against the CPU trainer: the same float operations (the CPU handle also keeps the gradients and moments
// and sums the norm over its whole arena), so losses and parameters agree to 1e-6 relative.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, Trainer } from '../lib/index.js';
import { type EncoderHandle, type TrainActivations, encoderAddon } from '../lib/model/native-encoder.js';
import type { TrainingEncoder } from '../lib/model/splade-model.js';
import { trainAddon } from '../lib/train/adamw.js';
import { readTrainerState } from '../lib/train/state.js';
import { MODELS as models, mlmBatch, tensorDiff, trainSteps } from './helpers/train-fixture.js';
const tmp = mkdtempSync(join(tmpdir(), 'splade-cuda-step-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The device, on the host: what a CUDA encoder handle keeps, with a CPU encoder handle over its own parameters. */
class HostDevice {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  mask: Uint8Array | undefined;
  uploads = 0;
  private readonly addon = trainAddon();
  private readonly cpu: EncoderHandle;
  constructor(private readonly enc: TrainingEncoder) {
    this.params = enc.arena.slice();
    this.grads = new Float32Array(enc.layout.total);
    this.m = new Float32Array(enc.layout.total);
    this.v = new Float32Array(enc.layout.total);
    this.cpu = new (encoderAddon().Encoder)(enc.config, this.params);
  }
  private upload(upload: boolean): void {
    if (!upload) return;
    this.params.set(this.enc.arena);
    this.uploads++;
  }
  trainForward(ids: Int32Array, typeIds: Int32Array | null, cu: Int32Array, pooling: 'max' | 'sum', out: Float32Array,
               upload: boolean, dropout: number, seed: number): Promise<TrainActivations> {
    this.upload(upload);
    return this.cpu.trainForward(ids, typeIds, cu, pooling, out, false, dropout, seed);
  }
  async mlmGradients(ids: Int32Array, typeIds: Int32Array | null, cu: Int32Array, labels: Int32Array, upload: boolean,
                     dropout: number, seed: number): Promise<{ loss: number; count: number }> {
    this.upload(upload);
    const r = await this.cpu.mlmGradients(ids, typeIds, cu, labels, false, dropout, seed);
    await this.cpu.readGrads(this.grads);
    return r;
  }
  async trainBackward(acts: TrainActivations, dw: Float32Array): Promise<void> {
    await this.cpu.trainBackward(acts, dw);
    await this.cpu.readGrads(this.grads);
  }
  async zeroGrads(): Promise<void> {
    await this.cpu.zeroGrads();
    this.grads.fill(0);
  }
  async resetOptimizer(): Promise<void> {
    this.m.fill(0);
    this.v.fill(0);
    this.mask = undefined;
  }
  async gradNormSq(): Promise<number> {
    return this.addon.gradNormSq(this.grads);
  }
  async adamwUpdate(opts: Parameters<EncoderHandle['adamwUpdate']>[0], decayMask: Uint8Array): Promise<void> {
    this.mask ??= decayMask.slice();  // read on the first call, as the device does
    this.addon.adamwUpdate(this.params, this.m, this.v, this.grads, opts, this.mask);
  }
  async readParams(): Promise<void> {
    this.enc.arena.set(this.params);
  }
  async readGrads(out: Float32Array): Promise<void> {
    out.set(this.grads);
  }
  async readMoments(m: Float32Array, v: Float32Array): Promise<void> {
    m.set(this.m);
    v.set(this.v);
  }
  async writeMoments(m: Float32Array, v: Float32Array): Promise<void> {
    this.m.set(m);
    this.v.set(v);
  }
}

/** A CPU-loaded model whose encoders answer to the GPU trainer through host doubles. */
async function hostDeviceModel(dir: string | { query: string; document: string }): Promise<{ model: SpladeModel; devices: HostDevice[] }> {
  const model = await SpladeModel.load(dir);
  const { query, document } = model.trainingEncoders();
  const devices: HostDevice[] = [];
  for (const enc of new Set([query, document])) {
    const d = new HostDevice(enc);
    Object.assign(enc, { native: d, device: 'cuda' });
    devices.push(d);
  }
  return { model, devices };
}

function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, x] of b) {
    const { diff, mag } = tensorDiff(a.get(name)!, x);
    worst = Math.max(worst, diff / mag);
  }
  return worst;
}

describe('the GPU trainer orchestration over a host double of the device', () => {
  const { batches, options } = trainSteps('bert');

  it('three steps equal the CPU trainer; parameters come back each step, moments at save', async () => {
    const { model, devices } = await hostDeviceModel(join(models, 'bert'));
    const onDevice = new Trainer(model, options);
    expect(onDevice.device).toBe('cuda');
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    const onCpu = new Trainer(cpuModel, options);
    for (let k = 0; k < 3; k++) {
      const a = await onDevice.step(batches[k]), b = await onCpu.step(batches[k]);
      for (const key of ['loss', 'rankingLoss', 'regQ', 'regD', 'gradNorm', 'lr'] as const) {
        expect(Math.abs(a[key] - b[key]), `step ${k + 1} ${key}`).toBeLessThanOrEqual(1e-6 * Math.max(Math.abs(b[key]), 1e-6));
      }
      // the host arena is level with the device after every step, and uploaded once per step
      expect(Buffer.from(model.trainingEncoders().document.arena.buffer).equals(Buffer.from(devices[0].params.buffer))).toBe(true);
      expect(devices[0].uploads).toBe(k + 1);
    }
    expect(maxRelDiff(model.parameters(), cpuModel.parameters())).toBeLessThanOrEqual(1e-6);
    // weight decay only where the CPU trainer applies it (not on biases and LayerNorm weights)
    const mask = devices[0].mask!;
    const enc = model.trainingEncoders().document;
    for (const [name, p] of enc.parameters()) {
      const off = (p.byteOffset - enc.arena.byteOffset) / 4;
      const want = /bias|LayerNorm/.test(name) ? 0 : 1;
      expect(mask.subarray(off, off + p.length).every((x) => x === want), name).toBe(true);
    }
    // save() brings the moments over, in the trainer's parameter order
    expect(onDevice.m.every((x) => x === 0)).toBe(true);
    await onDevice.save(join(tmp, 'device'));
    await onCpu.save(join(tmp, 'cpu'));
    const a = readTrainerState(join(tmp, 'device')), b = readTrainerState(join(tmp, 'cpu'));
    expect(a.names).toEqual(b.names);
    for (const [x, y] of [[a.m, b.m], [a.v, b.v]] as const) {
      const { diff, mag } = tensorDiff(x, y, 0);
      expect(mag).toBeGreaterThan(0);
      expect(diff).toBeLessThanOrEqual(1e-6 * mag);
    }
  });

  it('a host write between steps reaches the device; computeGradients reads the device gradients and accumulates there', async () => {
    const { model } = await hostDeviceModel(join(models, 'bert'));
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    for (const m of [model, cpuModel]) {
      const p = m.parameters().get('bert.embeddings.LayerNorm.weight')!;
      p.fill(0.5);
      m.weightsChanged();
    }
    const t = new Trainer(model, options), c = new Trainer(cpuModel, options);
    const a = await t.computeGradients(batches[0]), b = await c.computeGradients(batches[0]);
    expect(a.loss).toBe(b.loss);
    expect(maxRelDiff(a.gradients, b.gradients)).toBe(0);
    await t.computeGradients(batches[0], { accumulate: true });
    const sum = await t.computeGradients(batches[1], { accumulate: true });
    const one = await c.computeGradients(batches[1]);
    for (const [name, g] of sum.gradients) {
      const ga = b.gradients.get(name)!, gb = one.gradients.get(name)!;
      for (let k = 0; k < g.length; k += 13) expect(g[k], name).toBeCloseTo(ga[k] + gb[k], 5);
    }
    await expect(t.save(join(tmp, 'pending'))).rejects.toThrow(/pending/);
  });

  it('a second trainer on the same model starts from zero moments, as on the CPU', async () => {
    const { model } = await hostDeviceModel(join(models, 'bert'));
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    const opts = { ...options, warmupSteps: 0 };
    for (const m of [model, cpuModel]) await new Trainer(m, opts).step(batches[0]);
    const a = await new Trainer(model, opts).step(batches[1]), b = await new Trainer(cpuModel, opts).step(batches[1]);
    expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(b.loss));
    expect(maxRelDiff(model.parameters(), cpuModel.parameters())).toBeLessThanOrEqual(1e-6);
  });

  it('separate query and document encoders each keep their own device state', async () => {
    const dirs = { query: join(tmp, 'q'), document: join(tmp, 'd') };
    cpSync(join(models, 'bert'), dirs.query, { recursive: true });
    cpSync(join(models, 'bert'), dirs.document, { recursive: true });
    const { model, devices } = await hostDeviceModel(dirs);
    expect(devices.length).toBe(2);
    const t = new Trainer(model, options), c = new Trainer(await SpladeModel.load(dirs), options);
    for (let k = 0; k < 2; k++) {
      const a = await t.step(batches[k]), b = await c.step(batches[k]);
      expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(b.loss));
    }
    expect(devices.map((d) => d.uploads)).toEqual([2, 2]);
    expect(maxRelDiff(model.parameters(), c.model.parameters())).toBeLessThanOrEqual(1e-6);
  });

  it('dropout: the same seeds as the CPU trainer draws, so the same steps', async () => {
    const { model } = await hostDeviceModel(join(models, 'bert'));
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    const opts = { ...options, dropout: 0.1 };
    const t = new Trainer(model, opts), c = new Trainer(cpuModel, opts);
    const free = await new Trainer(await SpladeModel.load(join(models, 'bert')), options).step(batches[0]);
    for (let k = 0; k < 3; k++) {
      const a = await t.step(batches[k]), b = await c.step(batches[k]);
      expect(Math.abs(a.loss - b.loss), `step ${k + 1}`).toBeLessThanOrEqual(1e-6 * Math.abs(b.loss));
      if (k === 0) expect(a.loss).not.toBe(free.loss);  // the masks did something
    }
    expect(maxRelDiff(model.parameters(), cpuModel.parameters())).toBeLessThanOrEqual(1e-6);
    expect(t.random()).toBe(c.random());
  });

  it('masked-LM steps (the trainer masking, dropout 0.1) equal the CPU trainer\'s, between ranking steps', async () => {
    const { model, devices } = await hostDeviceModel(join(models, 'bert'));
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    const opts = { ...options, dropout: 0.1 };
    const t = new Trainer(model, opts), c = new Trainer(cpuModel, opts);
    for (const batch of [mlmBatch(model), batches[0], mlmBatch(model)]) {
      const a = await t.step(batch), b = await c.step(batch);
      expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(b.loss));
      expect(a.maskedTokens).toBe(b.maskedTokens);
    }
    expect(devices[0].uploads).toBe(3);
    expect(maxRelDiff(model.parameters(), cpuModel.parameters())).toBeLessThanOrEqual(1e-6);
  });
});
