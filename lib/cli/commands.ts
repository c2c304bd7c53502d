// The CLI's command table: name, one-line summary, and the module that runs it.
export interface CommandModule {
  run(argv: string[]): Promise<number | void>;
}
export interface Command {
  summary: string;
  load(): Promise<CommandModule>;
}

export const commands: Record<string, Command> = {
  bench: { summary: 'latency of every search algorithm on an index, or encoding throughput of a model', load: () => import('./commands/bench.js') },
  demo: { summary: 'index a bundled collection with BM25 and SPLADE, search it, print the metrics', load: () => import('./commands/demo.js') },
  encode: { summary: 'encode a corpus or queries into SPLADE vectors (JSONL), resumable', load: () => import('./commands/encode.js') },
  index: { summary: 'build an inverted index from SPLADE vectors, or a BM25 index from a corpus', load: () => import('./commands/index.js') },
  mine: { summary: 'mine hard negatives with BM25, a SPLADE model, or both fused', load: () => import('./commands/mine.js') },
  score: { summary: 'add cross-encoder teacher scores to a negatives file (for distillation)', load: () => import('./commands/score.js') },
  search: { summary: 'answer queries against an index and write a TREC run', load: () => import('./commands/search.js') },
  serve: { summary: 'HTTP server over an index: search, documents, explanations, and a page to look at results', load: () => import('./commands/serve.js') },
  eval: { summary: 'score a TREC run against judgments (nDCG, MRR, recall, MAP, P)', load: () => import('./commands/eval.js') },
  fuse: { summary: 'fuse several TREC runs (score normalisation + weights, or RRF) into one', load: () => import('./commands/fuse.js') },
  export: { summary: 'write vectors for CIFF, Anserini, OpenSearch, Elasticsearch, Qdrant, Milvus, pgvector or Seismic', load: () => import('./commands/export.js') },
  recipe: { summary: 'run a training recipe (mine, score, train, index, evaluate stages) from recipes/ or a JSON file', load: () => import('./commands/recipe.js') },
  train: { summary: 'fine-tune a SPLADE model from a JSON config (mined negatives, resumable, logs and a plot)', load: () => import('./commands/train.js') },
  info: { summary: 'what the native core runs on (CPU kernels, threads, CUDA)', load: () => import('./commands/info.js') },
};
