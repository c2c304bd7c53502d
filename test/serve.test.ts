// `splade serve` over HTTP: a server on an ephemeral port, asked with node's fetch. Answers are
// checked against the library called directly (the index's own search, the idf table, the model's
// vectors); bad requests get their 4xx and JSON error while the server keeps serving; the
// concurrency bound and the graceful close are driven by a model whose encoding waits on a gate.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvertedIndex } from '../lib/index.js';
import { corpusWordPieceIdf } from '../lib/model/idf-query.js';
import type { SparseEncoder } from '../lib/model/ensemble.js';
import { DocumentStore } from '../lib/serve/documents.js';
import { explainScore } from '../lib/serve/explain.js';
import { Limiter } from '../lib/serve/limiter.js';
import { createServer, type SpladeServer } from '../lib/serve/server.js';
import { serveFixture, type ServeFixture } from './helpers/serve-fixture.js';

let fx: ServeFixture;
let index: InvertedIndex;
let docs: DocumentStore;
const servers: SpladeServer[] = [];

beforeAll(async () => {
  fx = await serveFixture();
  index = InvertedIndex.open(fx.indexPath);
  docs = await DocumentStore.load({ corpus: fx.corpusPath, vectors: fx.vectorsPath });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  index?.dispose();
  fx?.cleanup();
});

async function start(opts: Partial<Parameters<typeof createServer>[0]> = {}): Promise<string> {
  const s = createServer({ index, model: fx.model, docs, log: () => {}, ...opts });
  servers.push(s);
  return s.listen(0);
}

async function get(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, body: await res.json() };
}

async function post(url: string, body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { status: res.status, body: await res.json() };
}

/** A body of `bytes` bytes streamed in 64 KiB chunks (chunked encoding: the server cannot refuse it by its length). */
async function postStream(url: string, bytes: number): Promise<{ status: number; body: any }> {
  const chunk = new Uint8Array(1 << 16).fill(32);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= bytes) return c.close();
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
  const res = await fetch(url, { method: 'POST', body, duplex: 'half' } as RequestInit);
  return { status: res.status, body: await res.json() };
}

const QUERY = 'glucose levels in fetal plasma';

