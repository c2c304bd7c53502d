/*
 * Lucene's classic English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, the StopAnalyzer list):
 * 33 words. Anserini's default English analyzer and the bm25s Python library's "en" list use this
 * same set, which is why BM25 here removes exactly these words by default.
 */
export const ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it',
  'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they',
  'this', 'to', 'was', 'will', 'with',
]);
