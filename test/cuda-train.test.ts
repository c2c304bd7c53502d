// The Trainer on device 'cuda' (lib/train/training-state.ts over native/cuda/encoder_cuda_{train,optim}.cu).
// Without a usable GPU (CI, the development machine) only the refusals run: resuming on 'cuda' rejects
// with ERR_SPLADE_UNSUPPORTED saying why, and the CPU trainer is untouched (test/train.test.ts). With a GPU,
// the training steps of test/train.test.ts's fixture run on both devices from the same seed and are
// compared (without and with dropout), then save/resume, determinism, accumulation and encode-after-
// training on the GPU.
//
// Tolerances (fp32 on both devices; the GPU sums in other orders, never in double as the CPU reference does
// in places):
// - step statistics (losses, regularisers, gradient norm): 1e-4 relative, the bound test/train.test.ts
//   holds the CPU to against float64 PyTorch (the GPU forward agrees with the CPU to 1e-4, test/cuda.test.ts).
// - parameters after 3 steps: per tensor, max |gpu - cpu| <= 1e-2 of the tensor's largest update |cpu - start|.
//   AdamW divides each gradient by its own running RMS, so an element's update carries its gradient's
//   relative error, not the tensor's: the CPU fp32 run already agrees with float64 PyTorch to 1e-4 of each
//   tensor's scale, about 3e-3 of the update's (lr 5e-4 then 1e-3 after warm-up); another fp32 order gets 3x
//   that margin. The attention key biases are left out: their gradient is 0 in exact arithmetic (softmax
//   is shift-invariant), so both devices normalise rounding noise into +-lr steps of arbitrary sign.
// - gradients (computeGradients): 1e-3 of each tensor's largest, as test/cuda.test.ts's backward check.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeError, SpladeModel, Trainer, info } from '../lib/index.js';
import { encoderAddon } from '../lib/model/native-encoder.js';
import { MODELS as models, mlmBatch, tensorDiff, trainSteps } from './helpers/train-fixture.js';

const { cuda, cudaDevices } = info();
const gpu = cuda && cudaDevices > 0;
const STATS = ['loss', 'rankingLoss', 'regQ', 'regD', 'gradNorm', 'lr', 'lambdaQ', 'lambdaD'] as const;
const ZERO_GRADIENT = /key\.bias|k_lin\.bias/;

