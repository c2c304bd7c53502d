// resolveModel against a local stand-in for the Hugging Face Hub (node:http on 127.0.0.1): the
// cache it writes must be the one Python's huggingface_hub writes, and the one Python wrote must be
// read without any request. Nothing here reaches the network or the real ~/.cache.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { SpladeError } from '../lib/errors.js';
import * as root from '../lib/index.js';
import { isHubId, resolveModel } from '../lib/model/hub.js';

// ---------------------------------------------------------------------------------------------
// a fake Hub

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
/** Compares contents by digest: vitest's deep equality walks a Buffer byte by byte, slowly. */
const digest = (b: Buffer | string): string => `${Buffer.byteLength(b)}:${sha256(Buffer.from(b))}`;
const commitOf = (s: string): string => createHash('sha1').update(s).digest('hex');

/** Deterministic pseudo-random bytes, large enough to arrive in several chunks. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

interface FakeRepo {
  commit: string;
  files: Record<string, Buffer>;
  /** Files stored in LFS: X-Linked-Etag = sha256, answered by a 302 to /cdn/{sha256}. */
  lfs?: string[];
  /** When set, a request needs `Authorization: Bearer {token}` (401 otherwise). */
  token?: string;
  gated?: boolean;
}

interface Hit {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  /** Body bytes sent. */
  sent: number;
}

class FakeHub {
  repos = new Map<string, FakeRepo>();
  hits: Hit[] = [];
  ignoreRange = false;
  /** Paths whose next GET breaks the connection after half the body. */
  dropOnce = new Set<string>();
  /** Paths whose GETs answer the right number of bytes with the first one changed. */
  tamper = new Set<string>();
  private server!: Server;
  endpoint = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private cdn = new Map<string, Buffer>();