describe('splade serve: answers', () => {
  let base: string;
  beforeAll(async () => {
    base = await start();
  });

  it('GET /search encodes q with the model and answers what InvertedIndex.search answers', async () => {
    const [qv] = await fx.model.encode([QUERY], { kind: 'query' });
    const want = index.search(qv, { k: 7 });
    const { status, body } = await get(`${base}/search?q=${encodeURIComponent(QUERY)}&k=7`);
    expect(status).toBe(200);
    expect(body.results.map((r: any) => r.id)).toEqual(want.docIds);
    expect(body.results.map((r: any) => r.score)).toEqual(Array.from(want.scores));
    expect(body.results.length).toBe(7);
    expect(typeof body.tookMs).toBe('number');
    expect(body.results[0].text).toBe(fx.docs.find((d) => d.id === want.docIds![0])!.text.slice(0, 300) + (fx.docs.find((d) => d.id === want.docIds![0])!.text.length > 300 ? '…' : ''));
    // the query's terms: the vector's, heaviest first, named by the vocabulary
    const terms = body.query.terms;
    expect(terms.length).toBe(qv.indices.length);
    const tokens = fx.model.explain(qv).map((t) => t.token);
    expect(terms.map((t: any) => t.token)).toEqual(tokens);
    expect(terms.find((t: any) => t.token === 'glucose').inText).toBe(true);
  });

  it('POST /search with a vector answers what InvertedIndex.search answers', async () => {
    const vector = { indices: [2000, 5000, 16661], values: [0.5, 1.25, 2] };
    const [doc] = await fx.model.encode([fx.docs[3].text], { kind: 'document' });
    const q = { indices: Array.from(doc.indices), values: Array.from(doc.values) };
    for (const v of [vector, q]) {
      const want = index.search({ indices: Uint32Array.from(v.indices), values: Float32Array.from(v.values) }, { k: 5 });
      const { status, body } = await post(`${base}/search`, JSON.stringify({ vector: v, k: 5 }));
      expect(status).toBe(200);
      expect(body.results.map((r: any) => [r.id, r.score])).toEqual(want.docIds!.map((id, i) => [id, want.scores[i]]));
    }
  });

  it('GET /doc/ID gives the text and the heaviest terms of the indexed vector', async () => {
    const d = fx.docs[10];
    const { status, body } = await get(`${base}/doc/${encodeURIComponent(d.id)}?terms=5`);
    expect(status).toBe(200);
    expect(body.text).toBe(d.text);
    expect(body.documentVector).toBe('vectors');
    const v = docs.get(d.id)!.vector!;
    expect(body.nnz).toBe(v.indices.length);
    expect(body.terms.map((t: any) => [t.token, t.weight])).toEqual(fx.model.explain(v, 5).map((t) => [t.token, t.weight]));
    for (const t of body.terms) expect(t.inText).toBe(fx.model.tokenize(d.text, { maxLength: 1 << 20 }).includes(t.term));
  });

  it('GET /explain: the shared terms\' contributions add up bitwise to the score search returns', async () => {
    const [qv] = await fx.model.encode([QUERY], { kind: 'query' });
    const hits = index.search(qv, { k: 10 });
    for (let i = 0; i < hits.docIds!.length; i++) {
      const { status, body } = await get(`${base}/explain?q=${encodeURIComponent(QUERY)}&id=${encodeURIComponent(hits.docIds![i])}`);
      expect(status).toBe(200);
      expect(body.score).toBe(hits.scores[i]);
      const shared = new Set(Array.from(qv.indices).filter((t) => docs.get(hits.docIds![i])!.vector!.indices.includes(t)));
      expect(body.terms.map((t: any) => t.term).sort()).toEqual([...shared].sort());
      const contributions = body.terms.map((t: any) => t.contribution);
      expect(contributions).toEqual([...contributions].sort((a: number, b: number) => b - a));
      expect(Math.abs(contributions.reduce((a: number, b: number) => a + b, 0) - body.score)).toBeLessThan(1e-4 * body.score);
      for (const t of body.terms) expect(t.contribution).toBeCloseTo(t.queryWeight * t.documentWeight, 1);
    }
  });

  it('explainScore reproduces the index score on 16-bit impacts and a given scale too', () => {
    const vectors = fx.docs.map((d) => docs.get(d.id)!.vector!);
    const q = { indices: Uint32Array.from([1996, 2000, 5000, 16661, 20000]), values: Float32Array.from([0.3, 1.7, 0.9, 2.5, 1.1]) };
    for (const opts of [{ impactBits: 16 as const }, { scale: 1.1 }]) {
      const ix = InvertedIndex.build(vectors, { ...opts, vocabSize: 30522 });
      const hits = ix.search(q, { k: 20, algorithm: 'exhaustive' });
      hits.ids.forEach((n, i) => expect(explainScore(q, vectors[n], ix).score).toBe(hits.scores[i]));
      ix.dispose();
    }
  });

  it('GET /health', async () => {
    const { status, body } = await get(`${base}/health`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', numDocs: fx.docs.length, vocabSize: 30522, queryWeights: 'model', documents: { texts: fx.docs.length, vectors: fx.docs.length } });
  });

  it('serves the page and its script and style', async () => {
    for (const [path, type] of [['/', /text\/html/], ['/app.js', /javascript/], ['/style.css', /text\/css/]] as const) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
      expect((await res.text()).length).toBeGreaterThan(100);
    }
  });
});

