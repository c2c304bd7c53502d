// Encoder throughput: a 6-layer, 768-wide BERT with the 30522-term bert-base vocabulary (random weights,
// std 0.02) encoding 32 documents of 16..200 tokens on 2 threads, in fp32 and in the opt-in bf16 and int8 modes;
// beside it, in the same run, the peers on the same weights: onnxruntime-node (the model exported from
// PyTorch by export_onnx.py, SPLADE max pooling inside the ONNX graph; batch sizes 1, 4 and 8, padded,
// length-sorted) and PyTorch itself (a plain PyTorch BERT in export_onnx.py: transformers is not
// installed here). All of them run round-robin, one call each per round (a busy spell of a shared
// machine then hits every contender alike); prints the best and mean per batch, documents/s, tokens/s,
// the memory a call adds to the process (VmHWM reset before each call; the first call's, when weights
// are packed and arenas grow, apart), and the agreement of every result with splade fp32.
//   npx tsx bench/encode/encode.bench.ts
// Knobs: SPLADE_BENCH_PRECISIONS (fp32,bf16,int8: splade's contenders, fp32 first),
// SPLADE_BENCH_LAYERS (12: the BERT-base shape), SPLADE_BENCH_HIDDEN, SPLADE_BENCH_DOCS,
// SPLADE_BENCH_THREADS, SPLADE_BENCH_ITERS, SPLADE_BENCH_PEERS=0 (splade only), SPLADE_BENCH_TORCH=0 (no
// PyTorch timing), SPLADE_BENCH_CPU=avx2 (the whole process, splade and onnxruntime-node alike, run as on
// an AVX2-only CPU: cpuid_mask.ts re-runs this script under its CPUID mask, or with SPLADE_CPU=avx2 where
// CPUID faulting is unavailable, and says which). The checkpoint and its
// ONNX export are written once to bench/.cache. The peers are skipped, with a message, when
// onnxruntime-node (npm install --no-save onnxruntime-node) or /usr/bin/python3 with torch is missing.
// `--device cuda` runs splade's contenders on the GPU (SpladeModel.load's device option; a clear Error
// without one); build/cuda_bench gives the per-kernel TFLOP/s and the model FLOPs utilisation there.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeModel, info, setThreads } from '../../lib/index.js';
import { BENCH_VOCAB, lcg, makeBenchCheckpoint } from '../checkpoint.js';
import { avx2OnlyEnv } from './cpuid_mask.js';

if (process.env.SPLADE_BENCH_CPU === 'avx2' && !process.env.SPLADE_BENCH_CPU_HOW) {
  const { env, how } = avx2OnlyEnv();
  console.log(`CPU: ${how}`);
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env: { ...env, SPLADE_BENCH_CPU_HOW: how }, stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const L = env('SPLADE_BENCH_LAYERS', 6), C = env('SPLADE_BENCH_HIDDEN', 768), DOCS = env('SPLADE_BENCH_DOCS', 32);
const THREADS = env('SPLADE_BENCH_THREADS', 2), ITERS = env('SPLADE_BENCH_ITERS', 3), PEERS = env('SPLADE_BENCH_PEERS', 1);
const V = BENCH_VOCAB;
const PYTHON = '/usr/bin/python3';
const argDevice = process.argv.indexOf('--device');
const DEVICE = argDevice > 0 ? process.argv[argDevice + 1] : 'cpu';
if (DEVICE !== 'cpu' && DEVICE !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${DEVICE}`);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '.cache', `bert-L${L}-C${C}`);
makeBenchCheckpoint(root, { layers: L, hidden: C });
setThreads(THREADS);
const r = lcg(7);
const docs: number[][] = [];
for (let d = 0; d < DOCS; d++) {
  const len = 16 + Math.floor(r() * 185);
  docs.push([101, ...Array.from({ length: len - 2 }, () => 1000 + Math.floor(r() * 29000)), 102]);
}
const tokens = docs.reduce((a, d) => a + d.length, 0);

// Peak memory one call adds: VmHWM reset to the current RSS (clear_refs 5), then read after the call.
function status(key: string): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${key}:\\s+(\\d+)`));
  return m ? Number(m[1]) * 1024 : NaN;
}
// Contenders run round-robin (one call each per round, best and mean over ITERS rounds), so that a
// busy spell of a shared machine does not land on one of them only. first: memory the warm-up call
// added (weights packed, workspaces or arenas grown); peak: the most any later call added.
type Contender = { name: string; run: () => Promise<Float32Array[]>; out?: Float32Array[]; times: number[]; peak: number; first: number };
async function timed(c: Contender): Promise<{ ms: number; added: number }> {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux: no peak figure */
  }
  const rss = status('VmRSS');
  const t0 = performance.now();
  c.out = await c.run();
  return { ms: performance.now() - t0, added: status('VmHWM') - rss };
}

