/*
 * Pseudo-queries for a corpus without training queries (the domain recipe): each document gives one
 * query, either its title or one of its sentences, and the document *without* that text becomes the
 * query's positive, so the model cannot learn the pair by copying (the inverse cloze task for a
 * sentence; title -> body for a title). The output is a training set in the BEIR layout: the query
 * texts, the qrels (query -> its document), and the corpus with every used text removed from its
 * document (mine negatives and train against that corpus, so no document still holds its query).
 * Deterministic for a seed: a document's choice depends only on (seed, document id).
 */
import type { CorpusDoc, Qrels, Query } from '../data/types.js';
import { expectInteger, expectOneOf, invalidArgument } from '../errors.js';
import { hashSeed, mulberry32 } from '../random.js';

export type PseudoQuerySource = 'title' | 'sentence' | 'auto';

export interface PseudoQueryOptions {
  /** 'title': only documents with a title; 'sentence': a sentence of the text; 'auto': the title when there is one, else a sentence (default). */
  source?: PseudoQuerySource;
  /** Words a pseudo-query must have (default 3 to 40). */
  minWords?: number;
  maxWords?: number;
  /** Words the remaining document must keep (default 10). */
  minRestWords?: number;
  /**
   * When neither the title nor a sentence gives a query (texts without punctuation, as NPL's), take
   * a span of a quarter of the words (at least minWords, at most 12) at a seeded position (default false).
   */
  span?: boolean;
  seed?: number;
}

export interface PseudoQuerySet {
  queries: Query[];
  qrels: Qrels;
  /** Every input document, with its pseudo-query's text removed where it gave one. */
  corpus: CorpusDoc[];
}

const words = (s: string) => s.split(/\s+/).filter((w) => w !== '').length;

/** Sentences: split after . ! ? followed by white space (good enough for abstracts). */
export function splitSentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).map((s) => s.trim()).filter((s) => s !== '');
}

/** The query (and the document left without it) that doc gives, or null when it gives none. */
function pseudoQuery(doc: CorpusDoc, o: Required<PseudoQueryOptions>): { query: string; rest: CorpusDoc } | null {
  const okQuery = (s: string) => words(s) >= o.minWords && words(s) <= o.maxWords;
  const title = doc.title.trim();
  if (o.source !== 'sentence' && title !== '' && okQuery(title)) {
    // Some collections (Cranfield) repeat the title at the start of the text: drop that copy too.
    let body = doc.text.trim();
    if (body.toLowerCase().startsWith(title.toLowerCase())) body = body.slice(title.length).trim();
    if (words(body) >= o.minRestWords) return { query: title, rest: { id: doc.id, title: '', text: body } };
  }
  if (o.source === 'title') return null;
  const text = title !== '' ? `${title} ${doc.text}` : doc.text;
  const sentences = splitSentences(text);
  const candidates = sentences.map((s, i) => i).filter((i) => okQuery(sentences[i]));
  if (candidates.length > 0 && sentences.length >= 2) {
    const pick = candidates[Math.floor(mulberry32(hashSeed(o.seed, doc.id))() * candidates.length)];
    const rest = sentences.filter((_, i) => i !== pick).join(' ');
    if (words(rest) >= o.minRestWords) return { query: sentences[pick], rest: { id: doc.id, title: '', text: rest } };
  }
  return o.span ? wordSpan(doc.id, text, o) : null;
}

/** A seeded span of about a quarter of the words as the query, the words around it as the rest. */
function wordSpan(id: string, text: string, o: Required<PseudoQueryOptions>): { query: string; rest: CorpusDoc } | null {
  const w = text.split(/\s+/).filter((x) => x !== '');
  const n = Math.min(12, o.maxWords, Math.max(o.minWords, Math.round(w.length / 4)));
  if (w.length - n < o.minRestWords) return null;
  const at = Math.floor(mulberry32(hashSeed(o.seed, `span:${id}`))() * (w.length - n + 1));
  return { query: w.slice(at, at + n).join(' '), rest: { id, title: '', text: [...w.slice(0, at), ...w.slice(at + n)].join(' ') } };
}

/** One pseudo-query per document that has a usable title or sentence (query id = `pq:<doc id>`). */
export function pseudoQueries(docs: Iterable<CorpusDoc>, opts: PseudoQueryOptions = {}): PseudoQuerySet {
  const o: Required<PseudoQueryOptions> = {
    source: expectOneOf('source', opts.source ?? 'auto', ['title', 'sentence', 'auto'] as const),
    minWords: expectInteger('minWords', opts.minWords ?? 3, 1),
    maxWords: expectInteger('maxWords', opts.maxWords ?? 40, 1),
    minRestWords: expectInteger('minRestWords', opts.minRestWords ?? 10, 1),
    seed: expectInteger('seed', opts.seed ?? 0, 0, 2 ** 31 - 1),
    span: opts.span ?? false,
  };
  if (typeof o.span !== 'boolean') invalidArgument('span', 'a boolean', o.span);
  const out: PseudoQuerySet = { queries: [], qrels: Object.create(null) as Qrels, corpus: [] };
  for (const doc of docs) {
    const p = pseudoQuery(doc, o);
    if (!p) {
      out.corpus.push(doc);
      continue;
    }
    const qid = `pq:${doc.id}`;
    out.queries.push({ id: qid, text: p.query });
    out.qrels[qid] = { [doc.id]: 1 };
    out.corpus.push(p.rest);
  }
  return out;
}
