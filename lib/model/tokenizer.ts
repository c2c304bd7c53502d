// tokenizer.json through @huggingface/tokenizers (pure JS): normalisation, pre-tokenisation and the
// model (WordPiece, byte-level BPE, Unigram) come from the library; special tokens and truncation
// are applied here from the post-processor's template, so that truncation cuts the text and never the special tokens (as the
// Rust tokenizers do): single texts keep their first maxLength - specials tokens, pairs (for
// cross-encoders) use longest-first (the shorter side keeps up to half the budget).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';

import { ErrorCode, SpladeError } from '../errors.js';
import { atomicWriteText } from '../data/atomic.js';

type Piece = { kind: 'special'; ids: number[]; typeId: number } | { kind: 'seq'; which: 'A' | 'B'; typeId: number };

export interface Encoded {
  ids: Int32Array;
  typeIds: Int32Array;
}

export class SpladeTokenizer {
  /** The files as read, so that save() writes them back unchanged. */
  readonly json: string;
  readonly configJson: string | undefined;
  private readonly tok: Tokenizer;
  private readonly single: Piece[];
  private readonly pair: Piece[];
  /** Whether a prefix cut at whitespace tokenizes to a prefix of the tokens (see isWordLocal). */
  private readonly wordLocal: boolean;

  private constructor(json: string, configJson: string | undefined, file: string) {
    this.json = json;
    this.configJson = configJson;
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(json);
    } catch (err) {
      throw new SpladeError(`${file}: not valid JSON (${(err as Error).message})`, ErrorCode.corruptFile);
    }
    try {
      this.tok = new Tokenizer(spec, configJson ? JSON.parse(configJson) : {});
    } catch (err) {
      throw new SpladeError(`${file}: the tokenizer could not be built (${(err as Error).message})`, ErrorCode.unsupported);
    }
    [this.single, this.pair] = templates(spec.post_processor as Record<string, unknown> | null, file);
    this.wordLocal = isWordLocal(spec);
  }

  static load(dir: string): SpladeTokenizer {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new SpladeError(`${dir}: tokenizer.json is missing`, ErrorCode.io);
    const cfgFile = join(dir, 'tokenizer_config.json');
    return new SpladeTokenizer(readFileSync(file, 'utf8'), existsSync(cfgFile) ? readFileSync(cfgFile, 'utf8') : undefined, file);
  }

  /** Number of special tokens added to a single text. */
  get specialsSingle(): number {
    return this.single.reduce((n, p) => n + (p.kind === 'special' ? p.ids.length : 0), 0);
  }

  private body(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** The text's ids without special tokens, the first maxLength of them. */
  encodeBody(text: string, maxLength: number): number[] {
    return this.bodyPrefix(text, Math.max(0, maxLength));
  }

  /** The id of a vocabulary token (as tokenizer.json spells it), undefined when there is none. */
  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token) ?? undefined;
  }

  /** Writes tokenizer.json (and tokenizer_config.json when it was read) into dir, each atomically. */
  save(dir: string): void {
    atomicWriteText(join(dir, 'tokenizer.json'), this.json);
    if (this.configJson !== undefined) atomicWriteText(join(dir, 'tokenizer_config.json'), this.configJson);
  }

  /**
   * The first n tokens of body(text), tokenizing only as much of the text as they need (a 1 MB text
   * truncated to 254 tokens would otherwise be tokenized whole). Where the tokenizer is word-local
   * (see wordLocal), the tokens of text up to an ASCII whitespace character are exactly the first
   * tokens of the whole text; such a prefix is tried, grown until it yields n tokens (a token may
   * stand for many characters, e.g. [UNK] or removed control characters, so no length can be
   * guessed safely), and the whole text is tokenized when no prefix suffices.
   */
  private bodyPrefix(text: string, n: number): number[] {
    if (this.wordLocal) {
      for (let chars = PREFIX_CHARS_PER_TOKEN * n + 64; chars < text.length; chars *= 4) {
        const cut = whitespaceAtOrBefore(text, chars);
        if (cut <= 0) continue;
        const ids = this.body(text.slice(0, cut));
        if (ids.length >= n) return ids.slice(0, n);
      }
    }
    return this.body(text).slice(0, n);
  }

  /** [CLS] text [SEP] (per the template), the text truncated so the whole fits in maxLength. */
  encode(text: string, maxLength: number): Int32Array {
    const a = this.bodyPrefix(text, Math.max(0, maxLength - this.specialsSingle));
    return assemble(this.single, a, []).ids;
  }

  /** [CLS] a [SEP] b [SEP] with token type ids, longest-first truncation to maxLength. */
  encodePair(a: string, b: string, maxLength: number): Encoded {
    let x = this.body(a), y = this.body(b);
    const specials = this.pair.reduce((n, p) => n + (p.kind === 'special' ? p.ids.length : 0), 0);
    const target = Math.max(0, maxLength - specials);
    if (x.length + y.length > target) {
      const swap = x.length < y.length;
      const [longer, shorter] = swap ? [y, x] : [x, y];
      const keepShort = Math.min(shorter.length, Math.floor(target / 2));
      const l = longer.slice(0, target - keepShort), s = shorter.slice(0, keepShort);
      [x, y] = swap ? [s, l] : [l, s];
    }
    return assemble(this.pair, x, y);
  }

  idToToken(id: number): string {
    return this.tok.id_to_token(id) ?? `[${id}]`;
  }
}

