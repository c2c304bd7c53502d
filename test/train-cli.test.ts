// `splade train --config`: a tiny job on the fixture BERT, its log and plot, checkpoints, and a resume
// that continues the data position bit-exactly. Runs the CLI's main() in-process.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BatchSource } from '../lib/train/batches.js';
import { info, setThreads } from '../lib/info.js';
import { SpladeModel } from '../lib/model/splade-model.js';
import { trainJob } from '../lib/train/job.js';
import { trainPlotSvg } from '../lib/train/plot.js';
import { runCli } from './helpers/cli.js';

const MODEL = join(import.meta.dirname, 'fixtures', 'models', 'bert');
const dir = mkdtempSync(join(tmpdir(), 'splade-train-cli-'));
// Bit-exact comparisons need one thread count throughout (the Trainer's contract); one thread also
// makes the kernels' reductions independent of scheduling.
const startThreads = info().threads;
beforeAll(() => void setThreads(1));
afterAll(() => {
  setThreads(startThreads);
  rmSync(dir, { recursive: true, force: true });
});

const words = ['heart', 'lung', 'cell', 'blood', 'brain', 'liver', 'kidney', 'bone', 'skin', 'nerve'];
const corpus = Array.from({ length: 12 }, (_, i) => ({ _id: `d${i}`, title: words[i % 10], text: `${words[i % 10]} ${words[(i * 3) % 10]} tissue study` }));
const queries = words.slice(0, 5).map((w, i) => ({ _id: `q${i}`, text: `${w} tissue` }));
const negatives = queries.map((q, i) => ({ qid: q._id, pos: [`d${i}`, `d${i + 5}`], neg: { bm25: [`d${(i + 1) % 12}`, `d${(i + 7) % 12}`], splade: [`d11`] } }));
writeFileSync(join(dir, 'corpus.jsonl'), corpus.map((d) => JSON.stringify(d)).join('\n'));
writeFileSync(join(dir, 'queries.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n'));
writeFileSync(join(dir, 'negatives.jsonl'), negatives.map((r) => JSON.stringify(r)).join('\n') + '\n');

function config(name: string, extra: object): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({
    model: MODEL, corpus: 'corpus.jsonl', queries: 'queries.jsonl', negatives: 'negatives.jsonl', negativeSource: 'bm25',
    negativesPerQuery: 1, batchSize: 2, queryMaxLength: 8, docMaxLength: 16, checkpointEvery: 2, seed: 3,
    trainer: { loss: 'contrastive', inBatchNegatives: true, dropout: 0, lr: 1e-3, totalSteps: 6, lambdaQ: 0.01, lambdaD: 0.01 },
    ...extra,
  }));
  return path;
}

const cli = runCli;

