// ModernBERT (ModernBertForMaskedLM) against PyTorch: the tiny random checkpoint and the float64
// reference of test/fixtures/make_modernbert_fixtures.py (rotary embeddings with two thetas, global and
// sliding-window layers, GeGLU, pre-norm without biases). SPLADE vectors (max and sum pooling) of the
// inference forward and of both training forwards; every parameter's gradient of sum_bj w[b,j] R[b,j]
// from the reference kernels (encodeIdsBackward) and from the fast ones (trainForward / trainBackward
// on the handle the trainer drives); then the config parser, a short training run through the Trainer
// (contrastive and masked-LM) and save / load.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel, Trainer, type TrainBatch } from '../lib/index.js';
import { Checkpoint, packSequences } from '../lib/model/checkpoint.js';
import { parseConfig } from '../lib/model/config.js';
import { encoderAddon } from '../lib/model/native-encoder.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, 'fixtures', 'models', 'modernbert');
type Summary = { norm: number; samples: number[] };
const exp = JSON.parse(readFileSync(join(here, 'fixtures', 'modernbert_expected.json'), 'utf8')) as {
  seqs: number[][];
  vectors: Record<'max' | 'sum', [number, number][][]>;
  grads: Record<'max' | 'sum', Record<string, Summary>>;
};
const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const V = 256, B = exp.seqs.length;
const tmp = mkdtempSync(join(tmpdir(), 'splade-modernbert-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// float32 against float64: |ours - ref| / max(|ref|, 0.1) per vector entry, and the entries PyTorch has
// at 0 must be 0 here too (up to that tolerance). The issue asks for 1e-4.
const TOL = 1e-4;

function vectorError(got: Float32Array, ref: [number, number][][]): number {
  let worst = 0;
  for (let b = 0; b < B; b++) {
    const want = new Map(ref[b]);
    for (let j = 0; j < V; j++) worst = Math.max(worst, Math.abs(got[b * V + j] - (want.get(j) ?? 0)) / Math.max(Math.abs(want.get(j) ?? 0), 0.1));
  }
  return worst;
}

// Each parameter's gradient by its L2 norm (relative) and 8 sampled entries (relative to the entry plus
// the tensor's rms); the worst error over all of them.
function gradientError(got: Map<string, Float32Array>, want: Record<string, Summary>): number {
  expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
  let worst = 0;
  for (const [name, g] of got) {
    const { norm, samples } = want[name];
    const ss = g.reduce((s, x) => s + x * x, 0);
    worst = Math.max(worst, Math.abs(Math.sqrt(ss) - norm) / norm);
    const rms = norm / Math.sqrt(g.length);
    samples.forEach((s, k) => (worst = Math.max(worst, Math.abs(g[(k * 7919) % g.length] - s) / (Math.abs(s) + rms))));
  }
  return worst;
}

function dwFor(): Float32Array {
  const dw = new Float32Array(B * V);
  for (let b = 0; b < B; b++) for (let j = 0; j < V; j++) dw[b * V + j] = Math.sin(0.7 * j + 1.3 * b + 0.1);
  return dw;
}

describe('ModernBERT matches PyTorch', () => {
  for (const pooling of ['max', 'sum'] as const) {
    it(`encodes, ${pooling} pooling`, async () => {
      const model = await SpladeModel.load(dir);
      const vecs = await model.encodeIds(exp.seqs, { pooling });
      const dense = new Float32Array(B * V);
      vecs.forEach((v, b) => v.indices.forEach((j, k) => (dense[b * V + j] = v.values[k])));
      const err = vectorError(dense, exp.vectors[pooling]);
      if (process.env.SPLADE_PRINT_ERRORS) console.log(`modernbert ${pooling}: vector error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL);
    });

    it(`gradients on the reference kernels, ${pooling} pooling`, async () => {
      const model = await SpladeModel.load(dir);
      const { vectors, gradients } = await model.encodeIdsBackward(exp.seqs, dwFor(), { pooling });
      expect(vectorError(vectors, exp.vectors[pooling])).toBeLessThanOrEqual(TOL);
      const err = gradientError(gradients, exp.grads[pooling]);
      if (process.env.SPLADE_PRINT_ERRORS) console.log(`modernbert ${pooling}: reference gradient error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL);
    });

    it(`gradients on the fast kernels (trainForward / trainBackward), ${pooling} pooling`, async () => {
      const addon = encoderAddon();
      const ckpt = await Checkpoint.load(dir, parseConfig, (c) => addon.encoderLayout(c));
      const handle = new addon.Encoder(ckpt.config, ckpt.arena);
      const { ids, cu } = packSequences(exp.seqs);
      const out = new Float32Array(B * V);
      await handle.zeroGrads();
      const acts = await handle.trainForward(ids, null, cu, pooling, out, false, 0, 0);
      expect(vectorError(out, exp.vectors[pooling])).toBeLessThanOrEqual(TOL);
      await handle.trainBackward(acts, dwFor());
      const grads = new Float32Array(ckpt.layout.total);
      await handle.readGrads(grads);
      const err = gradientError(ckpt.views(grads), exp.grads[pooling]);
      if (process.env.SPLADE_PRINT_ERRORS) console.log(`modernbert ${pooling}: fast gradient error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL);
      // no dropout in this implementation: refused, not ignored
      await expect(handle.trainForward(ids, null, cu, pooling, out, false, 0.1, 0)).rejects.toMatchObject({
        code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/dropout/) });
      handle.dispose();
    });
  }
});

describe('ModernBERT config', () => {
  const file = 'config.json';
  it('reads the flat keys and the layer_types + rope_parameters spelling alike', () => {
    const flat = parseConfig(raw, file);
    expect(flat).toMatchObject({ arch: 'modernbert', vocabSize: 256, hidden: 32, layers: 4, heads: 4, intermediate: 48, eps: 1e-5,
                                 modernbert: { halfWindow: 4, globalEvery: 3, globalRopeTheta: 160000, localRopeTheta: 10000 } });
    const { global_rope_theta: _g, local_rope_theta: _l, ...rest } = raw;
    const modern = parseConfig({ ...rest, layer_types: ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
                                 rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 160000 },
                                                    sliding_attention: { rope_type: 'default', rope_theta: 10000 } } }, file);
    expect(modern).toEqual(flat);
  });

  it('refuses what is not implemented, naming the key', () => {
    for (const [key, value] of [['attention_bias', true], ['mlp_bias', true], ['norm_bias', true], ['decoder_bias', false],
                                ['hidden_activation', 'gelu_new'], ['tie_word_embeddings', false]] as const) {
      expect(() => parseConfig({ ...raw, [key]: value }, file), key).toThrow(new RegExp(key));
    }
    expect(() => parseConfig({ ...raw, layer_types: ['full_attention', 'full_attention', 'sliding_attention', 'full_attention'] }, file))
      .toThrow(/layer_types/);
    expect(() => parseConfig({ ...raw, rope_parameters: { full_attention: { rope_type: 'yarn', factor: 2 } } }, file)).toThrow(/rope_type/);
    expect(() => parseConfig({ ...raw, num_attention_heads: 32 }, file)).toThrow(/even/);
  });

  it('loads on the CPU in fp32 only', async () => {
    for (const precision of ['bf16', 'int8'] as const)
      await expect(SpladeModel.load(dir, { precision })).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED', message: expect.stringMatching(/fp32 only/) });
    // the handle itself refuses the other precisions and a device, whatever the caller
    const addon = encoderAddon();
    const ckpt = await Checkpoint.load(dir, parseConfig, (c) => addon.encoderLayout(c));
    const handle = new addon.Encoder(ckpt.config, ckpt.arena);
    expect(await handle.prepare('fp32')).toBeGreaterThan(0);
    await expect(handle.prepare('int8')).rejects.toMatchObject({ code: 'ERR_SPLADE_UNSUPPORTED' });
    expect(() => new addon.Encoder(ckpt.config, ckpt.arena, 0)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_UNSUPPORTED' }));
    // and a config without its ModernBERT options
    expect(() => new addon.Encoder({ ...ckpt.config, modernbert: undefined }, ckpt.arena)).toThrow(/config\.modernbert/);
    handle.dispose();
  });
});

describe('ModernBERT trains through the Trainer', () => {
  const ids = (n: number, s: number) => Int32Array.from({ length: n }, (_, i) => (i === 0 ? 2 : i === n - 1 ? 3 : 5 + ((s * 31 + i * 17) % 200)));
  const batch: TrainBatch = { queries: [ids(6, 1), ids(5, 2)], documents: [[ids(14, 3), ids(12, 4)], [ids(13, 5), ids(11, 6)]] };

  it('contrastive steps lower the loss, and the trained model saves and loads back', async () => {
    const model = await SpladeModel.load(dir);
    const trainer = new Trainer(model, { lr: 2e-2, warmupSteps: 0, totalSteps: 20, weightDecay: 0, seed: 1 });
    const losses: number[] = [];
    for (let k = 0; k < 6; k++) losses.push((await trainer.step(batch)).loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[5]).toBeLessThan(losses[0]);
    const seqs = [ids(9, 7), ids(20, 8)];
    const now = await model.encodeIds(seqs);
    await model.save(join(tmp, 'trained'));
    const back = await (await SpladeModel.load(join(tmp, 'trained'))).encodeIds(seqs);
    back.forEach((v, i) => {
      expect([...v.indices]).toEqual([...now[i].indices]);
      v.values.forEach((x, k) => expect(Math.abs(x - now[i].values[k])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x))));
    });
  });

  it('masked-LM steps lower the loss', async () => {
    const model = await SpladeModel.load(dir);
    const sequences = [ids(12, 9), ids(16, 10), ids(10, 11)];
    const labels = sequences.map((s) => Int32Array.from(s, (id, k) => (k > 0 && k < s.length - 1 && k % 2 === 1 ? id : -1)));
    const inputs = sequences.map((s, i) => Int32Array.from(s, (id, k) => (labels[i][k] >= 0 ? 4 : id)));
    const trainer = new Trainer(model, { lr: 1e-2, weightDecay: 0 });
    const losses: number[] = [];
    for (let k = 0; k < 6; k++) losses.push((await trainer.step({ objective: 'mlm', sequences: inputs, labels })).mlmLoss!);
    expect(losses[5]).toBeLessThan(losses[0] * 0.9);
  });
});
