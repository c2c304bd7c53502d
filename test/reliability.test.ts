// The reliability pass (issue 17, point 7): each failure found by fuzzing and fault injection, with the
// test that failed before its fix. Child processes (test/helpers) carry what needs a process of its
// own: terminated worker threads, kill -9.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { ErrorCode, InvertedIndex, type SparseVector, SpladeModel } from '../lib/index.js';
import { atomicWriteText } from '../lib/data/atomic.js';

const here = dirname(fileURLToPath(import.meta.url));
const MODELS = join(here, 'fixtures', 'models');
const tmpRoot = mkdtempSync(join(tmpdir(), 'splade-reliability-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
const tmp = () => join(tmpRoot, String(tmpCount++));

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

/** A copy of the bert fixture with its config.json and/or safetensors header changed. */
function damagedModel(opts: { config?: (c: Record<string, unknown>) => void; header?: (h: Record<string, { data_offsets: number[]; shape: number[] }>) => void; tail?: number }): string {
  const dir = tmp();
  cpSync(join(MODELS, 'bert'), dir, { recursive: true });
  if (opts.config) {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    opts.config(c);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  }
  if (opts.header || opts.tail) {
    const file = readFileSync(join(dir, 'model.safetensors'));
    const n = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8'));
    opts.header?.(header);
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, json, file.subarray(8 + n), Buffer.alloc(opts.tail ?? 0)]));
  }
  return dir;
}

describe('a worker thread terminated while a native call is in flight', () => {
  // Each round starts a worker that keeps a searchBatch (on an index with docIds) or an encode in
  // flight and terminates it mid-call; before the fix the first or second round aborted the process.
  for (const kind of ['search', 'encode']) {
    it(`${kind}: the process survives 10 terminations`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'helpers', 'terminate-in-flight.ts'), kind, '10'], { encoding: 'utf8', timeout: 110_000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: '' });
      expect(r.stdout.trim()).toBe('ok 10');
    });
  }
});

describe('safetensors data_offsets are checked against the data section and each other', () => {
  const Q0 = 'bert.encoder.layer.0.attention.self.query.weight'; // [32, 32], between two other tensors
  const B0 = 'bert.encoder.layer.0.attention.self.query.bias';   // [32]
  const K0B = 'bert.encoder.layer.0.attention.self.key.bias';    // [32], same size as B0
  const shift = (d: number) => (h: Record<string, { data_offsets: number[] }>) => {
    h[Q0].data_offsets = h[Q0].data_offsets.map((o) => o + d);
  };
  const cases: [string, Parameters<typeof damagedModel>[0]][] = [
    ['shifted by 4 bytes', { header: shift(4) }],
    ['shifted back by 4 bytes', { header: shift(-4) }],
    ['aliasing another tensor', { header: (h) => void (h[K0B].data_offsets = [...h[B0].data_offsets]) }],
    ['overlapping the next tensor', { header: (h) => void (h[B0].data_offsets = h[B0].data_offsets.map((o) => o + 64)) }],
    ['before the data section (negative)', { header: (h) => void (h['bert.embeddings.word_embeddings.weight'].data_offsets = [-8, 32760]) }],
    ['very negative', { header: (h) => void (h[B0].data_offsets = [-1e15, -1e15 + 128]) }],
    ['past the data section', { header: (h) => void (h['cls.predictions.bias'].data_offsets = h['cls.predictions.bias'].data_offsets.map((o) => o + 1024)) }],
    ['leaving bytes after the last tensor', { tail: 16 }],
    ['not a pair of integers', { header: (h) => void (h[B0].data_offsets = [0.5, 128.5]) }],
  ];
  for (const [what, damage] of cases) {
    it(`${what}: ERR_SPLADE_CORRUPT_FILE`, async () => {
      await expectCode(SpladeModel.load(damagedModel(damage)), ErrorCode.corruptFile);
    });
  }
  it('the undamaged copy loads (the damage, not the copying, is what fails)', async () => {
    const m = await SpladeModel.load(damagedModel({ header: () => {} }));
    expect(m.vocabSize).toBe(256);
  });
});

