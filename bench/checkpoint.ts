// The benchmarks' model: a BertForMaskedLM with the 30522-term bert-base vocabulary and random weights
// (normal, std 0.02; LayerNorms at 1 / 0), written once as a Hugging Face checkpoint (model.safetensors,
// config.json, a minimal tokenizer.json) so every contender loads the same weights. Deterministic.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { writeSafetensors } from '../lib/model/safetensors.js';

export const BENCH_VOCAB = 30522, BENCH_POSITIONS = 512;

/** A small linear congruential generator: uniform [0, 1), the same sequence on every machine. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function normal(n: number, std: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r(), m = Math.sqrt(-2 * Math.log(u)) * std;
    a[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return a;
}

/** Writes the checkpoint into dir unless it is there; heads = hidden / 64 (at least 1), FFN 4 x hidden. */
export function makeBenchCheckpoint(dir: string, opts: { layers: number; hidden: number; config?: Record<string, unknown> }): void {
  if (existsSync(join(dir, 'model.safetensors'))) return;
  const L = opts.layers, C = opts.hidden, I = 4 * C, H = Math.max(1, Math.round(C / 64)), V = BENCH_VOCAB, P = BENCH_POSITIONS;
  mkdirSync(dir, { recursive: true });
  const r = lcg(42);
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
    layer_norm_eps: 1e-12, ...opts.config,
  }));
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102 };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', normalizer: { type: 'BertNormalizer', lowercase: true }, pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 101], sep: ['[SEP]', 102] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, added_tokens: [],
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }));
}