const contenders: Contender[] = [];
const toDense = (vs: { indices: Uint32Array; values: Float32Array }[]) =>
  vs.map((v) => {
    const d = new Float32Array(V);
    v.indices.forEach((j, k) => (d[j] = v.values[k]));
    return d;
  });
const PRECISIONS = (process.env.SPLADE_BENCH_PRECISIONS ?? 'fp32,bf16,int8').split(',') as ('fp32' | 'bf16' | 'int8')[];
for (const precision of PRECISIONS) {
  const model = await SpladeModel.load(root, { precision, device: DEVICE as 'cpu' | 'cuda' });
  contenders.push({ name: `splade ${DEVICE === 'cuda' ? 'cuda ' : ''}${precision} (${model.kernels.kernel})`, run: async () => toDense(await model.encodeIds(docs)), times: [], peak: 0, first: 0 });
}

const pythonOk = PEERS > 0 && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (PEERS <= 0) console.log('peers skipped (SPLADE_BENCH_PEERS=0)');
else if (!pythonOk) console.log(`peers skipped: ${PYTHON} with torch is not available (apt-get install python3-torch)`);
// The peer is optional and not a dependency (a fresh clone type-checks without it), so it is imported by
// a computed name and described by the little of its API used here.
type OrtTensor = unknown;
type OrtModule = {
  InferenceSession: { create(path: string, opts: Record<string, unknown>): Promise<{
    run(feeds: Record<string, OrtTensor>): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
  }> };
  Tensor: new (type: string, data: BigInt64Array, dims: number[]) => OrtTensor;
  env: { versions?: { common?: string } };
};
let ort: OrtModule | undefined;
if (pythonOk) {
  try {
    const peer = 'onnxruntime-node';
    ort = (await import(peer)) as OrtModule;
  } catch {
    console.log('onnxruntime-node skipped: not installed (npm install --no-save --ignore-scripts onnxruntime-node)');
  }
}
const order = docs.map((_, i) => i).sort((a, b) => docs[a].length - docs[b].length);
if (ort) {
  const onnx = join(root, 'splade.onnx');
  if (!existsSync(onnx)) {
    const e = spawnSync(PYTHON, [join(here, 'export_onnx.py'), root, onnx], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (e.status !== 0) throw new Error('export_onnx.py failed');
  }
  for (const bs of [1, 4, 8]) {  // a session per batch size, so that each one's memory is its own
    const session = await ort.InferenceSession.create(onnx, {
      intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
    });
    contenders.push({
      name: `onnxruntime-node ${ort.env.versions?.common ?? ''} batch ${bs}`, times: [], peak: 0, first: 0,
      run: async () => {
        const out: Float32Array[] = new Array(docs.length);
        for (let s = 0; s < order.length; s += bs) {
          const idx = order.slice(s, s + bs), T = Math.max(...idx.map((i) => docs[i].length));
          const ids = new BigInt64Array(idx.length * T), mask = new BigInt64Array(idx.length * T);
          idx.forEach((i, k) => docs[i].forEach((id, p) => ((ids[k * T + p] = BigInt(id)), (mask[k * T + p] = 1n))));
          const res = await session.run({
            input_ids: new ort!.Tensor('int64', ids, [idx.length, T]),
            attention_mask: new ort!.Tensor('int64', mask, [idx.length, T]),
          });
          const w = res.w.data as Float32Array;
          idx.forEach((i, k) => (out[i] = w.slice(k * V, (k + 1) * V)));
        }
        return out;
      },
    });
  }
}

for (const c of contenders) c.first = (await timed(c)).added;  // warm-up
for (let round = 0; round < ITERS; round++) {
  for (const c of contenders) {
    const t = await timed(c);
    c.times.push(t.ms);
    c.peak = Math.max(c.peak, t.added);
  }
}

// Agreement with splade fp32: max |a - b| / (max |b| of the vector), cosine, top-64 term overlap.
function agreement(got: Float32Array[], ref: Float32Array[]): string {
  let maxRel = 0, minCos = 1, cosSum = 0, overlap = 0;
  const top = (v: Float32Array) => new Set(Array.from(v.keys()).sort((a, b) => v[b] - v[a]).slice(0, 64).filter((j) => v[j] > 0));
  for (let i = 0; i < ref.length; i++) {
    const a = got[i], b = ref[i];
    let scale = 0, diff = 0, ab = 0, aa = 0, bb = 0;
    for (let j = 0; j < V; j++) {
      scale = Math.max(scale, Math.abs(b[j]));
      diff = Math.max(diff, Math.abs(a[j] - b[j]));
      ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j];
    }
    maxRel = Math.max(maxRel, diff / scale);
    const cos = ab / Math.sqrt(aa * bb);
    minCos = Math.min(minCos, cos), cosSum += cos;
    const ta = top(a), tb = top(b);
    overlap += [...ta].filter((j) => tb.has(j)).length / Math.max(1, tb.size);
  }
  return `max err ${maxRel.toExponential(1)}, 1 - cosine ${(1 - cosSum / ref.length).toExponential(1)} (worst ${(1 - minCos).toExponential(1)}), top-64 overlap ${(100 * overlap / ref.length).toFixed(1)}%`;
}
const ref = contenders[0].out!;
const rows: Row[] = contenders.map((c, i) => ({
  name: c.name, ms: Math.min(...c.times), mean: c.times.reduce((a, b) => a + b, 0) / c.times.length, peak: c.peak,
  first: c.first, agree: i === 0 ? 'reference' : agreement(c.out!, ref),
}));
type Row = { name: string; ms: number; mean: number; peak: number; first?: number; agree?: string };