  add(id: string, files: Record<string, Buffer | string>, extra: Partial<FakeRepo> = {}): FakeRepo {
    const repo: FakeRepo = {
      commit: commitOf(id + JSON.stringify(Object.keys(files))),
      files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)])),
      ...extra,
    };
    for (const f of repo.lfs ?? []) this.cdn.set(sha256(repo.files[f]), repo.files[f]);
    this.repos.set(id, repo);
    return repo;
  }

  requests(method?: string): Hit[] {
    return this.hits.filter((h) => method === undefined || h.method === method);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, Buffer.concat(chunks).toString(), res));
  }

  private answer(req: IncomingMessage, requestBody: string, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    const hit: Hit = { method: req.method!, path: decodeURIComponent(url.pathname), range: req.headers.range, auth: req.headers.authorization, sent: 0 };
    this.hits.push(hit);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const body = this.cdn.get(cdn[1]);
      if (!body) return void res.writeHead(404).end();
      return this.send(req, res, hit, body, { etag: `"${cdn[1]}"` });
    }
    // The API routes @huggingface/hub calls: a revision's commit (modelInfo) and files (pathsInfo).
    const api = /^\/api\/models\/([^/]+(?:\/[^/]+)?)\/(revision|paths-info)\/([^/]+)$/.exec(url.pathname);
    const m = api ?? /^\/([^/]+(?:\/[^/]+)?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const id = decodeURIComponent(m[1]);
    const rev = decodeURIComponent(api ? m[3] : m[2]);
    const repo = this.repos.get(id);
    if (!repo) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Invalid username or password.');
    }
    if (rev !== 'main' && rev !== repo.commit) return void res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
    const json = (value: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    // As on the Hub, a gated repo's metadata is public; its files are not.
    if (api?.[2] === 'revision') return json({ _id: `id-${id}`, id, sha: repo.commit, private: repo.token !== undefined, gated: repo.gated ?? false });
    if (api) {
      const { paths } = JSON.parse(requestBody) as { paths: string[] };
      return json(
        paths
          .filter((p) => repo.files[p] !== undefined)
          .map((p) => {
            const body = repo.files[p];
            const lfs = repo.lfs?.includes(p) ? { oid: sha256(body), size: body.length, pointerSize: 134 } : undefined;
            return { type: 'file', path: p, oid: gitSha1(lfs ? Buffer.from('pointer ' + lfs.oid) : body), size: body.length, ...(lfs ? { lfs } : {}) };
          }),
      );
    }
    if (repo.gated) return void res.writeHead(403, { 'x-error-code': 'GatedRepo' }).end();
    const file = decodeURIComponent(m[3]);
    const body = repo.files[file];
    const base = { 'x-repo-commit': repo.commit };
    if (!body) return void res.writeHead(404, { ...base, 'x-error-code': 'EntryNotFound' }).end();
    if (repo.lfs?.includes(file)) {
      const oid = sha256(body);
      return void res
        .writeHead(302, {
          ...base,
          location: `/cdn/${oid}`,
          'x-linked-etag': `"${oid}"`,
          'x-linked-size': String(body.length),
          etag: `W/"${gitSha1(Buffer.from('pointer ' + oid))}"`,
        })
        .end();
    }
    this.send(req, res, hit, body, { ...base, etag: `W/"${gitSha1(body)}"` });
  }

  private send(req: IncomingMessage, res: ServerResponse, hit: Hit, body: Buffer, headers: Record<string, string>): void {
    let start = 0;
    const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (r && !this.ignoreRange) start = Number(r[1]);
    if (start > body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    const part = Buffer.from(body.subarray(start));
    if (this.tamper.has(hit.path) && part.length > 0) part[0] ^= 0xff;
    const status = r && !this.ignoreRange ? 206 : 200;
    res.writeHead(status, {
      ...headers,
      'content-length': String(part.length),
      'accept-ranges': 'bytes',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    if (this.dropOnce.delete(hit.path)) {
      const half = part.subarray(0, part.length >> 1);
      hit.sent = half.length;
      // Give the client time to take in every byte sent (a WHATWG stream drops chunks still queued
      // when it errors), then break the connection.
      res.write(half, () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    hit.sent = part.length;
    res.end(part);
  }
}

// ---------------------------------------------------------------------------------------------
// fixtures

const CONFIG = JSON.stringify({ architectures: ['BertForMaskedLM'], vocab_size: 30522 });
const TOKENIZER = JSON.stringify({ version: '1.0', model: { type: 'WordPiece' } });
const VOCAB = '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n';
const WEIGHTS = bytes(300_000, 7);
const SHARD1 = bytes(150_001, 11);
const SHARD2 = bytes(99_999, 13);
const PT = bytes(70_000, 17);
const INDEX = JSON.stringify({
  metadata: { total_size: SHARD1.length + SHARD2.length },
  weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors', 'c.bias': 'model-00001-of-00002.safetensors' },
});

const hub = new FakeHub();
let tmp: string;
const saved: Record<string, string | undefined> = {};
const ENV = ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'HF_ENDPOINT', 'XDG_CACHE_HOME'];

beforeAll(async () => {
  await hub.start();
  hub.add('acme/tiny', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'vocab.txt': VOCAB, 'model.safetensors': WEIGHTS }, { lfs: ['model.safetensors'] });
  hub.add(
    'acme/sharded',
    { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors.index.json': INDEX, 'model-00001-of-00002.safetensors': SHARD1, 'model-00002-of-00002.safetensors': SHARD2 },
    { lfs: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'] },
  );
  hub.add('legacy', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'pytorch_model.bin': PT });
  hub.add('acme/private', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors': WEIGHTS }, { lfs: ['model.safetensors'], token: 'hf_secret_123' });
  hub.add('acme/gated', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors': WEIGHTS }, { gated: true });
  hub.add('acme/both', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors': WEIGHTS, 'pytorch_model.bin': PT }, { lfs: ['model.safetensors'] });
  hub.add('acme/noweights', { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER });
  hub.add(
    'acme/evil',
    { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors.index.json': JSON.stringify({ weight_map: { w: '../../../../escape.bin' } }) },
  );
});
afterAll(() => hub.stop());

beforeEach(async () => {
  tmp = await fsp.mkdtemp(path.join(tmpdir(), 'splade-hub-'));
  for (const k of ENV) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  // Even a test that forgets cacheDir lands in the temp dir, and no saved login token is read.
  process.env.HF_HOME = path.join(tmp, 'hf-home');
  hub.hits = [];
  hub.ignoreRange = false;
  hub.dropOnce.clear();
  hub.tamper.clear();
});

afterEach(async () => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  await fsp.rm(tmp, { recursive: true, force: true });
});

const cacheOpts = (): { cacheDir: string; endpoint: string } => ({ cacheDir: path.join(tmp, 'hub'), endpoint: hub.endpoint });
const repoDir = (id: string, cache = path.join(tmp, 'hub')): string => path.join(cache, `models--${id.replace('/', '--')}`);
/** The files fetched from /resolve/, in order. */
const downloaded = (): string[] => hub.requests('GET').flatMap((h) => /\/resolve\/[^/]+\/(.+)$/.exec(h.path)?.[1] ?? []);

async function expectPointer(snap: string, file: string, etag: string, content: Buffer | string): Promise<void> {
  const p = path.join(snap, file);
  expect((await fsp.lstat(p)).isSymbolicLink()).toBe(true);
  expect(await fsp.readlink(p)).toBe(path.join('..', '..', 'blobs', etag));
  expect(digest(await fsp.readFile(p))).toBe(digest(content));
  expect(digest(await fsp.readFile(path.join(path.dirname(path.dirname(snap)), 'blobs', etag)))).toBe(digest(content));
}

async function rejection(p: Promise<unknown>): Promise<SpladeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SpladeError);
  return err as SpladeError;
}

// ---------------------------------------------------------------------------------------------

describe('isHubId', () => {
  it('accepts org/name and name, with an optional @revision', () => {
    for (const s of ['naver/splade-cocondenser-ensembledistil', 'bert-base-uncased', 'org/name@main', 'org/name@refs/pr/1', 'a_b/c.d-e', 'x/y@0123456789abcdef0123456789abcdef01234567']) {
      expect(isHubId(s), s).toBe(true);
    }
  });

  it('refuses local paths and malformed ids', () => {
    for (const s of ['', './model', '../model', '/abs/model', 'a/b/c', 'org--x/y', 'org/x..y', '-org/x', 'org/x-', 'org/name@', 'org/name@../x', 'a b/c', 'C:\\models\\x', 'x'.repeat(97)]) {
      expect(isHubId(s), s).toBe(false);
    }
  });

  it('is false for a directory that exists, even when it looks like an id', async () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      await fsp.mkdir(path.join(tmp, 'org', 'name'), { recursive: true });
      expect(isHubId('org/name')).toBe(false);
      expect(isHubId('org/other')).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('is exported from the package root', () => {
    expect(root.resolveModel).toBe(resolveModel);
    expect(root.isHubId).toBe(isHubId);
  });
});

describe('resolveModel', () => {
  it('downloads into exactly the layout huggingface_hub writes', async () => {
    const progress: { file: string; received: number; total?: number }[] = [];
    const snap = await resolveModel('acme/tiny', { ...cacheOpts(), onProgress: (p) => progress.push(p) });
    const repo = hub.repos.get('acme/tiny')!;
    const dir = repoDir('acme/tiny');
    expect(snap).toBe(path.join(dir, 'snapshots', repo.commit));
    expect(await fsp.readFile(path.join(dir, 'refs', 'main'), 'utf8')).toBe(repo.commit);
    await expectPointer(snap, 'config.json', gitSha1(Buffer.from(CONFIG)), CONFIG);
    await expectPointer(snap, 'tokenizer.json', gitSha1(Buffer.from(TOKENIZER)), TOKENIZER);
    await expectPointer(snap, 'vocab.txt', gitSha1(Buffer.from(VOCAB)), VOCAB);
    await expectPointer(snap, 'model.safetensors', sha256(WEIGHTS), WEIGHTS);
    // Optional files the repo lacks are remembered as Python does; nothing half-written is left.
    expect(existsSync(path.join(dir, '.no_exist', repo.commit, 'tokenizer_config.json'))).toBe(true);
    expect(existsSync(path.join(snap, 'tokenizer_config.json'))).toBe(false);
    const blobs = await fsp.readdir(path.join(dir, 'blobs'));
    expect(blobs.filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    expect(blobs.sort()).toEqual([CONFIG, TOKENIZER, VOCAB].map((s) => gitSha1(Buffer.from(s))).concat(sha256(WEIGHTS)).sort());
    // The weights came from the CDN the Hub redirected to; no token was sent when none was set.
    expect(hub.requests('GET').map((h) => h.path)).toContain(`/cdn/${sha256(WEIGHTS)}`);
    expect(hub.hits.every((h) => h.auth === undefined)).toBe(true);
    // Only the revision is asked for by name: every file is listed and fetched at the commit it points at.
    expect(hub.requests('GET')[0].path).toBe('/api/models/acme/tiny/revision/main');
    expect(hub.hits.filter((h) => /\/(resolve|paths-info)\//.test(h.path)).every((h) => h.path.includes(`/${repo.commit}`))).toBe(true);
    const last = progress.filter((p) => p.file === 'model.safetensors').at(-1)!;
    expect(last).toEqual({ file: 'model.safetensors', received: WEIGHTS.length, total: WEIGHTS.length });
  });

  it('uses the cache on the second call without any request', async () => {
    const first = await resolveModel('acme/tiny', cacheOpts());
    const n = hub.hits.length;
    expect(n).toBeGreaterThan(0);
    expect(await resolveModel('acme/tiny', cacheOpts())).toBe(first);
    expect(await resolveModel('acme/tiny@main', cacheOpts())).toBe(first);
    expect(await resolveModel('acme/tiny', { ...cacheOpts(), revision: hub.repos.get('acme/tiny')!.commit })).toBe(first);
    expect(hub.hits.length).toBe(n);
  });

  it('fetches sharded weights through the index', async () => {
    const snap = await resolveModel('acme/sharded', cacheOpts());
    await expectPointer(snap, 'model.safetensors.index.json', gitSha1(Buffer.from(INDEX)), INDEX);
    await expectPointer(snap, 'model-00001-of-00002.safetensors', sha256(SHARD1), SHARD1);
    await expectPointer(snap, 'model-00002-of-00002.safetensors', sha256(SHARD2), SHARD2);
    expect(downloaded()).toEqual(['config.json', 'tokenizer.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(existsSync(path.join(snap, 'model.safetensors'))).toBe(false);
    // And the sharded snapshot counts as complete.
    const n = hub.hits.length;
    expect(await resolveModel('acme/sharded', cacheOpts())).toBe(snap);
    expect(hub.hits.length).toBe(n);
  });

  it('falls back to pytorch_model.bin', async () => {
    const snap = await resolveModel('legacy', cacheOpts());
    expect(snap.startsWith(path.join(repoDir('legacy'), 'snapshots'))).toBe(true);
    await expectPointer(snap, 'pytorch_model.bin', gitSha1(PT), PT);
    expect(downloaded()).toEqual(['config.json', 'tokenizer.json', 'pytorch_model.bin']);
  });

  it('prefers model.safetensors over pytorch_model.bin', async () => {
    const snap = await resolveModel('acme/both', cacheOpts());
    await expectPointer(snap, 'model.safetensors', sha256(WEIGHTS), WEIGHTS);
    expect(downloaded()).toEqual(['config.json', 'tokenizer.json', 'model.safetensors']);
    expect(existsSync(path.join(snap, 'pytorch_model.bin'))).toBe(false);
  });

  it('says so when a repo has no weights at all', async () => {
    const err = await rejection(resolveModel('acme/noweights', cacheOpts()));
    expect(err.message).toMatch(/no weights.*model\.safetensors.*pytorch_model\.bin/);
  });

  it('resumes a partial .incomplete blob with a Range request', async () => {
    const blobs = path.join(repoDir('acme/tiny'), 'blobs');
    await fsp.mkdir(blobs, { recursive: true });
    await fsp.writeFile(path.join(blobs, `${sha256(WEIGHTS)}.incomplete`), WEIGHTS.subarray(0, 123_456));
    const snap = await resolveModel('acme/tiny', cacheOpts());
    const gets = hub.requests('GET').filter((h) => h.path.startsWith('/cdn/'));
    expect(gets).toHaveLength(1);
    expect(gets[0].range).toBe('bytes=123456-');
    expect(gets[0].sent).toBe(WEIGHTS.length - 123_456);
    expect(digest(await fsp.readFile(path.join(snap, 'model.safetensors')))).toBe(digest(WEIGHTS));
    expect(existsSync(path.join(blobs, `${sha256(WEIGHTS)}.incomplete`))).toBe(false);
  });

  it('starts over when the server answers a Range with the whole file', async () => {
    const blobs = path.join(repoDir('acme/tiny'), 'blobs');
    await fsp.mkdir(blobs, { recursive: true });
    await fsp.writeFile(path.join(blobs, `${sha256(WEIGHTS)}.incomplete`), WEIGHTS.subarray(0, 1000));
    hub.ignoreRange = true;
    const snap = await resolveModel('acme/tiny', cacheOpts());
    const get = hub.requests('GET').find((h) => h.path.startsWith('/cdn/'))!;
    expect(get.range).toBe('bytes=1000-');
    expect(get.sent).toBe(WEIGHTS.length);
    expect(digest(await fsp.readFile(path.join(snap, 'model.safetensors')))).toBe(digest(WEIGHTS));
  });

  it('throws away a partial file with wrong bytes (sha256 check) and downloads again', async () => {
    const blobs = path.join(repoDir('acme/tiny'), 'blobs');
    await fsp.mkdir(blobs, { recursive: true });
    await fsp.writeFile(path.join(blobs, `${sha256(WEIGHTS)}.incomplete`), Buffer.alloc(5000, 0xab));
    const snap = await resolveModel('acme/tiny', cacheOpts());
    const gets = hub.requests('GET').filter((h) => h.path.startsWith('/cdn/'));
    expect(gets.map((g) => g.range)).toEqual(['bytes=5000-', undefined]);
    expect(digest(await fsp.readFile(path.join(snap, 'model.safetensors')))).toBe(digest(WEIGHTS));
  });

  it('resumes after the connection breaks mid-file', async () => {
    hub.dropOnce.add(`/cdn/${sha256(WEIGHTS)}`);
    const snap = await resolveModel('acme/tiny', cacheOpts());
    const gets = hub.requests('GET').filter((h) => h.path.startsWith('/cdn/'));
    expect(gets).toHaveLength(2);
    expect(gets[1].range).toBe(`bytes=${gets[0].sent}-`);
    expect(gets[0].sent + gets[1].sent).toBe(WEIGHTS.length);
    expect(digest(await fsp.readFile(path.join(snap, 'model.safetensors')))).toBe(digest(WEIGHTS));
  });

  it('refuses bytes that do not match the checksum: git blob id and LFS sha256 alike', async () => {
    for (const [file, served] of [['tokenizer.json', `/acme/tiny/resolve/${hub.repos.get('acme/tiny')!.commit}/tokenizer.json`], ['model.safetensors', `/cdn/${sha256(WEIGHTS)}`]]) {
      hub.tamper.clear();
      hub.tamper.add(served);
      const err = await rejection(resolveModel('acme/tiny', cacheOpts()));
      expect(err.code, file).toBe('ERR_SPLADE_CORRUPT_FILE');
      expect(err.message).toMatch(new RegExp(`Download of ${file.replace('.', '\\.')} of acme/tiny is corrupt \\(checksum`));
      const blobs = await fsp.readdir(path.join(repoDir('acme/tiny'), 'blobs'));
      expect(blobs.filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    }
    expect(existsSync(path.join(repoDir('acme/tiny'), 'refs'))).toBe(false);
  });

  it('says so when the endpoint is not a Hub', async () => {
    const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      const err = await rejection(resolveModel('acme/tiny', { cacheDir: path.join(tmp, 'hub'), endpoint }));
      expect(err.code).toBe('ERR_SPLADE_IO');
      expect(err.message).toMatch(/did not answer like the Hugging Face Hub.*HF_ENDPOINT/);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('fails offline when the model is not cached, without touching the network', async () => {
    const err = await rejection(resolveModel('acme/tiny', { ...cacheOpts(), offline: true }));
    expect(err.code).toBe('ERR_SPLADE_IO');
    expect(err.message).toContain(`not in the cache at ${repoDir('acme/tiny')}`);
    expect(err.message).toContain('HF_HUB_OFFLINE');
    process.env.HF_HUB_OFFLINE = '1';
    const err2 = await rejection(resolveModel('acme/tiny', cacheOpts()));
    expect(err2.message).toMatch(/not in the cache at .* and HF_HUB_OFFLINE is set/);
    expect(hub.hits).toEqual([]);
    // Once cached, offline works.
    delete process.env.HF_HUB_OFFLINE;
    const snap = await resolveModel('acme/tiny', cacheOpts());
    hub.hits = [];
    process.env.HF_HUB_OFFLINE = 'true';
    expect(await resolveModel('acme/tiny', cacheOpts())).toBe(snap);
    expect(hub.hits).toEqual([]);
  });

  it('sends HF_TOKEN as a bearer token', async () => {
    process.env.HF_TOKEN = 'hf_secret_123';
    const snap = await resolveModel('acme/private', cacheOpts());
    await expectPointer(snap, 'model.safetensors', sha256(WEIGHTS), WEIGHTS);
    const hubHits = hub.hits.filter((h) => h.path.includes('/resolve/'));
    expect(hubHits.length).toBeGreaterThan(0);
    expect(hubHits.every((h) => h.auth === 'Bearer hf_secret_123')).toBe(true);
  });

  it('reads the token `huggingface-cli login` saved under HF_HOME, and the token option wins', async () => {
    await fsp.mkdir(process.env.HF_HOME!, { recursive: true });
    await fsp.writeFile(path.join(process.env.HF_HOME!, 'token'), 'hf_secret_123\n');
    await resolveModel('acme/private', cacheOpts());
    expect(hub.hits.filter((h) => h.path.includes('/resolve/')).every((h) => h.auth === 'Bearer hf_secret_123')).toBe(true);
    hub.hits = [];
    await rejection(resolveModel('acme/private', { ...cacheOpts(), cacheDir: path.join(tmp, 'other'), token: 'hf_wrong' }));
    expect(hub.hits[0].auth).toBe('Bearer hf_wrong');
  });

  it('explains a 401 (private or gated: set HF_TOKEN)', async () => {
    const err = await rejection(resolveModel('acme/private', cacheOpts()));
    expect(err.code).toBe('ERR_SPLADE_IO');
    expect(err.message).toMatch(/401/);
    expect(err.message).toMatch(/private or gated/);
    expect(err.message).toMatch(/set HF_TOKEN/);
    const wrong = await rejection(resolveModel('acme/private', { ...cacheOpts(), token: 'nope' }));
    expect(wrong.message).toMatch(/token given .* was not accepted/);
    expect(existsSync(path.join(repoDir('acme/private'), 'refs'))).toBe(false);
  });

  it('explains a gated model (403) and a missing repo or revision (404)', async () => {
    const gated = await rejection(resolveModel('acme/gated', cacheOpts()));
    expect(gated.message).toMatch(/gated.*HF_TOKEN/);
    const missing = await rejection(resolveModel('acme/nothing-here', cacheOpts()));
    expect(missing.message).toMatch(/acme\/nothing-here was not found.*does not exist/);
    const rev = await rejection(resolveModel('acme/tiny@v9', cacheOpts()));
    expect(rev.message).toMatch(/Revision v9 does not exist for model acme\/tiny/);
  });

  it('finds a cache prepared in Python\'s layout under HF_HOME with the server gone', async () => {
    const commit = 'c0ffee'.padEnd(40, '0');
    const dir = path.join(process.env.HF_HOME!, 'hub', 'models--someone--handmade');
    const files: Record<string, string> = { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors': 'weights' };
    await fsp.mkdir(path.join(dir, 'blobs'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'snapshots', commit), { recursive: true });
    await fsp.mkdir(path.join(dir, 'refs'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'refs', 'main'), commit); // Python writes no newline
    for (const [name, content] of Object.entries(files)) {
      const etag = gitSha1(Buffer.from(content));
      await fsp.writeFile(path.join(dir, 'blobs', etag), content);
      await fsp.symlink(path.join('..', '..', 'blobs', etag), path.join(dir, 'snapshots', commit, name));
    }
    const down = new FakeHub();
    await down.start();
    const endpoint = down.endpoint;
    await down.stop(); // a request would now be refused
    expect(await resolveModel('someone/handmade', { endpoint })).toBe(path.join(dir, 'snapshots', commit));
    // HF_HUB_CACHE takes precedence over HF_HOME.
    process.env.HF_HUB_CACHE = path.join(tmp, 'elsewhere');
    await rejection(resolveModel('someone/handmade', { endpoint, offline: true }));
    delete process.env.HF_HUB_CACHE;
    // A dangling snapshot link is not a cached file.
    await fsp.rm(path.join(dir, 'blobs', gitSha1(Buffer.from(CONFIG))));
    const err = await rejection(resolveModel('someone/handmade', { endpoint, offline: true }));
    expect(err.message).toMatch(/missing: config\.json/);
  });

  it('returns an existing local directory as it is', async () => {
    const dir = path.join(tmp, 'local-model');
    await fsp.mkdir(dir);
    expect(await resolveModel(dir)).toBe(dir);
    expect(hub.hits).toEqual([]);
  });

  it('fetches exactly the files asked for', async () => {
    const snap = await resolveModel('acme/tiny', { ...cacheOpts(), files: ['config.json', 'vocab.txt'] });
    expect((await fsp.readdir(snap)).sort()).toEqual(['config.json', 'vocab.txt']);
    const err = await rejection(resolveModel('acme/tiny', { ...cacheOpts(), files: ['missing.json'] }));
    expect(err.message).toMatch(/has no missing\.json/);
  });

  it('pins a commit revision without writing a ref', async () => {
    const commit = hub.repos.get('acme/tiny')!.commit;
    const snap = await resolveModel(`acme/tiny@${commit}`, cacheOpts());
    expect(snap).toBe(path.join(repoDir('acme/tiny'), 'snapshots', commit));
    expect(existsSync(path.join(repoDir('acme/tiny'), 'refs'))).toBe(false);
    // No request names a branch: the commit needs no look-up.
    expect(hub.hits.filter((h) => !h.path.startsWith('/cdn/')).every((h) => h.path.includes(`/${commit}`))).toBe(true);
    expect(hub.requests('GET').some((h) => h.path.includes('/revision/'))).toBe(false);
  });

  it('refuses bad arguments and shard names that leave the snapshot', async () => {
    await expect(resolveModel('acme/tiny@main', { revision: 'dev' })).rejects.toThrow(/revision/);
    await expect(resolveModel('a/b/c')).rejects.toThrow(/neither an existing directory nor a Hugging Face model id/);
    await expect(resolveModel('acme/tiny', { revision: '../x' })).rejects.toThrow(/Expected a branch, tag or commit hash for revision/);
    await expect(resolveModel('acme/tiny', { endpoint: 'ftp://x' })).rejects.toThrow(/Expected an http\(s\) URL for endpoint/);
    await expect(resolveModel('acme/tiny', { files: ['../../etc/passwd'] })).rejects.toThrow(SpladeError);
    const err = await rejection(resolveModel('acme/evil', cacheOpts()));
    expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
    expect(existsSync(path.join(tmp, 'escape.bin'))).toBe(false);
  });
});