describe('config.json is checked against the weights before anything is allocated', () => {
  it('num_hidden_layers: 1000000 fails at once with ERR_SPLADE_CORRUPT_FILE', async () => {
    const before = process.memoryUsage().arrayBuffers;
    await expectCode(SpladeModel.load(damagedModel({ config: (c) => void (c.num_hidden_layers = 1_000_000) })), ErrorCode.corruptFile);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });
  it('hidden_size: 1000000 fails with ERR_SPLADE_CORRUPT_FILE, not a RangeError', async () => {
    await expectCode(SpladeModel.load(damagedModel({ config: (c) => void (c.hidden_size = 1_000_000) })), ErrorCode.corruptFile);
  });
  it('intermediate_size and vocab_size that the weights do not have: ERR_SPLADE_CORRUPT_FILE', async () => {
    await expectCode(SpladeModel.load(damagedModel({ config: (c) => void (c.intermediate_size = 1 << 30) })), ErrorCode.corruptFile);
    await expectCode(SpladeModel.load(damagedModel({ config: (c) => void (c.vocab_size = 1 << 30) })), ErrorCode.corruptFile);
  });
  it('fewer layers than the weights hold is an error, not a layer silently ignored', async () => {
    const p = SpladeModel.load(damagedModel({ config: (c) => void (c.num_hidden_layers = 1) }));
    await expect(p).rejects.toMatchObject({ code: ErrorCode.corruptFile, message: expect.stringMatching(/names 1 layers but the weights .* hold 2/) });
  });
  it('DistilBERT (n_layers) and the sharded layout are checked too', async () => {
    const dir = tmp();
    cpSync(join(MODELS, 'distilbert'), dir, { recursive: true });
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    c.n_layers = 1;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
    await expectCode(SpladeModel.load(dir), ErrorCode.corruptFile);
  });
});
describe('InvertedIndex.open on a FIFO', () => {
  it('fails at once with a coded error instead of waiting for a writer', () => {
    const fifo = join(tmp() + '.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // In a child with a time limit: the old open(2) blocked forever, and would hang the test runner.
    const code = `import { InvertedIndex } from ${JSON.stringify(join(here, '..', 'lib', 'search', 'inverted-index.ts'))};
      try { InvertedIndex.open(${JSON.stringify(fifo)}); console.log('opened'); } catch (e) { console.log(e.code); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
    expect({ signal: r.signal, status: r.status, out: r.stdout.trim() }).toEqual({ signal: null, status: 0, out: ErrorCode.io });
  });
});

describe('an index file of another format version', () => {
  it('is ERR_SPLADE_UNSUPPORTED, saying what it is (not ERR_SPLADE_CORRUPT_FILE)', () => {
    const path = tmp();
    InvertedIndex.build([{ indices: Uint32Array.of(1, 5), values: Float32Array.of(1, 2) }]).save(path);
    const bytes = readFileSync(path);
    for (const [version, says] of [[3, /version 3: this build of splade reads versions 1 to 2 \(the file was written by a newer splade/], [0, /version 0: this build of splade reads versions 1 to 2/]] as const) {
      const b = Buffer.from(bytes);
      b.writeUInt32LE(version, 8);
      writeFileSync(path, b);
      expect(() => InvertedIndex.open(path)).toThrow(expect.objectContaining({ code: ErrorCode.unsupported, message: expect.stringMatching(says) }));
    }
  });
});

describe('save() killed with kill -9', () => {
  const temps = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp'));

  /** Starts a child saving an index to path over and over, and kills it (SIGKILL) after `ms`. */
  async function killMidSave(path: string, ms: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'helpers', 'save-forever.ts'), path, '30000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the saving child exited (${code}) before it was ready`)));
    });
    await new Promise((r) => setTimeout(r, ms));
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }

  it('leaves temporaries that the next open or save of the path removes; the file stays whole', async () => {
    const dir = tmp();
    mkdirSync(dir);
    const path = join(dir, 'a.idx');
    let leftovers = 0;
    for (let round = 0; round < 4; round++) {
      await killMidSave(path, 40 + 53 * round);
      leftovers += temps(dir).length;
      expect(temps(dir).length).toBeLessThanOrEqual(1);  // each save removed what the last kill left
      expect(InvertedIndex.open(path).numDocs).toBe(30000);  // never a half-written index
      expect(temps(dir)).toEqual([]);                        // ... and opening it cleaned up
    }
    expect(leftovers).toBeGreaterThan(0);  // the kills did land mid-save (else this test shows nothing)
    await killMidSave(path, 150);
    InvertedIndex.build([{ indices: Uint32Array.of(1), values: Float32Array.of(1) }]).save(path);
    expect(temps(dir)).toEqual([]);
  }, 120_000);

  it("keeps a temporary whose writer is still running", async () => {
    const dir = tmp();
    mkdirSync(dir);
    const path = join(dir, 'b.idx');
    const sleeper = spawn('sleep', ['30']);
    try {
      const live = `.b.idx.${sleeper.pid}.0123456789ab.tmp`;
      const dead = `.b.idx.999999999.0123456789ab.tmp`;  // above Linux's pid_max: no such process
      const other = `.bb.idx.999999999.0123456789ab.tmp`; // another file's temporary
      for (const f of [live, dead, other]) writeFileSync(join(dir, f), 'partial');
      InvertedIndex.build([{ indices: Uint32Array.of(1), values: Float32Array.of(1) }]).save(path);
      expect(temps(dir).sort()).toEqual([other, live].sort());
      // The package's other files (models, BM25 indexes, exports) are written by lib/data/atomic.ts,
      // under the same pattern and rule.
      const text = join(dir, 'c.json');
      const textTemps = [`.c.json.${sleeper.pid}.0123456789ab.tmp`, '.c.json.999999999.0123456789ab.tmp'];
      for (const f of textTemps) writeFileSync(join(dir, f), 'partial');
      atomicWriteText(text, '{}');
      expect(temps(dir).sort()).toEqual([other, live, textTemps[0]].sort());
    } finally {
      sleeper.kill();
    }
  });
});