describe('splade serve: idf query weights', () => {
  it('GET /search with queryWeights idf searches count x idf over the served texts', async () => {
    const base = await start({ queryWeights: 'idf' });
    const idf = await corpusWordPieceIdf(fx.model, fx.docs.map((d) => d.text));
    const want = index.search(idf.query(QUERY), { k: 10 });
    const { status, body } = await get(`${base}/search?q=${encodeURIComponent(QUERY)}`);
    expect(status).toBe(200);
    expect(body.results.map((r: any) => [r.id, r.score])).toEqual(want.docIds!.map((id, i) => [id, want.scores[i]]));
    // a bag of the query's own pieces: every term is in the text
    const pieces = Array.from(fx.model.tokenize(QUERY, { maxLength: 1 << 20 }));
    expect(body.query.terms.length).toBeGreaterThan(0);
    for (const t of body.query.terms) expect([t.inText, pieces.includes(t.term)]).toEqual([true, true]);
    expect((await get(`${base}/health`)).body.queryWeights).toBe('idf');
  });

  it('refuses idf weights without texts, and without a model', () => {
    expect(() => createServer({ index, model: fx.model, queryWeights: 'idf' })).toThrow(/corpus/);
    expect(() => createServer({ index, queryWeights: 'idf' })).toThrow(/model/);
  });
});

describe('splade serve: bad requests get a 4xx and a JSON error, and the server keeps serving', () => {
  let base: string;
  beforeAll(async () => {
    base = await start({ maxBody: 4096, maxK: 100 });
  });

  const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string]> = [
    ['missing q', () => get(`${base}/search?k=3`), 400, 'missing_parameter'],
    ['empty q', () => get(`${base}/search?q=%20`), 400, 'missing_parameter'],
    ['k = 0', () => get(`${base}/search?q=x&k=0`), 400, 'out_of_range'],
    ['k above max', () => get(`${base}/search?q=x&k=101`), 400, 'out_of_range'],
    ['k not a number', () => get(`${base}/search?q=x&k=ten`), 400, 'invalid_parameter'],
    ['k a fraction', () => get(`${base}/search?q=x&k=2.5`), 400, 'invalid_parameter'],
    ['q too long', () => get(`${base}/search?q=${'a'.repeat(5000)}`), 400, 'out_of_range'],
    ['huge body', () => post(`${base}/search`, JSON.stringify({ vector: { indices: Array.from({ length: 2000 }, (_, i) => i), values: Array(2000).fill(1) } })), 413, 'payload_too_large'],
    ['a 5 MB body', () => post(`${base}/search`, `{"vector": {"indices": [], "values": []}, "pad": "${'x'.repeat(5 << 20)}"}`), 413, 'payload_too_large'],
    ['a 5 MB body sent in chunks (no length given)', () => postStream(`${base}/search`, 5 << 20), 413, 'payload_too_large'],
    ['bad JSON', () => post(`${base}/search`, '{"vector": {'), 400, 'bad_json'],
    ['JSON not an object', () => post(`${base}/search`, '[1, 2]'), 400, 'invalid_body'],
    ['no vector', () => post(`${base}/search`, '{"k": 3}'), 400, 'invalid_vector'],
    ['lengths differ', () => post(`${base}/search`, '{"vector": {"indices": [1, 2], "values": [1]}}'), 400, 'invalid_vector'],
    ['term id past the vocabulary', () => post(`${base}/search`, '{"vector": {"indices": [30522], "values": [1]}}'), 400, 'invalid_vector'],
    ['indices not ascending', () => post(`${base}/search`, '{"vector": {"indices": [5, 3], "values": [1, 1]}}'), 400, 'invalid_vector'],
    ['negative weight', () => post(`${base}/search`, '{"vector": {"indices": [5], "values": [-1]}}'), 400, 'invalid_vector'],
    ['k in the body out of range', () => post(`${base}/search`, '{"vector": {"indices": [5], "values": [1]}, "k": 0}'), 400, 'out_of_range'],
    ['unknown document', () => get(`${base}/doc/no-such-doc`), 404, 'unknown_document'],
    ['explain of an unknown document', () => get(`${base}/explain?q=glucose&id=no-such-doc`), 404, 'unknown_document'],
    ['explain without id', () => get(`${base}/explain?q=glucose`), 400, 'missing_parameter'],
    ['bad percent-encoding', () => get(`${base}/doc/%E0%A4%A`), 400, 'invalid_parameter'],
    ['unknown route', () => get(`${base}/nothing-here`), 404, 'not_found'],
    ['wrong method', () => post(`${base}/health`, '{}'), 405, 'method_not_allowed'],
  ];

  for (const [name, ask, status, code] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      const r = await ask();
      expect(r.status).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(typeof r.body.error.message).toBe('string');
      expect((await get(`${base}/health`)).status).toBe(200);
    });
  }

  it('without a model, text queries are refused and vectors still searched', async () => {
    const bare = await start({ model: undefined });
    const r = await get(`${bare}/search?q=glucose`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('no_model');
    expect((await post(`${bare}/search`, '{"vector": {"indices": [5000], "values": [1]}}')).status).toBe(200);
  });
});

