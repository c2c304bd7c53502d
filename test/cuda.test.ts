// device: 'cuda'. Without a usable GPU (a build without the CUDA backend, or no device, as on CI and
// the development machine) SpladeModel.load must reject with a clear ERR_SPLADE_UNSUPPORTED Error that
// says which, the native constructor must throw rather than crash, and the CPU path must be untouched.
// With a GPU, the GPU encoder is compared with the CPU one: the fp32 reference path (reference = true)
// within 1e-4 of the tensor's max (float accumulation in another order on both sides), the bf16 tensor-core
// path within 2e-2 (inputs of every GEMM rounded to 8 mantissa bits, through 2 layers and the head), and
// encodeIdsBackward's gradients within 1e-3 of each tensor's largest gradient (fp32 sums through the
// backward).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SpladeError, SpladeModel, info } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { type EncoderConfig } from '../lib/model/config.js';
import { type EncoderHandle, encoderAddon } from '../lib/model/native-encoder.js';
import { tensorDiff } from './helpers/train-fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const BERT = join(here, 'fixtures', 'models', 'bert');
const DISTILBERT = join(here, 'fixtures', 'models', 'distilbert');
const ROBERTA = join(here, 'fixtures', 'models', 'roberta');  // positions offset past the padding index
const { cuda, cudaDevices } = info();
const gpu = cuda && cudaDevices > 0;

const tinyConfig: EncoderConfig = {
  arch: 'bert', vocabSize: 64, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 16, typeVocab: 2, eps: 1e-12,
};

type CudaAddon = { Encoder: new (c: EncoderConfig, arena: Float32Array, device?: number) => EncoderHandle };

describe.skipIf(gpu)("device 'cuda' without a usable GPU", () => {
  it('SpladeModel.load rejects with ERR_SPLADE_UNSUPPORTED saying why', async () => {
    const why = cuda ? /device 'cuda': no CUDA device is usable here/ : /device 'cuda': this build of splade has no CUDA backend/;
    for (const dir of [BERT, DISTILBERT]) {
      const err = await SpladeModel.load(dir, { device: 'cuda' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpladeError);
      expect((err as SpladeError).code).toBe('ERR_SPLADE_UNSUPPORTED');
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toMatch(/use device 'cpu'/);
    }
  });

  it('the native Encoder constructor on a device throws instead of crashing', () => {
    const { total } = encoderAddon().encoderLayout(tinyConfig);
    const addon = loadAddon<CudaAddon>();
    let err: unknown;
    try {
      new addon.Encoder(tinyConfig, new Float32Array(total), 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBe('ERR_SPLADE_UNSUPPORTED');
    expect((err as Error).message).toMatch(cuda ? /no usable CUDA device/ : /no CUDA backend/);
  });

  it('leaves the CPU path untouched', async () => {
    const before = await (await SpladeModel.load(BERT)).encode(['the cat sat on the mat']);
    await expect(SpladeModel.load(BERT, { device: 'cuda' })).rejects.toThrow(SpladeError);
    const model = await SpladeModel.load(BERT, { device: 'cpu' });
    const after = await model.encode(['the cat sat on the mat']);
    expect(after[0].indices.length).toBeGreaterThan(0);
    expect(Array.from(after[0].indices)).toEqual(Array.from(before[0].indices));
    expect(Array.from(after[0].values)).toEqual(Array.from(before[0].values));
  });
});

// max |a - b| / max(1, max |b|) over the whole tensor
function relErr(a: Float32Array, b: Float32Array): number {
  let diff = 0, mag = 1;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / mag;
}

describe.runIf(gpu)("device 'cuda' on a GPU", () => {
  const texts = ['the cat sat on the mat', 'a', 'splade sparse retrieval with learned term weights and expansion', 'dogs'];

  for (const dir of [BERT, DISTILBERT, ROBERTA]) {
    it(`${dir.split('/').pop()}: GPU forward (fp32 reference and bf16 fast paths) against the CPU`, async () => {
      const cpu = await SpladeModel.load(dir);
      const V = cpu.vocabSize;
      const ids = texts.map((t) => cpu.tokenize(t));
      const cu = new Int32Array(ids.length + 1);
      ids.forEach((s, i) => (cu[i + 1] = cu[i] + s.length));
      const packed = new Int32Array(cu[ids.length]);
      ids.forEach((s, i) => packed.set(s, cu[i]));
      const params = cpu.parameters();
      const enc = (cpu as unknown as { document: { config: EncoderConfig; arena: Float32Array; native: EncoderHandle } }).document;
      expect(params.size).toBeGreaterThan(0);
      const gpuEnc = new (loadAddon<CudaAddon>().Encoder)(enc.config, enc.arena, 0);
      for (const pooling of ['max', 'sum'] as const) {
        const ref = new Float32Array(ids.length * V), refArg = new Int32Array(ids.length * V);
        await enc.native.forward(packed, null, cu, pooling, true, ref, pooling === 'max' ? refArg : null);
        const exact = new Float32Array(ids.length * V), fast = new Float32Array(ids.length * V);
        const arg = new Int32Array(ids.length * V);
        await gpuEnc.forward(packed, null, cu, pooling, true, exact, pooling === 'max' ? arg : null, false);
        expect(relErr(exact, ref)).toBeLessThan(1e-4);
        if (pooling === 'max') for (let i = 0; i < arg.length; i++) if (ref[i] > 1e-3) expect(arg[i]).toBeGreaterThanOrEqual(0);
        await gpuEnc.prepare('bf16');
        await gpuEnc.forward(packed, null, cu, pooling, false, fast, null, true);
        expect(relErr(fast, ref)).toBeLessThan(2e-2);
      }
      // the public path, in both precisions (fp32: the fp32 kernels; bf16: tensor cores)
      const b = await cpu.encode(texts);
      for (const [precision, tol] of [['fp32', 1e-4], ['bf16', 2e-2]] as const) {
        const onGpu = await SpladeModel.load(dir, { device: 'cuda', precision });
        const a = await onGpu.encode(texts);
        for (let i = 0; i < texts.length; i++) {
          const da = new Float32Array(V), db = new Float32Array(V);
          a[i].indices.forEach((j, k) => (da[j] = a[i].values[k]));
          b[i].indices.forEach((j, k) => (db[j] = b[i].values[k]));
          expect(relErr(da, db), precision).toBeLessThan(tol);
        }
        await expect(onGpu.encodeIds([[2, V + 5, 3]])).rejects.toThrow(/ids\[0\]\[1\]|outside the vocabulary/);
      }
    });
  }

  it('encodeIdsBackward on a cuda model matches the CPU (fp32 training forward + backward on the GPU)', async () => {
    const cpu = await SpladeModel.load(BERT), onGpu = await SpladeModel.load(BERT, { device: 'cuda' });
    const ids = [cpu.tokenize('learned sparse retrieval with splade'), cpu.tokenize('the cat sat on the mat')];
    const V = cpu.vocabSize;
    const dw = new Float32Array(ids.length * V).map((_, i) => Math.sin(i) * 1e-2);
    const b = await cpu.encodeIdsBackward(ids, dw);
    const a = await onGpu.encodeIdsBackward(ids, dw);
    expect(relErr(a.vectors, b.vectors)).toBeLessThan(1e-4);
    for (const [name, g] of b.gradients) {
      const { diff, mag } = tensorDiff(a.gradients.get(name)!, g);
      expect(diff, name).toBeLessThanOrEqual(1e-3 * mag);
    }
  });
});