/** The first prefix tried holds this many characters per wanted token (English averages 4 to 5). */
const PREFIX_CHARS_PER_TOKEN = 8;

/** The largest i <= at (i < text.length) with text[i] ASCII whitespace, or -1. */
function whitespaceAtOrBefore(text: string, at: number): number {
  for (let i = Math.min(at, text.length - 1); i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) return i;
  }
  return -1;
}

const WORD_LOCAL_NORMALIZERS = new Set(['BertNormalizer', 'Lowercase', 'NFD', 'NFKD', 'NFC', 'NFKC', 'StripAccents', 'Strip']);
const WHITESPACE_SPLITTERS = new Set(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit']);
const WORD_LOCAL_PRE_TOKENIZERS = new Set([...WHITESPACE_SPLITTERS, 'Punctuation', 'Digits']);

/**
 * Whether the tokens of a text cut just before an ASCII whitespace character are exactly the first
 * tokens of the whole text. True for the pipeline of BERT-style tokenizers, by construction: each
 * normalizer listed maps characters one by one (Unicode normalization and lower-casing never reach
 * across a space, a starter character without case), the pre-tokenizers listed split pieces on their
 * own and one of them at every whitespace character (which becomes no token), WordPiece tokenizes
 * each word on its own, and added
 * tokens (matched on the raw text) hold no whitespace. Anything else (Replace, Metaspace, byte-level
 * BPE, ...) is not assumed to be: its texts are tokenized whole.
 */
function isWordLocal(spec: Record<string, unknown>): boolean {
  const all = (step: unknown, allowed: Set<string>, optional: boolean): boolean => {
    if (step === null || step === undefined) return optional;
    if (typeof step !== 'object') return false;
    const s = step as { type?: unknown; normalizers?: unknown; pretokenizers?: unknown };
    if (s.type === 'Sequence') {
      const list = s.normalizers ?? s.pretokenizers;
      return Array.isArray(list) && list.every((x) => all(x, allowed, false));
    }
    return typeof s.type === 'string' && allowed.has(s.type);
  };
  const pre = spec.pre_tokenizer as { type?: unknown; pretokenizers?: unknown } | null | undefined;
  const steps = pre?.type === 'Sequence' && Array.isArray(pre.pretokenizers) ? (pre.pretokenizers as { type?: unknown }[]) : [pre];
  // WordPiece, named or (older files) told by its keys the way the tokenizer library tells it.
  const model = (spec.model ?? {}) as Record<string, unknown>;
  const wordPiece = model.type === 'WordPiece' ||
    (model.type === undefined && !Array.isArray(model.vocab) && 'continuing_subword_prefix' in model && 'unk_token' in model && !('merges' in model));
  const added = Array.isArray(spec.added_tokens) ? (spec.added_tokens as { content?: unknown }[]) : [];
  return (
    wordPiece &&
    all(spec.normalizer, WORD_LOCAL_NORMALIZERS, true) &&
    all(pre, WORD_LOCAL_PRE_TOKENIZERS, false) &&
    steps.some((p) => typeof p?.type === 'string' && WHITESPACE_SPLITTERS.has(p.type)) &&
    added.every((t) => typeof t.content === 'string' && !/\s/.test(t.content))
  );
}

function assemble(template: Piece[], a: number[], b: number[]): Encoded {
  const ids: number[] = [], types: number[] = [];
  for (const p of template) {
    const part = p.kind === 'special' ? p.ids : p.which === 'A' ? a : b;
    for (const id of part) {
      ids.push(id);
      types.push(p.typeId);
    }
  }
  return { ids: Int32Array.from(ids), typeIds: Int32Array.from(types) };
}

function templates(pp: Record<string, unknown> | null | undefined, file: string): [Piece[], Piece[]] {
  const A: Piece = { kind: 'seq', which: 'A', typeId: 0 };
  if (!pp) return [[A], [A, { kind: 'seq', which: 'B', typeId: 1 }]];
  const bad = (what: string) => new SpladeError(`${file}: post_processor: ${what}`, ErrorCode.corruptFile);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const tokenId = (v: unknown, what: string): number => {
    if (!Number.isInteger(v) || (v as number) < 0) throw bad(`${what} is not a token id (${JSON.stringify(v)})`);
    return v as number;
  };
  const typeId = (v: unknown): number => (v === undefined ? 0 : tokenId(v, 'a type_id'));
  if (pp.type === 'TemplateProcessing') {
    const specials = pp.special_tokens ?? {};
    if (!isObject(specials)) throw bad('special_tokens is not an object');
    const parse = (items: unknown, which: string): Piece[] => {
      if (!Array.isArray(items)) throw bad(`${which} is not a list`);
      return items.map((item): Piece => {
        if (isObject(item) && isObject(item.SpecialToken)) {
          const name = item.SpecialToken.id;
          const s = typeof name === 'string' ? specials[name] : undefined;
          if (!isObject(s) || !Array.isArray(s.ids)) throw bad(`${which} names an unknown special token ${JSON.stringify(name)}`);
          return { kind: 'special', ids: s.ids.map((id) => tokenId(id, `special token ${name}'s id`)), typeId: typeId(item.SpecialToken.type_id) };
        }
        if (isObject(item) && isObject(item.Sequence)) {
          return { kind: 'seq', which: item.Sequence.id === 'B' ? 'B' : 'A', typeId: typeId(item.Sequence.type_id) };
        }
        throw bad(`${which} holds an item that is neither a SpecialToken nor a Sequence`);
      });
    };
    return [parse(pp.single, 'single'), parse(pp.pair, 'pair')];
  }
  if (pp.type === 'Sequence') {
    // e.g. ByteLevel (offsets only, no ids) then TemplateProcessing: the one that adds tokens decides
    if (!Array.isArray(pp.processors)) throw bad('processors is not a list');
    const adding = pp.processors.filter((p) => isObject(p) && p.type !== 'ByteLevel');
    if (adding.length > 1) throw bad('more than one processor adds special tokens');
    return templates(adding[0] as Record<string, unknown> | undefined, file);
  }
  const special = (v: unknown, name: string): number => {
    if (!Array.isArray(v) || v.length !== 2) throw bad(`${name} is not a [token, id] pair`);
    return tokenId(v[1], `${name}'s id`);
  };
  if (pp.type === 'RobertaProcessing') {
    // <s> A </s> and <s> A </s></s> B </s>, every type id 0 (tokenizers' RobertaProcessing)
    const cls = special(pp.cls, 'cls'), sep = special(pp.sep, 'sep');
    return [
      [{ kind: 'special', ids: [cls], typeId: 0 }, A, { kind: 'special', ids: [sep], typeId: 0 }],
      [
        { kind: 'special', ids: [cls], typeId: 0 },
        A,
        { kind: 'special', ids: [sep, sep], typeId: 0 },
        { kind: 'seq', which: 'B', typeId: 0 },
        { kind: 'special', ids: [sep], typeId: 0 },
      ],
    ];
  }
  if (pp.type === 'BertProcessing') {
    const cls = special(pp.cls, 'cls'), sep = special(pp.sep, 'sep');
    return [
      [{ kind: 'special', ids: [cls], typeId: 0 }, A, { kind: 'special', ids: [sep], typeId: 0 }],
      [
        { kind: 'special', ids: [cls], typeId: 0 },
        A,
        { kind: 'special', ids: [sep], typeId: 0 },
        { kind: 'seq', which: 'B', typeId: 1 },
        { kind: 'special', ids: [sep], typeId: 1 },
      ],
    ];
  }
  throw new SpladeError(`${file}: unsupported post_processor type ${JSON.stringify(pp.type)}`, ErrorCode.unsupported);
}
