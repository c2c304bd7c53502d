/*
 * Text analysis for BM25: text -> terms.
 *
 * 'words' (default), roughly Lucene's StandardAnalyzer + English stop filter:
 *   1. lower-case (String.prototype.toLowerCase, locale-independent);
 *   2. split on every character that is not a Unicode letter or digit (\p{L}\p{M}\p{N}); so
 *      "wing-body" -> wing, body; "3.5" -> 3, 5; "o'brien" -> o, brien; underscores split too;
 *   3. drop terms shorter than `minLength` (default 2: single characters go, as with the
 *      scikit-learn/bm25s token pattern \b\w\w+\b the outside baseline used; Lucene's
 *      StandardAnalyzer would keep them: pass minLength 1 for that). On CACM single characters
 *      ("c", "s" of possessives, "i/o") cost 0.02 nDCG@10 against the baseline;
 *   4. drop English stop words (Lucene's classic 33-word list, lib/bm25/stopwords.ts), unless
 *      `stopwords: false` or another set is given;
 *   5. optionally Porter-stem (lib/bm25/porter.ts; stemming happens after stop-word removal).
 * Differences from Lucene's StandardAnalyzer (UAX#29 word breaks): StandardAnalyzer keeps "3.5",
 * "o'brien" and "wing_body" as one token and splits CJK per character; this splitter does not.
 *
 * 'wordpiece': any `(text) => string[]` tokenizer (the encoder's WordPiece tokenizer can be passed
 * as `tokenize`); it is used as is, with no lower-casing, stop words or stemming on top.
 */
import { ErrorCode, SpladeError } from '../errors.js';
import { porterStem } from './porter.js';
import { ENGLISH_STOP_WORDS } from './stopwords.js';

/** A tokenizer hook: text -> terms (e.g. WordPiece pieces from the encoder's tokenizer). */
export type TokenizeFn = (text: string) => string[];

export interface WordAnalyzerOptions {
  /** Remove stop words: true (default) = Lucene's English list, false = none, or your own set. */
  stopwords?: boolean | Iterable<string>;
  /** Porter (1980) stemming. Default false. */
  stem?: boolean;
  /** Minimum term length in UTF-16 units. Default 2 (single characters dropped, as the baseline's tokenizer does). */
  minLength?: number;
}

/** What is saved with an index, so that open() analyses queries exactly as build() did documents. */
export interface AnalyzerConfig {
  kind: 'words' | 'wordpiece';
  stopwords: string[] | null; // null: the default English list; [] none
  stem: boolean;
  minLength: number;
}

const SPLIT = /[^\p{L}\p{M}\p{N}]+/u;

export function wordAnalyzer(opts: WordAnalyzerOptions = {}): TokenizeFn {
  const stop: ReadonlySet<string> =
    opts.stopwords === undefined || opts.stopwords === true ? ENGLISH_STOP_WORDS
      : opts.stopwords === false ? new Set()
        : new Set(Array.from(opts.stopwords, (w) => w.toLowerCase()));
  const stem = opts.stem ?? false;
  const minLength = opts.minLength ?? 2;
  if (!Number.isInteger(minLength) || minLength < 1) {
    throw new SpladeError(`Expected a positive integer for minLength but received ${String(minLength)}`, ErrorCode.invalidArgument);
  }
  return (text: string): string[] => {
    const out: string[] = [];
    for (const t of text.toLowerCase().split(SPLIT)) {
      if (t.length < minLength || stop.has(t)) continue;
      out.push(stem ? porterStem(t) : t);
    }
    return out;
  };
}

export function analyzerConfig(kind: 'words' | 'wordpiece', opts: WordAnalyzerOptions): AnalyzerConfig {
  return {
    kind,
    stopwords: opts.stopwords === undefined || opts.stopwords === true ? null : opts.stopwords === false ? [] : Array.from(opts.stopwords),
    stem: opts.stem ?? false,
    minLength: opts.minLength ?? 2,
  };
}

/** The tokenizer a config describes; 'wordpiece' needs the caller's hook. */
export function analyzerFromConfig(cfg: AnalyzerConfig, tokenize?: TokenizeFn): TokenizeFn {
  if (cfg.kind === 'wordpiece') {
    if (typeof tokenize !== 'function') {
      throw new SpladeError("analyzer 'wordpiece' needs a tokenize function (text) => string[] (e.g. the encoder's tokenizer) in the options", ErrorCode.invalidArgument);
    }
    return tokenize;
  }
  return wordAnalyzer({ stopwords: cfg.stopwords ?? true, stem: cfg.stem, minLength: cfg.minLength });
}
