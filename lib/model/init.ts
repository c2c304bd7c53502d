/*
 * A SPLADE checkpoint the package initialises itself, for when no trained model is at hand (the demo,
 * tests, a starting point for the domain recipe). `lexical` initialisation makes the network pass
 * each token's embedding through almost unchanged (small attention and MLP weights, residuals and
 * LayerNorms carry it), and the tied MLM decoder then scores a token's own vocabulary entry far
 * above the others: log(1 + ReLU(logit)) is about 1.4 for every token of the text and 0 elsewhere,
 * so the untrained model is a binary bag-of-words retriever rather than noise. `random` is BERT's
 * usual N(0, 0.02) initialisation. Written in the Hugging Face layout (BertForMaskedLM).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { expectInteger, expectOneOf, expectString } from '../errors.js';
import { normalSampler } from '../random.js';
import { atomicWriteText } from '../data/atomic.js';
import { writeSafetensors } from './safetensors.js';

export interface InitOptions {
  /** tokenizer.json to ship with the model; its vocabulary size sets vocab_size. */
  tokenizer: string;
  vocabSize: number;
  layers?: number;
  hidden?: number;
  heads?: number;
  intermediate?: number;
  maxPositions?: number;
  init?: 'lexical' | 'random';
  seed?: number;
}


export function initCheckpoint(dir: string, opts: InitOptions): void {
  expectString('dir', dir);
  expectString('tokenizer', opts.tokenizer);
  const V = expectInteger('vocabSize', opts.vocabSize, 1);
  const L = expectInteger('layers', opts.layers ?? 2, 0, 48);
  const H = expectInteger('hidden', opts.hidden ?? 128, 1);
  const heads = expectInteger('heads', opts.heads ?? 2, 1);
  const I = expectInteger('intermediate', opts.intermediate ?? 4 * H, 1);
  const P = expectInteger('maxPositions', opts.maxPositions ?? 512, 1);
  const init = expectOneOf('init', opts.init ?? 'lexical', ['lexical', 'random'] as const);
  const rand = normalSampler(opts.seed ?? 1);
  const lexical = init === 'lexical';
  // Lexical: the head's input h' is ~ the token's LayerNormed embedding (|h'| = sqrt H, correlation
  // ~0.85 after GELU), so with embeddings of std sigma a token's own logit is ~0.85 sigma H + bias,
  // and any other token's is N(0, sigma^2 H) + bias. With bias = -5 sigma sqrt H (about one spurious term per 100 tokens), sigma is chosen so
  // the own logit lands near 3 (weight log(4) ~ 1.4). Needs H > 35 for the own logit to be positive.
  if (lexical && H < 64) expectInteger('hidden (lexical init)', H, 64);
  const sigma = lexical ? 3 / (Math.sqrt(H) * (0.85 * Math.sqrt(H) - 5)) : 0.02;
  const small = lexical ? 0.002 : 0.02;

  const tensors: [string, Float32Array, number[]][] = [];
  const add = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = fill(i);
    tensors.push([name, t, shape]);
  };
  const gauss = (std: number) => () => std * rand();
  const eye = (n: number) => (i: number) => (Math.floor(i / n) === i % n ? 1 : 0);
  const ones = () => 1;
  const zeros = () => 0;

  add('bert.embeddings.word_embeddings.weight', [V, H], gauss(sigma));
  add('bert.embeddings.position_embeddings.weight', [P, H], gauss(lexical ? 0 : 0.02));
  add('bert.embeddings.token_type_embeddings.weight', [2, H], gauss(lexical ? 0 : 0.02));
  add('bert.embeddings.LayerNorm.weight', [H], ones);
  add('bert.embeddings.LayerNorm.bias', [H], zeros);
  for (let l = 0; l < L; l++) {
    const p = `bert.encoder.layer.${l}`;
    for (const m of ['query', 'key', 'value']) {
      add(`${p}.attention.self.${m}.weight`, [H, H], gauss(small));
      add(`${p}.attention.self.${m}.bias`, [H], zeros);
    }
    add(`${p}.attention.output.dense.weight`, [H, H], gauss(small));
    add(`${p}.attention.output.dense.bias`, [H], zeros);
    add(`${p}.attention.output.LayerNorm.weight`, [H], ones);
    add(`${p}.attention.output.LayerNorm.bias`, [H], zeros);
    add(`${p}.intermediate.dense.weight`, [I, H], gauss(small));
    add(`${p}.intermediate.dense.bias`, [I], zeros);
    add(`${p}.output.dense.weight`, [H, I], gauss(small));
    add(`${p}.output.dense.bias`, [H], zeros);
    add(`${p}.output.LayerNorm.weight`, [H], ones);
    add(`${p}.output.LayerNorm.bias`, [H], zeros);
  }
  // The head's dense layer: identity for lexical (GELU then keeps ~0.85 correlation with the input).
  add('cls.predictions.transform.dense.weight', [H, H], lexical ? eye(H) : gauss(0.02));
  add('cls.predictions.transform.dense.bias', [H], zeros);
  add('cls.predictions.transform.LayerNorm.weight', [H], ones);
  add('cls.predictions.transform.LayerNorm.bias', [H], zeros);
  // Decoder bias: other tokens' logits are ~N(0, (sigma sqrt H)^2); five of those std below zero.
  add('cls.predictions.bias', [V], () => (lexical ? -5 * sigma * Math.sqrt(H) : 0));

  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const config = {
    architectures: ['BertForMaskedLM'], model_type: 'bert', vocab_size: V, hidden_size: H, num_hidden_layers: L,
    num_attention_heads: heads, intermediate_size: I, max_position_embeddings: P, type_vocab_size: 2,
    hidden_act: 'gelu', layer_norm_eps: 1e-12, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
    initializer_range: 0.02, pad_token_id: 0, tie_word_embeddings: true,
    splade_init: init,
  };
  atomicWriteText(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  copyFileSync(opts.tokenizer, join(dir, 'tokenizer.json'));
}
