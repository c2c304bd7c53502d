/*
 * `splade serve` as a library: an HTTP server over an InvertedIndex (a single file, or whatever
 * `InvertedIndex.open` opens, a live index directory included), optionally with a model that turns
 * text into queries and names the terms, and the documents' texts and vectors for /doc and /explain.
 *
 *   GET  /search?q=TEXT&k=10      the text's query vector searched; results best first
 *   POST /search                  { "vector": { "indices": [...], "values": [...] }, "k": 10 }
 *   GET  /doc/ID                  a document's text and heaviest terms
 *   GET  /explain?q=TEXT&id=ID    each term the query shares with the document, and its part of the score
 *   GET  /health                  the index and server state
 *   GET  /                        the page (web/)
 *
 * Answers are JSON; a bad request gets a 4xx and `{ error: { code, message } }`. At most
 * maxConcurrency requests are worked on at once (maxQueue more wait, the rest get 503), bodies are
 * capped at maxBody bytes, and close() stops accepting, lets the requests in progress finish, then
 * resolves.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ErrorCode, SpladeError, expectInteger, expectOneOf } from '../errors.js';
import type { SparseEncoder } from '../model/ensemble.js';
import type { TextMode } from '../model/idf-query.js';
import { InvertedIndex, type SearchAlgorithm } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import { DocumentStore } from './documents.js';
import { explainScore } from './explain.js';
import { HttpError, intParam, parseJson, readBody, requiredParam, sendError, sendJson } from './http.js';
import { Limiter } from './limiter.js';
import { loadPage, type Asset } from './page.js';
import { QueryEncoder, bareTerms, type QueryWeights, type TermView } from './queries.js';

export type ExactAlgorithm = Exclude<SearchAlgorithm, 'approximate'>;
export const EXACT_ALGORITHMS: readonly ExactAlgorithm[] = ['exhaustive', 'wand', 'maxscore', 'bmw', 'bmp'];

export interface ServeOptions {
  /** The index, or a path InvertedIndex.open takes (an index file, or a live index directory). */
  index: InvertedIndex | string;
  /** Encodes text queries (GET /search, /explain) and names terms; without it only POST /search with a vector searches. */
  model?: SparseEncoder;
  /** 'model' (default): the model's query side; 'idf': count x idf over the documents' texts (needs docs with texts). */
  queryWeights?: QueryWeights;
  /** How texts reach the model, as the index was encoded: 'raw' (default) or 'words'. */
  text?: TextMode;
  /** Document texts and vectors by external id, for /doc, /explain, result snippets and idf weights. */
  docs?: DocumentStore;
  /** Search algorithm (default 'maxscore'; every exact one returns the same results). */
  algorithm?: ExactAlgorithm;
  /** Requests worked on at once (default 64). */
  maxConcurrency?: number;
  /** Requests waiting beyond those before 503s are answered (default 4 x maxConcurrency). */
  maxQueue?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBody?: number;
  /** Largest k (default 1000; the index allows 10000). */
  maxK?: number;
  /** Longest q in characters (default 4096). */
  maxQueryChars?: number;
  /** Where unexpected errors are reported (default console.error). */
  log?: (message: string) => void;
}