const logOf = (out: string) => readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('splade train', () => {
  it('trains, logs, plots, checkpoints and resumes bit-exactly', async () => {
    const outA = join(dir, 'a'), outB = join(dir, 'b');
    const cfgA = config('a', { output: 'a', steps: 4 });
    const r1 = await cli('train', '--config', cfgA);
    expect(r1.err).not.toMatch(/splade train:/);
    expect(r1.code).toBe(0);
    const log = logOf(outA);
    expect(log.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    for (const s of log) for (const k of ['loss', 'rankingLoss', 'regQ', 'regD', 'lr', 'nnzQ', 'nnzD']) expect(Number.isFinite(s[k])).toBe(true);
    const svg = readFileSync(join(outA, 'train_plot.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const k of ['loss', 'rankingLoss', 'regQ', 'regD', 'lambdaQ', 'lambdaD', 'lr', 'nnzQ', 'nnzD', 'mlmLoss', 'peakMemoryBytes']) {
      expect(svg).toContain(`<polyline data-series="${k}"`);
    }
    expect(svg.match(/<polyline /g)).toHaveLength(11);
    for (const s of log) expect(s.peakMemoryBytes).toBeGreaterThan(10 * 2 ** 20);

    const initial = await SpladeModel.load(MODEL);
    const trained4 = await SpladeModel.load(join(outA, 'model'));
    const p0 = initial.parameters(), p4 = trained4.parameters();
    expect([...p4.keys()]).toEqual([...p0.keys()]);
    expect([...p0].some(([k, a]) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(p4.get(k)!.buffer, p4.get(k)!.byteOffset, p4.get(k)!.byteLength)) !== 0)).toBe(true);

    // same config, 6 steps: resumes at step 5
    const r2 = await cli('train', '--config', config('a', { output: 'a', steps: 6 }));
    expect(r2.code).toBe(0);
    expect(r2.err).toMatch(/resuming .* at step 5/);
    expect(logOf(outA).map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const noMem = (l: Record<string, number>[]) => l.map(({ peakMemoryBytes: _, ...rest }) => rest);  // a measurement, not a result
    expect(noMem(logOf(outA).slice(0, 4))).toEqual(noMem(log));

    // a straight 6-step run gives the same bits
    expect((await cli('train', '--config', config('b', { output: 'b', steps: 6 }))).code).toBe(0);
    expect(noMem(logOf(outB))).toEqual(noMem(logOf(outA)));
    const pa = (await SpladeModel.load(join(outA, 'model'))).parameters();
    const pb = (await SpladeModel.load(join(outB, 'model'))).parameters();
    expect([...pa.keys()]).toEqual([...pb.keys()]);
    for (const [k, a] of pa) {
      const b = pb.get(k)!;
      expect(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)), k).toBe(0);
    }
  }, 120_000);

  it('trainJob, the library call under the CLI, gives the same bits from a config object; notes and progress go to its hooks', async () => {
    const base = {
      model: MODEL, corpus: 'corpus.jsonl', queries: 'queries.jsonl', negatives: 'negatives.jsonl', negativeSource: 'bm25',
      negativesPerQuery: 1, batchSize: 2, queryMaxLength: 8, docMaxLength: 16, checkpointEvery: 2, seed: 3, steps: 3,
      trainer: { loss: 'contrastive' as const, inBatchNegatives: true, dropout: 0, lr: 1e-3, totalSteps: 6, lambdaQ: 0.01, lambdaD: 0.01 },
    };
    expect((await cli('train', '--config', config('c', { output: 'c', steps: 3 }))).code).toBe(0);
    const notes: string[] = [];
    let ticks = 0, finished = 0;
    const progress = () => ({ detail: '', tick: () => void ticks++, finish: () => void finished++ });
    const model = await trainJob({ ...base, output: 'lib' }, { baseDir: dir, log: (l) => notes.push(l), progress });
    expect(model).toBe(join(dir, 'lib', 'model'));
    const noMem = (l: Record<string, number>[]) => l.map(({ peakMemoryBytes: _, ...rest }) => rest);
    expect(noMem(logOf(join(dir, 'lib')))).toEqual(noMem(logOf(join(dir, 'c'))));
    expect([ticks, finished]).toEqual([3, 1]);
    expect(notes.at(-1)).toMatch(/^wrote .*lib.model \(step 3\)/);
    await expect(trainJob({ ...base, output: 'lib-bad', shuffle: true } as never, { baseDir: dir, log: () => undefined }))
      .rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT', message: expect.stringMatching(/unknown key\(s\) "shuffle"/) });
  }, 60_000);

  it('marginmse without teacher scores: exit code 2 naming the record', async () => {
    const r = await cli('train', '--config', config('mm', { output: 'mm', steps: 2, trainer: { loss: 'marginmse', dropout: 0 } }));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/negatives\.jsonl:1: record "q0" has no "scores"/);
  });

  it('"queryWeights": "idf" trains for inference-free queries: idf weights over the corpus, only documents learn', async () => {
    const r = await cli('train', '--config', config('idf', { output: 'idf', steps: 2, queryWeights: 'idf' }));
    expect(r.code).toBe(0);
    for (const s of logOf(join(dir, 'idf'))) expect(s.regQ).toBe(0);
    const state = JSON.parse(readFileSync(join(dir, 'idf', 'checkpoint', 'trainer.json'), 'utf8'));
    const model = await SpladeModel.load(MODEL);
    const w: number[] = state.options.queryTermWeights;
    expect(w).toHaveLength(model.vocabSize);
    // 'tissue' is in all 12 documents, each other word in a few: the rarer piece weighs more
    const [tissue] = model.tokenize('tissue', { kind: 'document' }).subarray(1, 2);
    const [heart] = model.tokenize('heart', { kind: 'document' }).subarray(1, 2);
    // BM25's idf, scaled so the largest weight is 1
    const idf = (df: number) => Math.log(1 + (12 - df + 0.5) / (df + 0.5));
    const dfHeart = corpus.filter((d) => `${d.title} ${d.text}`.split(' ').includes('heart')).length;
    expect(Math.max(...w)).toBeCloseTo(1, 6);
    expect(w[tissue] / w[heart]).toBeCloseTo(idf(12) / idf(dfHeart), 5);
    expect(w[heart]).toBeGreaterThan(w[tissue]);
    const bad = await cli('train', '--config', config('idf-bad', { output: 'idf-bad', steps: 2, queryWeights: 'tfidf' }));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/"queryWeights" must be "idf"/);
  });

  it('--device: a bad name is refused; cuda without a usable GPU says why; on a GPU the log follows the CPU run', async () => {
    const bad = await cli('train', '--config', config('dev-bad', { output: 'dev-bad', steps: 2 }), '--device', 'tpu');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--device must be cpu or cuda, got tpu/);
    const { cuda, cudaDevices } = info();
    const onGpu = await cli('train', '--config', config('dev-cuda', { output: 'dev-cuda', steps: 2 }), '--device', 'cuda');
    if (!cuda || cudaDevices === 0) {
      expect(onGpu.code).not.toBe(0);
      expect(onGpu.err).toMatch(/device 'cuda': .*use device 'cpu'/);
      return;
    }
    expect(onGpu.code).toBe(0);
    expect((await cli('train', '--config', config('dev-cpu', { output: 'dev-cpu', steps: 2 }))).code).toBe(0);
    const a = logOf(join(dir, 'dev-cuda')), b = logOf(join(dir, 'dev-cpu'));
    for (let k = 0; k < 2; k++) expect(Math.abs(a[k].loss - b[k].loss)).toBeLessThanOrEqual(1e-4 * Math.abs(b[k].loss));
  });

  it('rejects a config with an unknown key or a missing steps', async () => {
    expect((await cli('train', '--config', config('bad', { output: 'bad', steps: 2, batchsize: 4 }))).err).toMatch(/unknown key\(s\) "batchsize"/);
    const r = await cli('train', '--config', config('nosteps', { output: 'ns' }));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"steps" must be an integer/);
  });

  it('objective "mlm": masked-LM steps on the corpus alone (dropout on), resumable bit-exactly', async () => {
    const mlm = (name: string, steps: number) => {
      const path = join(dir, `${name}.json`);
      writeFileSync(path, JSON.stringify({
        objective: 'mlm', model: MODEL, output: name, corpus: 'corpus.jsonl', batchSize: 3, docMaxLength: 16, steps,
        checkpointEvery: 2, seed: 4, trainer: { lr: 1e-3, dropout: 0.1, seed: 5, totalSteps: 4 },
      }));
      return path;
    };
    expect((await cli('train', '--config', mlm('mlm-a', 2))).code).toBe(0);
    const r = await cli('train', '--config', mlm('mlm-a', 4));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/resuming .* at step 3/);
    expect((await cli('train', '--config', mlm('mlm-b', 4))).code).toBe(0);
    const la = logOf(join(dir, 'mlm-a')), lb = logOf(join(dir, 'mlm-b'));
    expect(la.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    for (const s of la) {
      expect(s.mlmLoss).toBeGreaterThan(0);
      expect(s.loss).toBe(s.mlmLoss);
      expect(s.maskedTokens).toBeGreaterThan(0);
    }
    expect(la.map((s) => s.loss)).toEqual(lb.map((s) => s.loss));
    const bad = join(dir, 'mlm-bad.json');
    writeFileSync(bad, JSON.stringify({ objective: 'mlx', model: MODEL, output: 'x', corpus: 'corpus.jsonl', steps: 1 }));
    expect((await cli('train', '--config', bad)).err).toMatch(/"objective" must be "ranking" or "mlm"/);
  });

  it('plots constant and empty series without NaN coordinates', () => {
    const s = { step: 1, loss: 1, rankingLoss: 1, regQ: 0, regD: 0, lambdaQ: 0, lambdaD: 0, lr: 0, gradNorm: 0, nnzQ: 3, nnzD: 3 };
    for (const svg of [trainPlotSvg([]), trainPlotSvg([s]), trainPlotSvg([s, { ...s, step: 2, loss: NaN }])]) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
  });
});

