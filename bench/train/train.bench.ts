// Training step throughput: a 4-layer, 256-wide BERT (4 heads, random weights, std 0.02) with the
// 30522-term bert-base vocabulary; a batch of 16 queries of 16 tokens and 32 documents of 128 tokens
// (a positive and a hard negative per query); contrastive loss with in-batch negatives, L1 on the
// queries and FLOPS on the documents, AdamW with clipping; 2 threads. Prints seconds per step,
// tokens/s, the step's own peak memory (StepStats.peakMemoryBytes) and the process's peak RSS, then
// (when /usr/bin/python3 has torch) the same step in PyTorch eager mode (bench/train/torch_step.py,
// float32, same threads, its process's peak RSS) for comparison.
//   npx tsx bench/train/train.bench.ts
// Knobs: SPLADE_BENCH_LAYERS, SPLADE_BENCH_HIDDEN, SPLADE_BENCH_THREADS, SPLADE_BENCH_ITERS, SPLADE_BENCH_WARMUP,
// SPLADE_BENCH_TORCH=0 (skip PyTorch). The checkpoint is written once to bench/.cache.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeModel, Trainer, info, setThreads, type TrainBatch } from '../../lib/index.js';
import { BENCH_VOCAB, lcg, makeBenchCheckpoint } from '../checkpoint.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const L = env('SPLADE_BENCH_LAYERS', 4), C = env('SPLADE_BENCH_HIDDEN', 256);
const THREADS = env('SPLADE_BENCH_THREADS', 2), ITERS = env('SPLADE_BENCH_ITERS', 3), WARMUP = env('SPLADE_BENCH_WARMUP', 1);
const V = BENCH_VOCAB;
const NQ = 16, QLEN = 16, ND = 32, DLEN = 128;
const here = dirname(fileURLToPath(import.meta.url));

function makeBatch(seed: number): TrainBatch {
  const r = lcg(seed);
  const seq = (len: number) => Int32Array.from([101, ...Array.from({ length: len - 2 }, () => 1000 + Math.floor(r() * 29000)), 102]);
  const per = ND / NQ;
  return {
    queries: Array.from({ length: NQ }, () => seq(QLEN)),
    documents: Array.from({ length: NQ }, () => Array.from({ length: per }, () => seq(DLEN))),
  };
}

const root = join(here, '..', '.cache', `train-bert-L${L}-C${C}`);
makeBenchCheckpoint(root, { layers: L, hidden: C, config: { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 } });
setThreads(THREADS);
const model = await SpladeModel.load(root);
const trainer = new Trainer(model, {
  loss: 'contrastive', inBatchNegatives: true, queryReg: 'l1', docReg: 'flops', lambdaQ: 5e-4, lambdaD: 3e-4,
  lr: 2e-5, warmupSteps: 0, maxGradNorm: 1, dropout: 0, seed: 1,
});
const tokens = NQ * QLEN + ND * DLEN;
const label = `Trainer.step: ${NQ} queries x ${QLEN} + ${ND} docs x ${DLEN} tokens, L=${L} C=${C} V=${V}, ${THREADS} threads, ${info().cpu}`;
for (let k = 0; k < WARMUP; k++) await trainer.step(makeBatch(1 + k));
const times: number[] = [];
let stepPeak = 0;
for (let k = 0; k < ITERS; k++) {
  const batch = makeBatch(100 + k);
  const t0 = performance.now();
  const s = await trainer.step(batch);
  times.push((performance.now() - t0) / 1000);
  stepPeak = Math.max(stepPeak, s.peakMemoryBytes);
  if (k === 0) console.log(`  step ${s.step}: loss ${s.loss.toFixed(4)}, nnzQ ${s.nnzQ.toFixed(0)}, nnzD ${s.nnzD.toFixed(0)}, gradNorm ${s.gradNorm.toExponential(3)}`);
}
const mean = times.reduce((a, b) => a + b, 0) / times.length;
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
console.log(`${label}\n  ${mean.toFixed(3)} s per step (min ${Math.min(...times).toFixed(3)}), ${(tokens / mean).toFixed(0)} tokens/s, ` +
  `peak memory ${mib(stepPeak)} MiB in a step, process peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);

if (process.env.SPLADE_BENCH_TORCH !== '0') {
  const py = spawnSync('/usr/bin/python3', [join(here, 'torch_step.py'), root, String(THREADS), String(ITERS)], { encoding: 'utf8' });
  if (py.status === 0) process.stdout.write(py.stdout);
  else console.log(`PyTorch reference skipped (${(py.stderr || py.error?.message || '').trim().split('\n').pop()})`);
}
