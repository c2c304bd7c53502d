// config.json (Hugging Face) -> the flat encoder config the native core takes. Only the masked-LM
// architectures the encoder implements are accepted; anything else is an Error naming the file.
import { ErrorCode, SpladeError } from '../errors.js';
import { type ModernBertOptions, parseModernBertConfig } from './modernbert-config.js';

export type Arch = 'bert' | 'distilbert' | 'roberta' | 'modernbert';

export interface EncoderConfig {
  arch: Arch;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  /** The longest sequence the model takes (RoBERTa: max_position_embeddings - positionOffset). */
  maxPositions: number;
  typeVocab: number; // 0 for DistilBERT
  eps: number;
  /**
   * RoBERTa / XLM-RoBERTa: pad_token_id + 1, the position id of each sequence's first token
   * (transformers' create_position_ids_from_input_ids; packed sequences hold no padding). A padding
   * id inside a sequence is embedded at its place like any other token, where transformers would
   * give it the padding position: tokenizers never put one there. Absent (0) for the others.
   */
  positionOffset?: number;
  /** ModernBERT only: its attention pattern and rotary embeddings (modernbert-config.ts). */
  modernbert?: ModernBertOptions;
}

export const SUPPORTED_ARCHITECTURES = [
  'BertForMaskedLM', 'DistilBertForMaskedLM', 'RobertaForMaskedLM', 'XLMRobertaForMaskedLM', 'ModernBertForMaskedLM',
] as const;

/** architectures[0] and model_type -> the encoder family that runs them. */
const ARCH_OF: Record<string, Arch> = {
  BertForMaskedLM: 'bert', DistilBertForMaskedLM: 'distilbert', RobertaForMaskedLM: 'roberta', XLMRobertaForMaskedLM: 'roberta',
  ModernBertForMaskedLM: 'modernbert',
};
const MODEL_TYPES: Record<string, Arch> = {
  bert: 'bert', distilbert: 'distilbert', roberta: 'roberta', 'xlm-roberta': 'roberta', modernbert: 'modernbert',
};

export function parseConfig(json: Record<string, unknown>, file: string): EncoderConfig {
  const archs = Array.isArray(json.architectures) ? (json.architectures as unknown[]) : [];
  let arch: Arch | undefined;
  if (archs.length > 0) {
    arch = typeof archs[0] === 'string' && Object.hasOwn(ARCH_OF, archs[0]) ? ARCH_OF[archs[0]] : undefined;
    if (!arch) {
      throw new SpladeError(
        `${file}: unsupported architecture ${JSON.stringify(archs[0])} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
        ErrorCode.unsupported,
      );
    }
  } else if (typeof json.model_type === 'string' && Object.hasOwn(MODEL_TYPES, json.model_type)) {
    arch = MODEL_TYPES[json.model_type];
  } else {
    throw new SpladeError(
      `${file}: no architectures entry and unsupported model_type ${JSON.stringify(json.model_type)} (supported: ${Object.keys(MODEL_TYPES).join(', ')})`,
      ErrorCode.unsupported,
    );
  }
  if (arch === 'modernbert') return parseModernBertConfig(json, file);
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
  if (arch === 'bert' || arch === 'roberta') {
    act('hidden_act');
    const pet = json.position_embedding_type ?? 'absolute';
    if (pet !== 'absolute') throw new SpladeError(`${file}: unsupported position_embedding_type ${JSON.stringify(pet)}`, ErrorCode.unsupported);
    const eps = json.layer_norm_eps ?? 1e-12;
    if (typeof eps !== 'number' || !(eps > 0)) throw new SpladeError(`${file}: bad layer_norm_eps ${JSON.stringify(eps)}`, ErrorCode.corruptFile);
    const cfg: EncoderConfig = {
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
    if (arch === 'bert') return cfg;
    const pad = json.pad_token_id ?? 1;  // RobertaConfig's default
    if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0) {
      throw new SpladeError(`${file}: expected a non-negative integer for pad_token_id but found ${JSON.stringify(pad)}`, ErrorCode.corruptFile);
    }
    const positionOffset = pad + 1;
    if (cfg.maxPositions <= positionOffset) {
      throw new SpladeError(`${file}: max_position_embeddings (${cfg.maxPositions}) leaves no position past pad_token_id + 1 (${positionOffset})`,
        ErrorCode.corruptFile);
    }
    return { ...cfg, maxPositions: cfg.maxPositions - positionOffset, positionOffset };
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
