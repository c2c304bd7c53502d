// config.json of a ModernBertForMaskedLM -> the encoder config (config.ts) with its ModernBERT options.
// Both spellings of the Hub are read: the older flat keys (global_rope_theta, local_rope_theta,
// global_attn_every_n_layers) and transformers' newer layer_types + rope_parameters; a layer pattern
// other than "global every n-th layer from layer 0", a rope type other than the default, biases
// (attention_bias, mlp_bias, norm_bias, classifier_bias), an untied or bias-less decoder and
// activations other than exact GELU are refused as unsupported rather than run wrongly.
import { ErrorCode, type ErrorCodeValue, SpladeError } from '../errors.js';
import type { EncoderConfig } from './config.js';  // a type-only cycle: config.ts calls parseModernBertConfig

export interface ModernBertOptions {
  /** local_attention / 2: a local layer's token sees the keys within this distance. */
  halfWindow: number;
  /** Layer l attends globally when l % globalEvery == 0, else within the window. */
  globalEvery: number;
  globalRopeTheta: number;
  localRopeTheta: number;
}

export function parseModernBertConfig(json: Record<string, unknown>, file: string): EncoderConfig {
  const bad = (what: string, code: ErrorCodeValue = ErrorCode.corruptFile): never => {
    throw new SpladeError(`${file}: ${what}`, code);
  };
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(`expected a positive integer for ${key} but found ${JSON.stringify(v)}`);
    return v as number;
  };
  const positive = (v: unknown, key: string): number => {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) bad(`expected a positive number for ${key} but found ${JSON.stringify(v)}`);
    return v as number;
  };
  const flag = (key: string, fallback: boolean, want: boolean) => {
    const v = json[key] ?? fallback;
    if (v !== want) bad(`${key} ${JSON.stringify(v)} is not supported (ModernBERT is implemented with ${key} = ${want})`, ErrorCode.unsupported);
  };
  for (const key of ['hidden_activation', 'classifier_activation']) {
    const v = json[key] ?? 'gelu';
    if (v !== 'gelu') bad(`unsupported ${key} ${JSON.stringify(v)} (only the exact-erf 'gelu' is implemented)`, ErrorCode.unsupported);
  }
  for (const key of ['attention_bias', 'mlp_bias', 'norm_bias', 'classifier_bias']) flag(key, false, false);
  flag('decoder_bias', true, true);
  flag('tie_word_embeddings', true, true);
  const layers = int('num_hidden_layers');
  const globalEvery = int('global_attn_every_n_layers', 3);
  if (json.layer_types !== undefined && json.layer_types !== null) {
    const types = json.layer_types;
    const want = Array.from({ length: layers }, (_, l) => (l % globalEvery === 0 ? 'full_attention' : 'sliding_attention'));
    if (!Array.isArray(types) || types.length !== layers || types.some((t, l) => t !== want[l]))
      bad(`layer_types ${JSON.stringify(types)} is not the pattern of global_attn_every_n_layers = ${globalEvery}`, ErrorCode.unsupported);
  }
  let globalTheta = json.global_rope_theta ?? 160000;
  let localTheta = json.local_rope_theta ?? 10000;
  const rope = json.rope_parameters as Record<string, Record<string, unknown> | null> | undefined | null;
  if (rope) {
    for (const [kind, params] of Object.entries(rope)) {
      if (!params) continue;
      const type = params.rope_type ?? 'default';
      if (type !== 'default') bad(`rope_parameters.${kind}.rope_type ${JSON.stringify(type)} is not supported`, ErrorCode.unsupported);
      if (kind === 'full_attention' && params.rope_theta !== undefined) globalTheta = params.rope_theta as number;
      if (kind === 'sliding_attention' && params.rope_theta !== undefined) localTheta = params.rope_theta as number;
    }
  }
  if (json.rope_scaling) bad('rope_scaling is not supported', ErrorCode.unsupported);
  const hidden = int('hidden_size'), heads = int('num_attention_heads');
  if ((hidden / heads) % 2 !== 0) bad(`hidden_size / num_attention_heads must be even for rotary embeddings`);
  const eps = positive(json.norm_eps ?? 1e-5, 'norm_eps');
  const modernbert: ModernBertOptions = {
    halfWindow: Math.floor(int('local_attention', 128) / 2),
    globalEvery,
    globalRopeTheta: positive(globalTheta, 'the global rope theta'),
    localRopeTheta: positive(localTheta, 'the local rope theta'),
  };
  return {
    arch: 'modernbert',
    vocabSize: int('vocab_size'),
    hidden,
    layers,
    heads,
    intermediate: int('intermediate_size'),
    maxPositions: int('max_position_embeddings', 8192),
    typeVocab: 0,
    eps,
    modernbert,
  };
}