const tmp = mkdtempSync(join(tmpdir(), 'splade-cuda-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);
}

function snapshot(model: SpladeModel): Map<string, Float32Array> {
  return new Map([...model.parameters()].map(([k, v]) => [k, v.slice()]));
}

function bytesOf(model: SpladeModel): Buffer {
  return Buffer.concat([...model.parameters().values()].map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

describe.skipIf(gpu)("Trainer on device 'cuda' without a usable GPU", () => {
  it('Trainer.resume on cuda rejects with ERR_SPLADE_UNSUPPORTED saying why; a bad device is an invalid argument', async () => {
    const dir = join(tmp, 'cpu-run');
    const t = new Trainer(await SpladeModel.load(join(models, 'bert')), trainSteps('bert').options);
    await t.step(trainSteps('bert').batches[0]);
    await t.save(dir);
    const err = await Trainer.resume(dir, { device: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpladeError);
    expect((err as SpladeError).code).toBe('ERR_SPLADE_UNSUPPORTED');
    expect((err as Error).message).toMatch(cuda ? /no CUDA device is usable here/ : /no CUDA backend/);
    await expect(Trainer.resume(dir, { device: 'tpu' as never })).rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
    // the CPU continues as before
    const r = await Trainer.resume(dir, { device: 'cpu' });
    expect(r.device).toBe('cpu');
    expect(r.stepCount).toBe(1);
  });
});

describe.runIf(gpu)("Trainer on device 'cuda' on a GPU", () => {
  for (const arch of ['bert', 'distilbert'] as const) {
    it(`${arch}: three steps on the GPU match the CPU's from the same seed`, async () => {
      const { batches, options } = trainSteps(arch);
      const cpuModel = await SpladeModel.load(join(models, arch));
      const gpuModel = await SpladeModel.load(join(models, arch), { device: 'cuda' });
      const start = snapshot(cpuModel);
      const onCpu = new Trainer(cpuModel, options), onGpu = new Trainer(gpuModel, options);
      expect(onGpu.device).toBe('cuda');
      for (let k = 0; k < 3; k++) {
        const a = await onGpu.step(batches[k]), b = await onCpu.step(batches[k]);
        expect(a.step).toBe(b.step);
        for (const key of STATS) expect(relErr(a[key], b[key]), `${arch} step ${k + 1} ${key}`).toBeLessThanOrEqual(1e-4);
      }
      const got = gpuModel.parameters();
      for (const [name, p] of cpuModel.parameters()) {
        if (ZERO_GRADIENT.test(name)) continue;
        const { diff } = tensorDiff(got.get(name)!, p);
        const update = tensorDiff(p, start.get(name)!).diff;
        expect(diff, `${arch} ${name}: max |gpu - cpu| against the largest update ${update}`).toBeLessThanOrEqual(1e-2 * update);
      }
    });
  }

  it('save on the GPU + resume on the GPU == a straight run, bitwise; the same seed gives the same bits', async () => {
    const { batches, options } = trainSteps('bert');
    const straight = new Trainer(await SpladeModel.load(join(models, 'bert'), { device: 'cuda' }), options);
    const losses: number[] = [];
    for (let k = 0; k < 3; k++) losses.push((await straight.step(batches[k])).loss);
    const first = new Trainer(await SpladeModel.load(join(models, 'bert'), { device: 'cuda' }), options);
    await first.step(batches[0]);
    await first.step(batches[1]);
    const dir = join(tmp, 'gpu-run');
    await first.save(dir);
    const resumed = await Trainer.resume(dir, { device: 'cuda' });
    expect(resumed.device).toBe('cuda');
    expect(resumed.stepCount).toBe(2);
    expect((await resumed.step(batches[2])).loss).toBe(losses[2]);
    expect(bytesOf(resumed.model).equals(bytesOf(straight.model))).toBe(true);
    // the moments: save() fills m / v from the device
    await straight.save(join(tmp, 'gpu-straight'));
    await resumed.save(join(tmp, 'gpu-resumed'));
    expect(straight.m.some((x) => x !== 0)).toBe(true);
    expect(Buffer.from(resumed.m.buffer).equals(Buffer.from(straight.m.buffer))).toBe(true);
    expect(Buffer.from(resumed.v.buffer).equals(Buffer.from(straight.v.buffer))).toBe(true);
    // a run saved on the GPU continues on the CPU
    const onCpu = await Trainer.resume(dir, { device: 'cpu' });
    expect(relErr((await onCpu.step(batches[2])).loss, losses[2])).toBeLessThanOrEqual(1e-4);
  });

  it('computeGradients on the GPU matches the CPU, and accumulation sums', async () => {
    const { batches, options } = trainSteps('bert');
    const cpuT = new Trainer(await SpladeModel.load(join(models, 'bert')), options);
    const gpuT = new Trainer(await SpladeModel.load(join(models, 'bert'), { device: 'cuda' }), options);
    const a = await gpuT.computeGradients(batches[0]), b = await cpuT.computeGradients(batches[0]);
    expect(relErr(a.loss, b.loss)).toBeLessThanOrEqual(1e-4);
    expect(relErr(a.gradNorm, b.gradNorm)).toBeLessThanOrEqual(1e-4);
    for (const [name, g] of b.gradients) {
      const { diff, mag } = tensorDiff(a.gradients.get(name)!, g);
      expect(diff, name).toBeLessThanOrEqual(1e-3 * mag);
    }
    const c = await gpuT.computeGradients(batches[1]);
    await gpuT.computeGradients(batches[0], { accumulate: true });
    const sum = await gpuT.computeGradients(batches[1], { accumulate: true });
    for (const [name, g] of sum.gradients) {
      const ga = a.gradients.get(name)!, gc = c.gradients.get(name)!;
      for (let k = 0; k < g.length; k += 17) expect(g[k], name).toBeCloseTo(ga[k] + gc[k], 4);
    }
    await expect(gpuT.save(join(tmp, 'pending'))).rejects.toThrow(/pending/);
  });

  it('encode after GPU steps sees the trained weights (host arena brought level), as a CPU model with them', async () => {
    const { batches, options } = trainSteps('bert');
    const gpuModel = await SpladeModel.load(join(models, 'bert'), { device: 'cuda' });
    const texts = ['the cat sat on the mat', 'splade sparse retrieval'];
    const before = await gpuModel.encode(texts);
    const t = new Trainer(gpuModel, options);
    for (let k = 0; k < 3; k++) await t.step(batches[k]);
    const after = await gpuModel.encode(texts);
    const dir = join(tmp, 'gpu-trained');
    await gpuModel.save(dir);
    const ref = await (await SpladeModel.load(dir)).encode(texts);
    const V = gpuModel.vocabSize;
    const dense = (v: { indices: Uint32Array; values: Float32Array }) => {
      const d = new Float32Array(V);
      v.indices.forEach((j, k) => (d[j] = v.values[k]));
      return d;
    };
    let moved = 0;
    for (let i = 0; i < texts.length; i++) {
      const a = dense(after[i]);
      const { diff, mag } = tensorDiff(a, dense(ref[i]), 1);
      expect(diff / mag).toBeLessThan(1e-4);
      moved = Math.max(moved, tensorDiff(a, dense(before[i])).diff);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('a second trainer on the same GPU model starts from zero moments, as on the CPU', async () => {
    const { batches, options } = trainSteps('bert');
    const opts = { ...options, warmupSteps: 0 };
    const gpuModel = await SpladeModel.load(join(models, 'bert'), { device: 'cuda' });
    const cpuModel = await SpladeModel.load(join(models, 'bert'));
    for (const m of [gpuModel, cpuModel]) await new Trainer(m, opts).step(batches[0]);
    const a = await new Trainer(gpuModel, opts).step(batches[1]), b = await new Trainer(cpuModel, opts).step(batches[1]);
    for (const key of STATS) expect(relErr(a[key], b[key]), key).toBeLessThanOrEqual(1e-4);
  });

  it('the native training handle refuses misuse with clear errors (never a crash)', async () => {
    const model = await SpladeModel.load(join(models, 'bert'), { device: 'cuda' });
    const gpu = model.trainingEncoders().document.native;
    const V = model.vocabSize;
    const ids = Int32Array.from([2, 10, 11, 3]), cu = Int32Array.from([0, 4]);
    const out = new Float32Array(V), dw = new Float32Array(V);
    const h = await gpu.trainForward(ids, null, cu, 'max', out, true, 0, 0);
    const invalid = { code: 'ERR_SPLADE_INVALID_ARGUMENT' };
    await expect(gpu.trainBackward(h, new Float32Array(V + 1))).rejects.toMatchObject(invalid);
    await gpu.trainBackward(h, dw);
    await expect(gpu.trainBackward(h, dw)).rejects.toMatchObject(invalid);  // consumed
    expect(() => gpu.trainBackward({} as never, dw)).toThrow(/trainForward handle/);
    const { config, arena } = model.trainingEncoders().document;
    const cpuHandle = await new (encoderAddon().Encoder)(config, arena).trainForward(ids, null, cu, 'max', out, false, 0, 0);
    expect(() => gpu.trainBackward(cpuHandle as never, dw)).toThrow(/trainForward handle/);
    const other = await SpladeModel.load(join(models, 'bert'), { device: 'cuda' });
    const h2 = await other.trainingEncoders().document.native.trainForward(ids, null, cu, 'max', out, true, 0, 0);
    await expect(gpu.trainBackward(h2, dw)).rejects.toThrow(/another CUDA encoder/);
    expect(() => gpu.trainForward(ids, null, cu, 'max', out, true, 1, 0)).toThrow(/dropout/);
    await expect(gpu.mlmGradients(ids, null, cu, Int32Array.from([-1, V, -1, -1]), true, 0, 0)).rejects.toMatchObject({ code: 'ERR_SPLADE_OUT_OF_RANGE' });
  });

  it('separate query and document encoders both train on the GPU, as on the CPU', async () => {
    const { batches, options } = trainSteps('bert');
    const qdir = join(tmp, 'q'), ddir = join(tmp, 'd');
    cpSync(join(models, 'bert'), qdir, { recursive: true });
    cpSync(join(models, 'bert'), ddir, { recursive: true });
    const onGpu = new Trainer(await SpladeModel.load({ query: qdir, document: ddir }, { device: 'cuda' }), options);
    const onCpu = new Trainer(await SpladeModel.load({ query: qdir, document: ddir }), options);
    for (let k = 0; k < 2; k++) {
      const a = await onGpu.step(batches[k]), b = await onCpu.step(batches[k]);
      for (const key of STATS) expect(relErr(a[key], b[key]), `step ${k + 1} ${key}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it('with dropout (the checkpoint\'s 0.1): the GPU draws the CPU\'s masks, so the steps agree', async () => {
    const { batches, options } = trainSteps('bert');
    const opts = { ...options, dropout: undefined };  // the checkpoint's config: 0.1
    const onGpu = new Trainer(await SpladeModel.load(join(models, 'bert'), { device: 'cuda' }), opts);
    const onCpu = new Trainer(await SpladeModel.load(join(models, 'bert')), opts);
    expect(onGpu.options.dropout).toBe(0.1);
    for (let k = 0; k < 3; k++) {
      const a = await onGpu.step(batches[k]), b = await onCpu.step(batches[k]);
      for (const key of STATS) expect(relErr(a[key], b[key]), `step ${k + 1} ${key}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it('masked-LM steps (the trainer masking, dropout 0.1) on the GPU match the CPU\'s', async () => {
    const { batches, options } = trainSteps('bert');
    const opts = { ...options, dropout: 0.1 };
    const gpuModel = await SpladeModel.load(join(models, 'bert'), { device: 'cuda' });
    const onGpu = new Trainer(gpuModel, opts);
    const onCpu = new Trainer(await SpladeModel.load(join(models, 'bert')), opts);
    for (const batch of [mlmBatch(gpuModel), batches[0], mlmBatch(gpuModel)]) {
      const a = await onGpu.step(batch), b = await onCpu.step(batch);
      expect(a.maskedTokens).toBe(b.maskedTokens);
      expect(relErr(a.loss, b.loss)).toBeLessThanOrEqual(1e-4);
      expect(relErr(a.gradNorm, b.gradNorm)).toBeLessThanOrEqual(1e-4);
    }
  });
});
