// `npm run bench`: runs each area's benchmark script in turn, each in its own process (its tables go
// straight to this output), then prints a summary of what ran, how long it took and whether it passed.
// By default at small sizes, so the whole set finishes in a few minutes on a 2-core machine; --full
// runs the sizes bench/RESULTS.md reports (tens of minutes; the recipe area alone ~11 min).
//
//   npm run bench                                   # bm25, search, gemm, encode, train at small sizes
//   npm run bench -- --areas search,encode          # some areas (SPLADE_BENCH_AREAS works too)
//   npm run bench -- --full --areas gemm            # the published size of an area
//   npm run bench -- --list                         # the areas and the command each runs
//
// The recipe area (bench/recipe/loo.ts, training and leave-one-out evaluation) runs only when named:
// even at its small size it takes ~12 min on 2 cores (encoding and searching the five collections).
// Sizes: each area's own knobs (SPLADE_BENCH_ITERS, SPLADE_LOO_*, ...) set in the environment win over
// the defaults below. Timings are only comparable within one machine: run under `flock /tmp/bench.lock`
// on a shared one, and say which CPU gave them (bench/RESULTS.md does).
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Size { args?: string[]; env?: Record<string, string> }
interface Area { name: string; script: string; what: string; quick: Size; full: Size; byDefault: boolean }

const AREAS: Area[] = [
  {
    name: 'bm25', script: 'bench/bm25/baseline.ts', what: 'BM25 nDCG@10 on the five bundled collections against BASELINES.md (fails beyond 0.01)',
    quick: {}, full: {}, byDefault: true,
  },
  {
    name: 'search', script: 'bench/search/search.bench.ts', what: 'index build rate, bytes a posting, ms a query and recall per algorithm (topical and uniform synthetic collections, reordered by BP)',
    quick: { args: ['--collection', 'topical,uniform', '--docs', '20000', '--queries', '100', '--algorithms', 'exhaustive,maxscore,bmp,approximate', '--build', '{"reorder":"bp"}'] },
    full: { args: ['--collection', 'topical,uniform', '--docs', '1000000', '--queries', '200', '--algorithms', 'exhaustive,maxscore,bmw,bmp,approximate', '--build', '{"reorder":"bp"}', '--repeat', '2'] }, byDefault: true,
  },
  {
    name: 'index-live', script: 'bench/index-live/live.bench.ts', what: 'live index: add postings/s with a commit every 10,000 documents, commit latency, writer memory, 10 segments against merged',
    quick: { args: ['--docs', '20000', '--search-docs', '20000', '--queries', '50', '--rounds', '1'] },
    full: { args: ['--docs', '100000', '--search-docs', '100000', '--queries', '200', '--rounds', '3'] }, byDefault: true,
  },
  {
    name: 'index-live-kill', script: 'bench/index-live/kill.ts', what: 'live index: a writer process killed with SIGKILL at random moments, each commit checked',
    quick: { args: ['--kills', '20'] }, full: { args: ['--kills', '200'] }, byDefault: false,
  },
  {
    name: 'gemm', script: 'bench/gemm/gemm.bench.ts', what: 'sgemm GFLOP/s at the BERT-base shapes against the FMA peak and OpenBLAS (when installed)',
    quick: { args: ['--quick', '--rounds', '1', '--time', '200'] }, full: { args: ['--rounds', '3', '--time', '800'] }, byDefault: true,
  },
  {
    name: 'encode', script: 'bench/encode/encode.bench.ts', what: 'documents/s and memory of the encoder, fp32, bf16 and int8, with onnxruntime-node and PyTorch when installed',
    quick: { env: { SPLADE_BENCH_LAYERS: '2', SPLADE_BENCH_DOCS: '8', SPLADE_BENCH_ITERS: '1', SPLADE_BENCH_PEERS: '0' } },
    full: { env: { SPLADE_BENCH_ITERS: '3' } }, byDefault: true,
  },
  {
    name: 'encode-avx2', script: 'bench/encode/encode.bench.ts', what: 'encode as on an AVX2-only CPU, splade and onnxruntime-node alike (CPUID masked: bench/README.md)',
    quick: { env: { SPLADE_BENCH_CPU: 'avx2', SPLADE_BENCH_LAYERS: '2', SPLADE_BENCH_DOCS: '8', SPLADE_BENCH_ITERS: '1', SPLADE_BENCH_PEERS: '0' } },
    full: { env: { SPLADE_BENCH_CPU: 'avx2', SPLADE_BENCH_TORCH: '0', SPLADE_BENCH_PRECISIONS: 'fp32,int8', SPLADE_BENCH_ITERS: '3' } }, byDefault: false,
  },
  {
    name: 'train', script: 'bench/train/train.bench.ts', what: 'seconds a training step, tokens/s and peak memory, with PyTorch when installed',
    quick: { env: { SPLADE_BENCH_LAYERS: '2', SPLADE_BENCH_ITERS: '1', SPLADE_BENCH_WARMUP: '1', SPLADE_BENCH_TORCH: '0' } }, full: {}, byDefault: true,
  },
  {
    name: 'serve', script: 'bench/serve/serve.bench.ts', what: 'splade serve under autocannon: NPL, idf queries, 16 connections; requests/s, p99, errors, exit on SIGTERM (fails below the goals of issue 18)',
    quick: { args: ['--duration', '5'] }, full: { args: ['--duration', '30', '--connections', '16'] }, byDefault: false,
  },
  {
    name: 'recipe', script: 'bench/recipe/loo.ts', what: 'the SPLADE++ recipe trained and evaluated leave-one-out on the five collections (nDCG@10 against BM25)',
    quick: { env: { SPLADE_LOO_WORK: 'bench/.cache/recipe-quick', SPLADE_LOO_MLM_STEPS: '0', SPLADE_LOO_PSEUDO_STEPS: '20', SPLADE_LOO_FOLD_STEPS: '10', SPLADE_LOO_TAG: 'quick' } },
    // run 9, the current figure (bench/RESULTS.md)
    full: { env: { SPLADE_LOO_WORK: 'bench/.cache/run9', SPLADE_LOO_TEXT: 'words', SPLADE_LOO_ENSEMBLE: 'sum', SPLADE_LOO_MLM_STEPS: '400s17,400s18,400s19,400s20', SPLADE_LOO_TAG: 'run9' } },
    byDefault: false,
  },
];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { areas: { type: 'string' }, full: { type: 'boolean', default: false }, list: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });

function commandLine(area: Area, size: Size): string {
  const env = Object.entries(size.env ?? {}).map(([k, v]) => `${k}=${v} `).join('');
  return `${env}node --import tsx ${area.script}${(size.args ?? []).map((a) => ` ${a}`).join('')}`;
}

if (opts.help || opts.list) {
  if (opts.help) console.log('usage: npm run bench -- [--areas a,b] [--full] [--list]\n');
  for (const a of AREAS) {
    console.log(`${a.name}${a.byDefault ? '' : ' (only when named)'}: ${a.what}\n  small: ${commandLine(a, a.quick)}\n  full:  ${commandLine(a, a.full)}`);
  }
  process.exit(0);
}

const wanted = (opts.areas ?? process.env.SPLADE_BENCH_AREAS)?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = (wanted ?? []).filter((n) => !AREAS.some((a) => a.name === n));
if (unknown.length > 0) {
  console.error(`unknown area ${unknown.join(', ')}; the areas are ${AREAS.map((a) => a.name).join(', ')}`);
  process.exit(2);
}
const selected = wanted ? AREAS.filter((a) => wanted.includes(a.name)) : AREAS.filter((a) => a.byDefault);

console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length}, Node ${process.version}; sizes: ${opts.full ? 'full (as in bench/RESULTS.md)' : 'small'}`);
const summary: { area: string; seconds: number; status: string; command: string }[] = [];
for (const area of selected) {
  const size = opts.full ? area.full : area.quick;
  const command = commandLine(area, size);
  console.log(`\n## ${area.name}: ${area.what}\n$ ${command}\n`);
  const t0 = performance.now();
  // the area's defaults first, so that knobs set by the caller win
  const r = spawnSync(process.execPath, ['--import', 'tsx', area.script, ...(size.args ?? [])], {
    cwd: ROOT, stdio: 'inherit', env: { ...size.env, ...process.env },
  });
  const seconds = (performance.now() - t0) / 1000;
  const status = r.error ? `failed to start: ${r.error.message}` : r.status === 0 ? 'ok' : r.signal ? `killed (${r.signal})` : `exit ${r.status}`;
  summary.push({ area: area.name, seconds, status, command });
}

console.log('\n## summary\n\n| area | seconds | result | command |\n|---|---|---|---|');
for (const s of summary) console.log(`| ${s.area} | ${s.seconds.toFixed(1)} | ${s.status} | \`${s.command}\` |`);
process.exit(summary.every((s) => s.status === 'ok') ? 0 : 1);