describe('splade train: negative sampling', () => {
  const cfg = (negativeSampling: 'random' | 'first', negativesPerQuery: number) => ({
    objective: 'ranking' as const, model: MODEL, output: '', corpus: '', queries: '', negatives: '', negativesPerQuery, negativeSampling,
    batchSize: 2, steps: 1, queryMaxLength: 8, docMaxLength: 16, checkpointEvery: 0, seed: 5, trainer: {},
  });
  const records = [
    { qid: 'q0', pos: ['d0'], neg: ['d1', 'd2', 'd3', 'd4'] },
    { qid: 'q1', pos: ['d5'], neg: ['d6', 'd7', 'd8', 'd9'] },
  ];
  const qs = new Map(queries.map((q) => [q._id, q.text]));
  const ds = new Map(corpus.map((d) => [d._id, d.text]));

  it('draws each query\'s negatives afresh from its whole list, reproducibly; "first" keeps the top ones', async () => {
    const model = await SpladeModel.load(MODEL);
    const tok = (id: string) => Array.from(model.tokenize(ds.get(id)!, { kind: 'document', maxLength: 16 })).join(',');
    const byTokens = new Map(corpus.slice(0, 10).map((d) => [tok(d._id), d._id])); // d10, d11 repeat d0, d1's text
    // the negatives of each query in each of 40 epochs (one batch = both records = one epoch)
    const negsOf = (source: BatchSource, t: number) => source.batch(t).documents.map((docs) => docs.slice(1).map((d) => byTokens.get(Array.from(d).join(','))));
    const random = new BatchSource(model, cfg('random', 2) as never, records, qs, ds, false);
    const seen = new Set<string>();
    for (let t = 0; t < 40; t++) {
      for (const negs of negsOf(random, t)) {
        expect(new Set(negs).size).toBe(2); // distinct
        negs.forEach((n) => seen.add(n!));
      }
    }
    expect([...seen].sort()).toEqual(['d1', 'd2', 'd3', 'd4', 'd6', 'd7', 'd8', 'd9']);
    // a pure function of (seed, step): a fresh source (a resumed run) gives the same batches
    const again = new BatchSource(model, cfg('random', 2) as never, records, qs, ds, false);
    for (const t of [0, 7, 39]) expect(negsOf(again, t)).toEqual(negsOf(random, t));
    const first = new BatchSource(model, cfg('first', 2) as never, records.map((r) => ({ ...r, neg: r.neg.slice(0, 2) })), qs, ds, false);
    for (let t = 0; t < 5; t++) for (const negs of negsOf(first, t)) expect([['d1', 'd2'], ['d6', 'd7']]).toContainEqual(negs);
  });

  it('refuses an unknown negativeSampling', async () => {
    const r = await cli('train', '--config', config('bad-sampling', { output: 'bad', steps: 1, negativeSampling: 'top' }));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/"negativeSampling" must be "random" or "first"/);
  });
});
