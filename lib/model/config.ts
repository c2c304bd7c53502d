// config.json (Hugging Face) -> the flat encoder config the native core takes. Only the masked-LM
// architectures the encoder implements are accepted; anything else is an Error naming the file.
import { ErrorCode, SpladeError } from '../errors.js';

export type Arch = 'bert' | 'distilbert';

export interface EncoderConfig {
  arch: Arch;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  typeVocab: number; // 0 for DistilBERT
  eps: number;
}

export const SUPPORTED_ARCHITECTURES = ['BertForMaskedLM', 'DistilBertForMaskedLM'] as const;

export function parseConfig(json: Record<string, unknown>, file: string): EncoderConfig {
  const archs = Array.isArray(json.architectures) ? (json.architectures as unknown[]) : [];
  let arch: Arch | undefined;
  if (archs.length > 0) {
    if (archs[0] === 'BertForMaskedLM') arch = 'bert';
    else if (archs[0] === 'DistilBertForMaskedLM') arch = 'distilbert';
    else {
      throw new SpladeError(
        `${file}: unsupported architecture ${JSON.stringify(archs[0])} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
        ErrorCode.unsupported,
      );
    }
  } else if (json.model_type === 'bert' || json.model_type === 'distilbert') {
    arch = json.model_type;
  } else {
    throw new SpladeError(`${file}: no architectures entry and unsupported model_type ${JSON.stringify(json.model_type)}`, ErrorCode.unsupported);
  }
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new SpladeError(`${file}: expected a positive integer for ${key} but found ${JSON.stringify(v)}`, ErrorCode.corruptFile);
    }
    return v;
  };
  const act = (key: string) => {
    const v = json[key] ?? 'gelu';
    if (v !== 'gelu') throw new SpladeError(`${file}: unsupported ${key} ${JSON.stringify(v)} (only the exact-erf 'gelu' is implemented)`, ErrorCode.unsupported);
  };
  if (arch === 'bert') {
    act('hidden_act');
    const pet = json.position_embedding_type ?? 'absolute';
    if (pet !== 'absolute') throw new SpladeError(`${file}: unsupported position_embedding_type ${JSON.stringify(pet)}`, ErrorCode.unsupported);
    const eps = json.layer_norm_eps ?? 1e-12;
    if (typeof eps !== 'number' || !(eps > 0)) throw new SpladeError(`${file}: bad layer_norm_eps ${JSON.stringify(eps)}`, ErrorCode.corruptFile);
    return {
      arch,
      vocabSize: int('vocab_size'),
      hidden: int('hidden_size'),
      layers: int('num_hidden_layers'),
      heads: int('num_attention_heads'),
      intermediate: int('intermediate_size'),
      maxPositions: int('max_position_embeddings', 512),
      typeVocab: int('type_vocab_size', 2),
      eps,
    };
  }
  act('activation');
  return {
    arch,
    vocabSize: int('vocab_size'),
    hidden: int('dim'),
    layers: int('n_layers'),
    heads: int('n_heads'),
    intermediate: int('hidden_dim'),
    maxPositions: int('max_position_embeddings', 512),
    typeVocab: 0,
    eps: 1e-12, // hard-coded in transformers' DistilBERT
  };
}
