// Encoder throughput: a 6-layer, 768-wide BERT with the 30522-term bert-base vocabulary (random weights,
// std 0.02) encoding 32 documents of 16..200 tokens on 2 threads; prints documents/s and tokens/s.
//   npx tsx bench/encode/encode.bench.ts
// Knobs (for quick checks): SPLADE_BENCH_LAYERS, SPLADE_BENCH_HIDDEN, SPLADE_BENCH_DOCS,
// SPLADE_BENCH_THREADS, SPLADE_BENCH_ITERS. The checkpoint is written once to bench/.cache.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bench } from 'tinybench';

import { SpladeModel, info, setThreads } from '../../lib/index.js';
import { writeSafetensors } from '../../lib/model/safetensors.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const L = env('SPLADE_BENCH_LAYERS', 6), C = env('SPLADE_BENCH_HIDDEN', 768), DOCS = env('SPLADE_BENCH_DOCS', 32);
const THREADS = env('SPLADE_BENCH_THREADS', 2), ITERS = env('SPLADE_BENCH_ITERS', 3);
const V = 30522, P = 512, I = 4 * C, H = Math.max(1, Math.round(C / 64));

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function normal(n: number, std: number, r: () => number, mean = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r(), m = Math.sqrt(-2 * Math.log(u)) * std;
    a[i] = mean + m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = mean + m * Math.sin(2 * Math.PI * v);
  }
  return a;
}

function makeCheckpoint(dir: string): void {
  if (existsSync(join(dir, 'model.safetensors'))) return;
  mkdirSync(dir, { recursive: true });
  const r = rng(42);
  const t: [string, Float32Array, number[]][] = [];
  const w = (name: string, ...shape: number[]) => t.push([name, normal(shape.reduce((a, b) => a * b, 1), 0.02, r), shape]);
  const ln = (name: string) => {
    t.push([`${name}.weight`, new Float32Array(C).fill(1), [C]]);
    t.push([`${name}.bias`, new Float32Array(C), [C]]);
  };
  w('bert.embeddings.word_embeddings.weight', V, C);
  w('bert.embeddings.position_embeddings.weight', P, C);
  w('bert.embeddings.token_type_embeddings.weight', 2, C);
  ln('bert.embeddings.LayerNorm');
  for (let l = 0; l < L; l++) {
    const p = `bert.encoder.layer.${l}.`;
    for (const [n, o, i] of [['attention.self.query', C, C], ['attention.self.key', C, C], ['attention.self.value', C, C],
      ['attention.output.dense', C, C], ['intermediate.dense', I, C], ['output.dense', C, I]] as const) {
      w(`${p}${n}.weight`, o, i);
      w(`${p}${n}.bias`, o);
    }
    ln(`${p}attention.output.LayerNorm`);
    ln(`${p}output.LayerNorm`);
  }
  w('cls.predictions.transform.dense.weight', C, C);
  w('cls.predictions.transform.dense.bias', C);
  ln('cls.predictions.transform.LayerNorm');
  w('cls.predictions.bias', V);
  writeSafetensors(join(dir, 'model.safetensors'), t);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['BertForMaskedLM'], model_type: 'bert', vocab_size: V, hidden_size: C, num_hidden_layers: L,
    num_attention_heads: H, intermediate_size: I, hidden_act: 'gelu', max_position_embeddings: P, type_vocab_size: 2,
    layer_norm_eps: 1e-12,
  }));
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102 };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', normalizer: { type: 'BertNormalizer', lowercase: true }, pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 101], sep: ['[SEP]', 102] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, added_tokens: [],
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }));
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', `bert-L${L}-C${C}`);
makeCheckpoint(root);
setThreads(THREADS);
const model = await SpladeModel.load(root);
const r = rng(7);
const docs: number[][] = [];
for (let d = 0; d < DOCS; d++) {
  const len = 16 + Math.floor(r() * 185);
  docs.push([101, ...Array.from({ length: len - 2 }, () => 1000 + Math.floor(r() * 29000)), 102]);
}
const tokens = docs.reduce((a, d) => a + d.length, 0);
const bench = new Bench({ name: 'encode', iterations: ITERS, time: 0, warmupIterations: 1, warmupTime: 0 });
bench.add(`encodeIds: ${DOCS} docs, ${tokens} tokens, L=${L} C=${C} V=${V}, ${THREADS} threads, ${info().cpu}`, async () => {
  await model.encodeIds(docs);
});
await bench.run();
for (const task of bench.tasks) {
  const mean = task.result && 'latency' in task.result ? (task.result as { latency: { mean: number } }).latency.mean : NaN;
  console.log(`${task.name}\n  ${mean.toFixed(1)} ms per batch, ${(DOCS / (mean / 1000)).toFixed(2)} documents/s, ${(tokens / (mean / 1000)).toFixed(0)} tokens/s`);
}
