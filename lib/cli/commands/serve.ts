import { SpladeError } from '../../errors.js';
import { loadSparseEncoder } from '../../model/ensemble.js';
import { DocumentStore } from '../../serve/documents.js';
import { QUERY_WEIGHTS, type QueryWeights } from '../../serve/queries.js';
import { EXACT_ALGORITHMS, createServer, type ExactAlgorithm } from '../../serve/server.js';
import { MODEL_FLAGS_HELP, intOption, modelFlags, modelLoadOptions, parse, required } from '../args.js';
import { textMode } from '../text-options.js';

const HELP = `usage: splade serve --index PATH [--model DIR] [--corpus corpus.jsonl] [--vectors docs.jsonl] [options]

An HTTP server over an index (an index file, or a live index directory), with a page at / to search
it and see the terms. Prints 'listening on http://HOST:PORT' once it listens; SIGTERM or SIGINT
stops accepting, finishes the requests in progress and exits 0.

  GET  /search?q=TEXT&k=10        text queries (needs --model)
  POST /search                    {"vector": {"indices": [...], "values": [...]}, "k": 10}
  GET  /doc/ID                    a document's text and heaviest terms
  GET  /explain?q=TEXT&id=ID      each shared term's part of the document's score
  GET  /health

options:
  --model DIR[,DIR...]    encodes text queries and names the terms
  --query-weights model|idf
                          model (default): the model's query side; idf: each query the bag of its
                          word pieces weighted by count x idf over --corpus (no encoder pass)
  --corpus FILE           the documents' texts (BEIR corpus.jsonl or collection.tsv): /doc, result
                          snippets, and the idf of --query-weights idf
  --vectors FILE          the document vectors the index was built from ('splade encode' JSONL):
                          /doc's terms and /explain (without it, documents are encoded by --model)
  --text raw|words        what the model sees, as when the index was encoded (default raw)
  --host HOST             default 127.0.0.1
  --port N                default 8080; 0 takes any free port
  --max-concurrency N     requests worked on at once (default 64; 4x as many more wait, then 503)
  --max-body BYTES        largest request body (default 1048576)
  --max-k N               largest k (default 1000)
  --algorithm NAME        exhaustive, wand, maxscore (default), bmw or bmp: the same results
${MODEL_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    index: { type: 'string' }, model: { type: 'string' }, 'query-weights': { type: 'string' }, corpus: { type: 'string' },
    vectors: { type: 'string' }, text: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
    'max-concurrency': { type: 'string' }, 'max-body': { type: 'string' }, 'max-k': { type: 'string' }, algorithm: { type: 'string' }, ...modelFlags,
  }, HELP);
  if (!v) return 0;
  const weights = (v['query-weights'] ?? 'model') as QueryWeights;
  if (!QUERY_WEIGHTS.includes(weights)) throw new SpladeError(`--query-weights must be one of ${QUERY_WEIGHTS.join(', ')}, got ${JSON.stringify(v['query-weights'])}`);
  if (weights === 'idf' && (v.corpus === undefined || v.model === undefined)) throw new SpladeError('--query-weights idf needs --model (its tokenizer) and --corpus (the idf of its texts)');
  const algorithm = (v.algorithm ?? 'maxscore') as ExactAlgorithm;
  if (!EXACT_ALGORITHMS.includes(algorithm)) throw new SpladeError(`--algorithm must be one of ${EXACT_ALGORITHMS.join(', ')}, got ${JSON.stringify(v.algorithm)}`);
  const model = v.model ? await loadSparseEncoder(v.model as string, modelLoadOptions(v)) : undefined;
  const docs = await DocumentStore.load({ corpus: v.corpus as string | undefined, vectors: v.vectors as string | undefined });
  const server = createServer({
    index: required(v, 'index'), model, docs, algorithm, queryWeights: weights, text: textMode(v),
    maxConcurrency: intOption(v, 'max-concurrency', 64), maxBody: intOption(v, 'max-body', 1 << 20), maxK: intOption(v, 'max-k', 1000),
  });
  const url = await server.listen(intOption(v, 'port', 8080, 0), (v.host as string | undefined) ?? '127.0.0.1');
  console.log(`listening on ${url}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`splade serve: ${signal}: finishing the requests in progress`);
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
