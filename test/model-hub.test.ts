// Hub ids: the Hugging Face cache layout, and downloads into it (from a local server standing in for
// HF_ENDPOINT).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SpladeModel } from '../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const MODELS = join(here, 'fixtures', 'models');
const root = mkdtempSync(join(tmpdir(), 'splade-hub-test-'));
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
let server: Server;
let endpoint = '';
const requests: string[] = [];
const saved = { endpoint: process.env.HF_ENDPOINT, offline: process.env.HF_HUB_OFFLINE };

beforeAll(async () => {
  const modelDir = (name: string): string | undefined => ({ 'tiny-distil': 'distilbert', 'tiny-bin': 'bert-bin' } as Record<string, string>)[name];
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // The Hub API that @huggingface/hub calls: every org/* repo exists at COMMIT, holding the files
      // of its fixture directory (none for an unknown name).
      const api = /^\/api\/models\/org\/(tiny-[a-z]+)\/(revision|paths-info)\/[^/]+$/.exec(req.url ?? '');
      if (api) {
        const dir = modelDir(api[1]);
        const files = api[2] === 'revision' ? [] : (JSON.parse(body) as { paths: string[] }).paths.filter((f) => dir && existsSync(join(MODELS, dir, f)));
        const listing = files.map((f) => {
          const content = readFileSync(join(MODELS, dir!, f));
          const oid = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
          return { type: 'file', path: f, oid, size: content.length };
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(api[2] === 'revision' ? { id: `org/${api[1]}`, sha: COMMIT } : listing));
        return;
      }
      const m = /^\/org\/(tiny-[a-z]+)\/resolve\/(?:main|[0-9a-f]{40})\/([A-Za-z0-9._-]+)$/.exec(req.url ?? '');
      const dir = m && modelDir(m[1]);
      const file = dir && join(MODELS, dir, m![2]);
      if (!file || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      const content = readFileSync(file);
      res.writeHead(200, { 'content-length': content.length }).end(content);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  endpoint = `http://127.0.0.1:${addr.port}`;
  process.env.HF_ENDPOINT = endpoint;
  delete process.env.HF_HUB_OFFLINE;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
  if (saved.endpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = saved.endpoint;
  if (saved.offline === undefined) delete process.env.HF_HUB_OFFLINE;
  else process.env.HF_HUB_OFFLINE = saved.offline;
});

describe('hub ids', () => {
  it('uses a snapshot already in the cache', async () => {
    const cache = join(root, 'cache1');
    const repo = join(cache, 'models--org--tiny-cached');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), COMMIT);
    cpSync(join(MODELS, 'bert'), join(repo, 'snapshots', COMMIT), { recursive: true });
    const before = requests.length;
    const model = await SpladeModel.load('org/tiny-cached', { cacheDir: cache });
    const local = await SpladeModel.load(join(MODELS, 'bert'));
    const [a] = await model.encode(['the cat sat']);
    const [b] = await local.encode(['the cat sat']);
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(requests.length).toBe(before);
  });

  it('downloads into the cache layout (sharded and pytorch_model.bin), then works offline', async () => {
    const cache = join(root, 'cache2');
    for (const [id, dir, weights] of [
      ['org/tiny-distil', 'distilbert', 'model-00002-of-00002.safetensors'],
      ['org/tiny-bin', 'bert-bin', 'pytorch_model.bin'],
    ]) {
      const model = await SpladeModel.load(id, { cacheDir: cache });
      const snap = join(cache, `models--${id.replace('/', '--')}`, 'snapshots', COMMIT);
      expect(existsSync(join(snap, weights))).toBe(true);
      expect(readFileSync(join(cache, `models--${id.replace('/', '--')}`, 'refs', 'main'), 'utf8')).toBe(COMMIT);
      const local = await SpladeModel.load(join(MODELS, dir));
      const [a] = await model.encodeIds([[2, 50, 60, 3]]);
      const [b] = await local.encodeIds([[2, 50, 60, 3]]);
      expect(Array.from(a.values)).toEqual(Array.from(b.values));
    }
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const before = requests.length;
      await SpladeModel.load('org/tiny-distil', { cacheDir: cache });
      expect(requests.length).toBe(before);
      await expect(SpladeModel.load('org/tiny-other', { cacheDir: cache })).rejects.toThrow(/org\/tiny-other \(revision main\) is not in the cache at .*HF_HUB_OFFLINE is set/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
  });

  it('reports unknown models', async () => {
    await expect(SpladeModel.load('org/tiny-missing', { cacheDir: join(root, 'cache3') })).rejects.toThrow(
      /org\/tiny-missing has no config.json/,
    );
    await expect(SpladeModel.load('org/tiny-bin', { cacheDir: join(root, 'cache3'), revision: '../x' })).rejects.toThrow(/revision/);
  });
});