describe('dispose() while batches are in flight', () => {
  const docs: SparseVector[] = Array.from({ length: 2000 }, (_, d) => {
    const terms = [...new Set(Array.from({ length: 30 }, (_, k) => (d * 7 + k * 131) % 3000))].sort((a, b) => a - b);
    return { indices: Uint32Array.from(terms), values: Float32Array.from(terms, (_, k) => 1 + (k % 5)) };
  });
  for (const withIds of [true, false]) {
    it(`lets them finish with their results${withIds ? ' and docIds' : ''}`, async () => {
      const docIds = withIds ? docs.map((_, i) => `doc-${i}`) : undefined;
      const index = InvertedIndex.build(docs, { docIds });
      const qs = docs.slice(0, 64);
      const expected = qs.map((q) => index.search(q, { k: 5 }));
      const batches = [index.searchBatch(qs, { k: 5 }), index.searchBatch(qs, { k: 5, threads: 1 })];
      index.dispose();
      for (const rs of await Promise.all(batches)) {
        expect(rs.map((r) => [...r.ids])).toEqual(expected.map((r) => [...r.ids]));
        expect(rs.map((r) => r.docIds)).toEqual(expected.map((r) => r.docIds));
        if (withIds) expect(rs[0].docIds![0]).toBe('doc-0');
      }
      expect(() => index.search(qs[0], { k: 5 })).toThrow(expect.objectContaining({ code: ErrorCode.invalidArgument }));
    });
  }
});