export interface SpladeServer {
  readonly http: Server;
  /** Starts listening (port 0: any free port) and resolves with the base URL, e.g. http://127.0.0.1:8080. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops accepting connections, finishes the requests in progress, then resolves (and releases an index it opened from a path). Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_K = 10;
const DEFAULT_TERMS = 32;
const MAX_TERMS = 1000;
const SNIPPET_CHARS = 300;
// How long close() waits for requests in progress before cutting the connections that carry them.
const CLOSE_GRACE_MS = 30_000;

export function createServer(opts: ServeOptions): SpladeServer {
  if (opts === null || typeof opts !== 'object') throw new SpladeError('Expected an options object { index, ... } for createServer', ErrorCode.invalidArgument);
  const ownIndex = typeof opts.index === 'string';
  const index = typeof opts.index === 'string' ? InvertedIndex.open(opts.index) : opts.index;
  if (!(index instanceof InvertedIndex)) throw new SpladeError('Expected an InvertedIndex or a path for index', ErrorCode.invalidArgument);
  const docs = opts.docs ?? new DocumentStore();
  const weights = opts.queryWeights ?? 'model';
  if (weights === 'idf' && !opts.model) throw new SpladeError("queryWeights 'idf' needs a model (its tokenizer splits queries into word pieces)", ErrorCode.invalidArgument);
  const queries = opts.model ? QueryEncoder.create(opts.model, weights, opts.text ?? 'raw', () => docs.allTexts()) : null;
  const algorithm = expectOneOf('algorithm', opts.algorithm ?? 'maxscore', EXACT_ALGORITHMS);
  const maxConcurrency = expectInteger('maxConcurrency', opts.maxConcurrency ?? 64, 1, 1 << 16);
  const limiter = new Limiter(maxConcurrency, expectInteger('maxQueue', opts.maxQueue ?? 4 * maxConcurrency, 0, 1 << 20));
  const maxBody = expectInteger('maxBody', opts.maxBody ?? 1 << 20, 1);
  const maxK = expectInteger('maxK', opts.maxK ?? 1000, 1, 10_000);
  const maxQueryChars = expectInteger('maxQueryChars', opts.maxQueryChars ?? 4096, 1);
  const log = opts.log ?? ((m: string) => console.error(m));
  const page = loadPage();
  const vocabSize = index.vocabSize;

  const needQueries = (): QueryEncoder => {
    if (!queries) throw new HttpError(400, 'no_model', 'this server has no model to encode text queries; POST /search with a vector');
    return queries;
  };
  const terms = (v: SparseVector, text: string | undefined, top: number): TermView[] => (queries ? queries.terms(v, text, top) : bareTerms(v, top));

  function search(vector: SparseVector, k: number) {
    const r = index.search(vector, { k, algorithm });
    return Array.from(r.ids, (n, i) => {
      const id = r.docIds ? r.docIds[i] : String(n);
      const text = docs.get(id)?.text;
      return text === undefined ? { id, score: r.scores[i] } : { id, score: r.scores[i], text: snippet(text) };
    });
  }

  /** The document's vector: the one the index was built from when given, else its text encoded by the model. */
  async function documentVector(id: string): Promise<{ vector: SparseVector; source: 'vectors' | 'encoded' } | null> {
    const d = docs.get(id);
    if (d?.vector) return { vector: d.vector, source: 'vectors' };
    if (d?.text !== undefined && queries) {
      return { vector: await queries.encodeDocument(d.text), source: 'encoded' };
    }
    return null;
  }

  const routes: Record<string, Partial<Record<string, (req: IncomingMessage, url: URL) => Promise<unknown> | unknown>>> = {
    '/search': {
      GET: async (_req, url) => {
        const t0 = performance.now();
        const q = requiredParam(url.searchParams, 'q', maxQueryChars);
        const k = intParam('k', url.searchParams.get('k'), DEFAULT_K, 1, maxK);
        const top = intParam('terms', url.searchParams.get('terms'), DEFAULT_TERMS, 0, MAX_TERMS);
        const vector = await needQueries().encode(q);
        const results = search(vector, k);
        return { results, tookMs: performance.now() - t0, query: { terms: needQueries().queryTerms(vector, q, top) } };
      },
      POST: async (req) => {
        const t0 = performance.now();
        const body = parseJson(await readBody(req, maxBody));
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'invalid_body', 'the body must be a JSON object { "vector": { "indices": [...], "values": [...] }, "k": 10 }');
        const { vector: raw, k: rawK } = body as { vector?: unknown; k?: unknown };
        const k = intParam('k', rawK, DEFAULT_K, 1, maxK);
        const vector = parseVector(raw, vocabSize);
        return { results: search(vector, k), tookMs: performance.now() - t0 };
      },
    },
    '/explain': {
      GET: async (_req, url) => {
        const q = requiredParam(url.searchParams, 'q', maxQueryChars);
        const id = requiredParam(url.searchParams, 'id', maxQueryChars);
        const enc = needQueries();
        const query = await enc.encode(q);
        const doc = await documentVector(id);
        if (!doc) throw unknownDocument(id, docs);
        const { score, terms: parts } = explainScore(query, doc.vector, index);
        return {
          id, score, documentVector: doc.source, query: { terms: enc.queryTerms(query, q, MAX_TERMS) },
          terms: parts.map((p) => ({ ...p, token: enc.token(p.term) })),
        };
      },
    },
    '/health': {
      GET: () => ({
        status: 'ok', numDocs: index.numDocs, numPostings: index.numPostings, vocabSize,
        queryWeights: queries ? queries.weights : null, documents: { texts: docs.texts, vectors: docs.vectors },
        requests: { active: limiter.active, waiting: limiter.waiting, maxConcurrency },
      }),
    },
  };

  async function docRoute(url: URL): Promise<unknown> {
    let id: string;
    try {
      id = decodeURIComponent(url.pathname.slice('/doc/'.length));
    } catch {
      throw new HttpError(400, 'invalid_parameter', 'the document id in the path is not valid percent-encoding');
    }
    if (id === '') throw new HttpError(400, 'missing_parameter', 'GET /doc/ID needs a document id');
    const top = intParam('terms', url.searchParams.get('terms'), DEFAULT_TERMS, 0, MAX_TERMS);
    const d = docs.get(id);
    const doc = await documentVector(id);
    if (!d && !doc) throw unknownDocument(id, docs);
    return {
      id, text: d?.text ?? null, documentVector: doc?.source ?? null, nnz: doc ? doc.vector.indices.length : null,
      terms: doc ? terms(doc.vector, d?.text, top) : [],
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const asset: Asset | undefined = page.get(url.pathname);
    if (asset) {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, url.pathname, ['GET']);
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length });
      res.end(method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (url.pathname.startsWith('/doc/')) {
      if (method !== 'GET') throw methodNotAllowed(method, url.pathname, ['GET']);
      sendJson(res, 200, await docRoute(url));
      return;
    }
    const route = routes[url.pathname];
    if (!route) throw new HttpError(404, 'not_found', `no route ${url.pathname} (try /search, /doc/ID, /explain, /health or /)`);
    const fn = route[method];
    if (!fn) throw methodNotAllowed(method, url.pathname, Object.keys(route));
    sendJson(res, 200, await fn(req, url));
  }

  let closing: Promise<void> | null = null;
  const server = createHttpServer((req, res) => {
    if (closing) res.setHeader('connection', 'close');
    limiter.run(() => handle(req, res)).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, toHttpError(err, log));
    });
  });

  return {
    http: server,
    listen(port = 0, host = '127.0.0.1') {
      expectInteger('port', port, 0, 65535);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
        });
      });
    },
    close() {
      closing ??= new Promise<void>((done) => {
        const resolve = () => {
          if (ownIndex) index.dispose(); // opened here from a path: nobody else holds it
          done();
        };
        if (!server.listening) return resolve();
        // Stop accepting; idle keep-alive connections are closed now, busy ones once their answer
        // (sent with `connection: close`) is written; a request that never ends is cut after the grace.
        server.close(() => resolve());
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.once('close', () => {
          clearInterval(idle);
          clearTimeout(cut);
        });
      });
      return closing;
    },
  };
}

