// splade: learned sparse retrieval. The pipeline, in the order a user meets it:
// load -> encode -> index -> search -> train -> mine -> evaluate -> export.
export { SpladeError, ErrorCode } from './errors.js';
export { info, setCpu, setThreads, type NativeInfo, type CpuKind } from './info.js';
export {
  SpladeModel,
  type EncodeOptions,
  type EncodeKind,
  type LoadOptions,
  type Pooling,
  type SaveOptions,
} from './model/splade-model.js';
export { SpladeEnsemble, loadSparseEncoder, type SparseEncoder } from './model/ensemble.js';
export { CrossEncoder, type CrossEncoderLoadOptions, type ScoreOptions } from './model/cross-encoder.js';
export { InvertedIndex } from './search/inverted-index.js';
// The live index: add, update and delete while searching; InvertedIndex.open(dir) reads its commits.
export { IndexWriter, DEFAULT_LIVE_SCALE, DEFAULT_LIVE_VOCAB, type IndexWriterOptions, type LiveDocument } from './live/index-writer.js';
export type { BuildOptions, SearchAlgorithm, SearchOptions, SearchBatchOptions, SearchResult } from './search/inverted-index.js';
export { checkSparseVector, type SparseVector } from './sparse.js';
export { resolveModel, isHubId, type ResolveModelOptions, type ResolveProgress } from './model/hub.js';
export * from './export/index.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './eval/evaluate.js';
export { Bm25Index, type Bm25BuildOptions, type Bm25SearchResult } from './bm25/index.js';
export { wordAnalyzer, type TokenizeFn, type WordAnalyzerOptions } from './bm25/analyzer.js';
export { porterStem } from './bm25/porter.js';
export { ENGLISH_STOP_WORDS } from './bm25/stopwords.js';
export type { CorpusDoc, Qrels, Query, Run, RunEntry } from './data/types.js';
export { readLines, type Line } from './data/lines.js';
export { readBeirCorpus, readBeirQueries, loadBeir, type BeirDataset } from './data/beir.js';
export { readMsMarcoCollection, readMsMarcoQueries } from './data/msmarco.js';
export { readQrels, type QrelsFormat } from './data/qrels.js';
export { readRun, writeRun, type WriteRunOptions } from './data/trec.js';
export { mineNegatives, bm25Retriever, spladeRetriever, type MineOptions, type NegativesRecord, type Retriever } from './mine.js';
export { reciprocalRankFusion, scoreSumFusion, fuseRuns, type Ranking } from './eval/fusion.js';
export { sgemm, sgemmAsync, fmaPeak, packB, type SgemmOptions, type PackedB, type PackBOptions } from './kernels.js';
export { Trainer, type TrainBatch, type MlmBatch, type StepStats, type TrainerOptions, type ResolvedTrainerOptions } from './train/trainer.js';
export { trainJob, type TrainJobOptions } from './train/job.js';
export type { TrainConfig, TrainJobConfig } from './train/config.js';
export { scoreNegatives, type ScoreNegativesOptions } from './train/teacher-scores.js';
export { CrossEncoderTrainer, type CrossTrainBatch, type CrossTrainerOptions, type CrossStepStats, type CrossLossName } from './train/cross-trainer.js';
// Recipes: multi-stage training runs from JSON (splade recipe), and their building blocks.
export { parseRecipe, readRecipe, type Recipe, type Stage, type StageKind } from './recipe/recipe.js';
export { runRecipe, type RunRecipeOptions } from './recipe/runner.js';
export { pseudoQueries, type PseudoQueryOptions, type PseudoQuerySet } from './recipe/pseudo-queries.js';
export { mergeCollections, readCollection, writeCollection, type Collection } from './data/collections.js';
export { WordPieceIdf, corpusWordPieceIdf, modelWordPieces, bm25QueryText, textForModel, TEXT_MODES, type TextMode, type WordPieces } from './model/idf-query.js';
// splade serve as a library: an HTTP server over an index, with the page in web/.
export { createServer, parseVector, EXACT_ALGORITHMS, type ServeOptions, type SpladeServer, type ExactAlgorithm } from './serve/server.js';
export { DocumentStore, type StoredDocument } from './serve/documents.js';
export { explainScore, type Explanation, type TermContribution, type ImpactScale } from './serve/explain.js';
export { QUERY_WEIGHTS, type QueryWeights, type TermView } from './serve/queries.js';