// PyTorch in its own process, after the others (a peer, not one of the goals)
if (pythonOk && process.env.SPLADE_BENCH_TORCH !== '0') {
  const docsFile = join(root, `docs-${DOCS}.json`);
  writeFileSync(docsFile, JSON.stringify(docs));
  const p = spawnSync(PYTHON, [join(here, 'export_onnx.py'), root, '--time', docsFile, String(THREADS), '1', '4', '8'], { encoding: 'utf8' });
  if (p.status !== 0) console.log(`PyTorch timing failed: ${p.stderr.slice(-500)}`);
  for (const line of p.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const j = JSON.parse(line) as { batch: number; ms: number; torch: string };
    rows.push({ name: `PyTorch ${j.torch} (plain BERT) batch ${j.batch}`, ms: j.ms, mean: NaN, peak: NaN });
  }
}


const bestOrt = Math.min(...rows.filter((x) => x.name.startsWith('onnxruntime')).map((x) => x.ms));
console.log(`\n${DOCS} docs, ${tokens} tokens, L=${L} C=${C} V=${V}, ${THREADS} threads, ${info().cpu}; best (mean) of ${ITERS} round-robin rounds`);
if (process.env.SPLADE_BENCH_CPU_HOW) console.log(`CPU: ${process.env.SPLADE_BENCH_CPU_HOW}`);
console.log('| encoder | ms per batch (mean) | documents/s | tokens/s | vs best onnxruntime | memory added: first call / later calls | agreement with splade fp32 |');
console.log('|---|---|---|---|---|---|---|');
for (const x of rows) {
  const mib = (b: number | undefined) => (b !== undefined && Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(0)}` : '-');
  const mb = Number.isFinite(x.peak) ? `${mib(x.first)} / ${mib(x.peak)} MiB` : '-';
  const vs = Number.isFinite(bestOrt) ? `${(bestOrt / x.ms).toFixed(2)}x` : '-';
  console.log(`| ${x.name} | ${x.ms.toFixed(0)} (${Number.isFinite(x.mean) ? x.mean.toFixed(0) : '-'}) | ${(DOCS / (x.ms / 1000)).toFixed(2)} | ${(tokens / (x.ms / 1000)).toFixed(0)} | ${vs} | ${mb} | ${x.agree ?? '-'} |`);
}