/** A vector from JSON: arrays of equal length, term ids ascending and below the index's vocabulary, weights finite and > 0. */
export function parseVector(raw: unknown, vocabSize: number): SparseVector {
  const bad = (message: string) => new HttpError(400, 'invalid_vector', message);
  if (raw === null || typeof raw !== 'object') throw bad('"vector" must be an object { "indices": [...], "values": [...] }');
  const { indices, values } = raw as { indices?: unknown; values?: unknown };
  if (!Array.isArray(indices) || !Array.isArray(values)) throw bad('"vector.indices" and "vector.values" must be arrays');
  if (indices.length !== values.length) throw bad(`"vector.indices" has ${indices.length} entries but "vector.values" ${values.length}`);
  const out = { indices: new Uint32Array(indices.length), values: new Float32Array(values.length) };
  for (let i = 0; i < indices.length; i++) {
    const t = indices[i], w = values[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocabSize) throw bad(`vector.indices[${i}] must be a term id in [0, ${vocabSize}), got ${JSON.stringify(t)}`);
    if (i > 0 && t <= out.indices[i - 1]) throw bad(`vector.indices must be strictly ascending (index ${i})`);
    if (typeof w !== 'number' || !Number.isFinite(w) || !(w > 0)) throw bad(`vector.values[${i}] must be a finite number > 0, got ${JSON.stringify(w)}`);
    out.indices[i] = t;
    out.values[i] = w;
  }
  return out;
}

function snippet(text: string): string {
  return text.length <= SNIPPET_CHARS ? text : `${text.slice(0, SNIPPET_CHARS)}…`;
}

function unknownDocument(id: string, docs: DocumentStore): HttpError {
  const what = docs.texts + docs.vectors === 0 ? ' (this server was given no document texts or vectors)' : '';
  return new HttpError(404, 'unknown_document', `no document ${JSON.stringify(id)}${what}`);
}

function methodNotAllowed(method: string, path: string, allowed: string[]): HttpError {
  return new HttpError(405, 'method_not_allowed', `${method} ${path} is not served; use ${allowed.join(' or ')}`);
}

/** Client mistakes the library catches become 400s; anything else is the server's fault (500, logged). */
function toHttpError(err: unknown, log: (m: string) => void): HttpError {
  if (err instanceof HttpError) return err;
  const code = (err as { code?: unknown })?.code;
  if (err instanceof SpladeError && (code === ErrorCode.invalidArgument || code === ErrorCode.outOfRange)) {
    return new HttpError(400, 'invalid_argument', err.message);
  }
  log(`splade serve: ${(err as Error)?.stack ?? String(err)}`);
  return new HttpError(500, 'internal', `the server failed: ${(err as Error)?.message ?? String(err)}`);
}