/** The fixture's model, with encoding held until release() (to have requests in progress on demand). */
function gatedModel(): { model: SparseEncoder; entered: Promise<void>; release(): void } {
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const entered = new Promise<void>((r) => (enter = r));
  const model: SparseEncoder = {
    vocabSize: fx.model.vocabSize,
    vocabulary: () => fx.model.vocabulary(),
    tokenize: (t, o) => fx.model.tokenize(t, o),
    encode: async (texts, o) => {
      enter();
      await gate;
      return fx.model.encode(texts, o);
    },
  };
  return { model, entered, release };
}

describe('splade serve: bounded concurrency and graceful close', () => {
  it('Limiter: runs at most limit at once, queues up to queue, refuses the rest with 503', async () => {
    const lim = new Limiter(2, 1);
    const gates: Array<() => void> = [];
    const job = () => lim.run(() => new Promise<string>((r) => gates.push(() => r('done'))));
    const a = job(), b = job(), c = job();
    await expect(job()).rejects.toMatchObject({ status: 503, code: 'overloaded' });
    expect([lim.active, lim.waiting]).toEqual([2, 1]);
    await new Promise((r) => setImmediate(r));
    gates.shift()!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect([lim.active, lim.waiting]).toEqual([2, 0]);
    gates.forEach((g) => g());
    await new Promise((r) => setImmediate(r));
    gates.forEach((g) => g());
    expect(await Promise.all([b, c])).toEqual(['done', 'done']);
    expect([lim.active, lim.waiting]).toEqual([0, 0]);
  });

  it('a request past maxConcurrency (no queue) gets 503; the held one then answers', async () => {
    const g = gatedModel();
    const base = await start({ model: g.model, maxConcurrency: 1, maxQueue: 0 });
    const held = get(`${base}/search?q=glucose`);
    await g.entered;
    const refused = await get(`${base}/health`);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('overloaded');
    g.release();
    expect((await held).status).toBe(200);
    expect((await get(`${base}/health`)).status).toBe(200);
  });

  it('close() stops accepting, finishes the request in progress, then resolves', async () => {
    const g = gatedModel();
    const s = createServer({ index, model: g.model, docs, log: () => {} });
    const base = await s.listen(0);
    const held = get(`${base}/search?q=glucose&k=3`);
    await g.entered;
    let closed = false;
    const closing = s.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    g.release();
    const r = await held;
    expect(r.status).toBe(200);
    expect(r.body.results.length).toBe(3);
    await closing;
    expect(s.http.listening).toBe(false);
  });

  it('splade serve prints where it listens, serves, and exits 0 on SIGTERM', async () => {
    const root = resolve(import.meta.dirname, '..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'serve', '--index', fx.indexPath, '--model', fx.modelDir,
      '--corpus', fx.corpusPath, '--vectors', fx.vectorsPath, '--query-weights', 'idf', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolveUrl(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`splade serve exited ${code} before listening: ${err}`)));
    });
    const r = await get(`${url}/search?q=glucose&k=2`);
    expect(r.status).toBe(200);
    expect(r.body.results.length).toBe(2);
    const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
