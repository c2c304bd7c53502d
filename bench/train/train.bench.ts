// Training step throughput: a 4-layer, 256-wide BERT (4 heads, random weights, std 0.02) with the
// 30522-term bert-base vocabulary; a batch of 16 queries of 16 tokens and 32 documents of 128 tokens
// (a positive and a hard negative per query); contrastive loss with in-batch negatives, L1 on the
// queries and FLOPS on the documents, AdamW with clipping; 2 threads. Prints seconds per step,
// tokens/s, the step's own peak memory (StepStats.peakMemoryBytes) and the process's peak RSS, then
// (when /usr/bin/python3 has torch) the same step in PyTorch eager mode (bench/train/torch_step.py,
// float32, same threads, its process's peak RSS) for comparison.
//   npx tsx bench/train/train.bench.ts
// `--device cuda` runs the Trainer on the GPU (SpladeModel.load's device option; without a usable GPU it
// stops with the Error that says why, exit code 1) on BERT-base (12 layers, 768 wide) at max length 256:
// 16 queries of 32 tokens and 32 documents of 256, and adds the model FLOPs utilisation against the GPU's
// dense bf16 peak (`--peak-tflops`, default 989: H100/H200 SXM; FLOPs counted as 3x the forward's matrix
// products, attention included). No PyTorch comparison there (torch_step.py is the CPU's).
//   npx tsx bench/train/train.bench.ts --device cuda [--peak-tflops 989]
// Knobs: SPLADE_BENCH_LAYERS, SPLADE_BENCH_HIDDEN, SPLADE_BENCH_THREADS, SPLADE_BENCH_ITERS, SPLADE_BENCH_WARMUP,
// SPLADE_BENCH_TORCH=0 (skip PyTorch). The checkpoint is written once to bench/.cache.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeError, SpladeModel, Trainer, info, setThreads, type TrainBatch } from '../../lib/index.js';
import { assertCudaUsable } from '../../lib/model/cuda-encoder.js';
import { BENCH_VOCAB, lcg, makeBenchCheckpoint } from '../checkpoint.js';

const arg = (name: string): string | undefined => {
  const k = process.argv.indexOf(name);
  return k > 0 ? process.argv[k + 1] : undefined;
};
const DEVICE = arg('--device') ?? 'cpu';
if (DEVICE !== 'cpu' && DEVICE !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${DEVICE}`);
const PEAK_TFLOPS = Number(arg('--peak-tflops') ?? 989);
if (!(PEAK_TFLOPS > 0)) throw new Error(`--peak-tflops must be a positive number, got ${arg('--peak-tflops')}`);
const gpu = DEVICE === 'cuda';
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const L = env('SPLADE_BENCH_LAYERS', gpu ? 12 : 4), C = env('SPLADE_BENCH_HIDDEN', gpu ? 768 : 256);
const THREADS = env('SPLADE_BENCH_THREADS', 2), ITERS = env('SPLADE_BENCH_ITERS', 3), WARMUP = env('SPLADE_BENCH_WARMUP', 1);
const V = BENCH_VOCAB;
const NQ = 16, QLEN = gpu ? 32 : 16, ND = 32, DLEN = gpu ? 256 : 128;
const here = dirname(fileURLToPath(import.meta.url));

/**
 * FLOPs of one training step by the usual count: 3x the forward's (the backward's two products per
 * forward product), the forward being per sequence of n tokens L x (2n(4C^2 + 2CI) + 4n^2 C) for the
 * layers (projections, FFN, QK^T and PV) plus 2nC^2 + 2nVC for the MLM transform and the tied decoder.
 */
function stepFlops(lengths: number[]): number {
  const I = 4 * C;
  let fwd = 0;
  for (const n of lengths) fwd += L * (2 * n * (4 * C * C + 2 * C * I) + 4 * n * n * C) + 2 * n * C * C + 2 * n * V * C;
  return 3 * fwd;
}

function makeBatch(seed: number): TrainBatch {
  const r = lcg(seed);
  const seq = (len: number) => Int32Array.from([101, ...Array.from({ length: len - 2 }, () => 1000 + Math.floor(r() * 29000)), 102]);
  const per = ND / NQ;
  return {
    queries: Array.from({ length: NQ }, () => seq(QLEN)),
    documents: Array.from({ length: NQ }, () => Array.from({ length: per }, () => seq(DLEN))),
  };
}

/** Runs fn; a SpladeError (no usable GPU, out of device memory) ends the bench with its message, exit code 1. */
async function orExit<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof SpladeError)) throw err;
    console.error(`train.bench: ${err.message} (${err.code})`);
    process.exit(1);
  }
}
const root = join(here, '..', '.cache', `train-bert-L${L}-C${C}`);
if (gpu) await orExit(assertCudaUsable);  // before writing a BERT-base checkpoint for nothing
makeBenchCheckpoint(root, { layers: L, hidden: C, config: { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 } });
setThreads(THREADS);
const model = await orExit(() => SpladeModel.load(root, { device: DEVICE }));
const trainer = new Trainer(model, {
  loss: 'contrastive', inBatchNegatives: true, queryReg: 'l1', docReg: 'flops', lambdaQ: 5e-4, lambdaD: 3e-4,
  lr: 2e-5, warmupSteps: 0, maxGradNorm: 1, dropout: 0, seed: 1,
});
const tokens = NQ * QLEN + ND * DLEN;
const where = gpu ? 'cuda (fp32 kernels)' : `${THREADS} threads, ${info().cpu}`;
const label = `Trainer.step: ${NQ} queries x ${QLEN} + ${ND} docs x ${DLEN} tokens, L=${L} C=${C} V=${V}, ${where}`;
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
if (gpu) {
  const flops = stepFlops([...Array(NQ).fill(QLEN), ...Array(ND).fill(DLEN)]);
  const tflops = flops / Math.min(...times) / 1e12;
  console.log(`  ${(flops / 1e12).toFixed(2)} TFLOP per step: ${tflops.toFixed(1)} TFLOP/s at the best step, ` +
    `MFU ${(100 * tflops / PEAK_TFLOPS).toFixed(1)}% of ${PEAK_TFLOPS} TFLOP/s dense bf16 (--peak-tflops)`);
}

if (!gpu && process.env.SPLADE_BENCH_TORCH !== '0') {
  const py = spawnSync('/usr/bin/python3', [join(here, 'torch_step.py'), root, String(THREADS), String(ITERS)], { encoding: 'utf8' });
  if (py.status === 0) process.stdout.write(py.stdout);
  else console.log(`PyTorch reference skipped (${(py.stderr || py.error?.message || '').trim().split('\n').pop()})`);
}
