// The reliability pass (issue 17, point 7): each failure found by fuzzing and fault injection, with the
// test that failed before its fix. Child processes (test/helpers) carry what needs a process of its
// own: terminated worker threads, kill -9.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';

import { CrossEncoder, ErrorCode, InvertedIndex, type SparseVector, SpladeModel } from '../lib/index.js';
import { atomicWriteText } from '../lib/data/atomic.js';
import { SpladeTokenizer } from '../lib/model/tokenizer.js';
import { mulberry32 } from '../lib/random.js';
import { TEST_SEED } from './helpers/seed.js';

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
    for (const [version, says] of [[4, /version 4: this build of splade reads versions 1 to 3 \(the file was written by a newer splade/], [0, /version 0: this build of splade reads versions 1 to 3/]] as const) {
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

describe('encode truncates before it tokenizes, with the same tokens', () => {
  const tokDir = tmp();
  mkdirSync(tokDir);
  writeFileSync(join(tokDir, 'tokenizer.json'), gunzipSync(readFileSync(join(here, '..', 'data', 'bert-base-uncased', 'tokenizer.json.gz'))));
  const corpusWords = gunzipSync(readFileSync(join(here, '..', 'data', 'med', 'corpus.jsonl.gz'))).toString('utf8').split('\n').slice(0, 300)
    .flatMap((l) => (l ? (JSON.parse(l).text as string).split(' ') : []));
  // Pieces that stress the cut: whitespace of every kind, accents (composed and combining), cased
  // Greek sigma, CJK, emoji (surrogate pairs), control and format characters, special tokens as
  // text, words longer than WordPiece's 100 characters ([UNK]), punctuation runs, Turkish dotted I.
  const odd = ['  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', 'Café', 'naïve', 'e\u0301', '\u0301', 'ΣΑΣ ', 'ὈΔΥΣΣΕΎΣ', '中文字',
    '日本語テキスト', '😀👍🏽', '\u0000', '\u200b', '\ufeff', '[MASK]', '[mask]', 'x'.repeat(150), '...', '—', 'İstanbul', 'ß', "don't", '12,345.67', '\u0085', '\ufffd'];

  function randomText(rand: () => number): string {
    const chars = Math.floor(Math.exp(rand() * Math.log(60_000)));  // 1 .. 60k, log-uniform
    const spaceless = rand() < 0.1;
    const parts: string[] = [];
    let n = 0;
    while (n < chars) {
      const p = rand() < 0.25 ? odd[Math.floor(rand() * odd.length)] : corpusWords[Math.floor(rand() * corpusWords.length)];
      const sep = spaceless ? '' : rand() < 0.9 ? ' ' : ['', '\t', '\n', '  ', '\u00a0'][Math.floor(rand() * 5)];
      parts.push(p, sep);
      n += p.length + sep.length;
    }
    return parts.join('');
  }

  // (The small vocabulary's WordPiece is slower on long unknown words: fewer texts there.)
  for (const [name, dir, count] of [['bert-base-uncased', tokDir, 200], ['the test model (small vocabulary: many [UNK])', join(MODELS, 'bert'), 80]] as const) {
    it(`${name}: equal to tokenizing in full on ${count} random texts, for every maxLength`, () => {
      const spec = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
      const whole = new Tokenizer(spec, {});
      const [cls, sep] = [spec.post_processor.special_tokens['[CLS]'].ids[0], spec.post_processor.special_tokens['[SEP]'].ids[0]];
      const tok = SpladeTokenizer.load(dir);
      const rand = mulberry32(TEST_SEED);
      for (let i = 0; i < count; i++) {
        const text = randomText(rand);
        const all = whole.encode(text, { add_special_tokens: false }).ids;
        for (const maxLength of [2, 3, 5, 16, 128, 256, 512]) {
          const expected = [cls, ...all.slice(0, maxLength - 2), sep];
          expect(Array.from(tok.encode(text, maxLength)), `seed ${TEST_SEED}, text ${i} (${text.length} chars), maxLength ${maxLength}`).toEqual(expected);
        }
      }
    });
  }

  it('a 1 MB text: the same tokens, from a short prefix only', () => {
    const tok = SpladeTokenizer.load(tokDir);
    const spec = JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8'));
    const text = corpusWords.join(' ').repeat(3).slice(0, 1 << 20);
    const expected = [101, ...new Tokenizer(spec, {}).encode(text, { add_special_tokens: false }).ids.slice(0, 254), 102];
    const seen: number[] = [];
    const original = Tokenizer.prototype.encode;
    Tokenizer.prototype.encode = function (this: Tokenizer, t: string, o?: Parameters<typeof original>[1]) {
      seen.push(t.length);
      return original.call(this, t, o);
    };
    try {
      expect(Array.from(tok.encode(text, 256))).toEqual(expected);
    } finally {
      Tokenizer.prototype.encode = original;
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThan(16_384);  // a prefix, not the megabyte
  });

  it('tokenizing many texts lets the event loop run in between', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const texts = Array.from({ length: 1500 }, (_, i) => corpusWords.slice(i % 500, (i % 500) + 200).join(' '));
    let tokenized = 0;
    const original = SpladeTokenizer.prototype.encode;
    SpladeTokenizer.prototype.encode = function (this: SpladeTokenizer, text: string, maxLength: number) {
      tokenized++;
      return original.call(this, text, maxLength);
    };
    let tokenizedWhenImmediateRan = -1;
    try {
      setImmediate(() => (tokenizedWhenImmediateRan = tokenized));
      expect((await model.encode(texts, { maxLength: 64 })).length).toBe(texts.length);
    } finally {
      SpladeTokenizer.prototype.encode = original;
    }
    expect(tokenized).toBe(texts.length);
    // The callback ran while texts were still being tokenized: the loop was not held for all of them.
    expect(tokenizedWhenImmediateRan).toBeGreaterThan(0);
    expect(tokenizedWhenImmediateRan).toBeLessThan(texts.length);
  });
});

describe('SpladeModel and CrossEncoder dispose()', () => {
  const texts = ['the cat sat on the mat', 'sparse retrieval with learned weights', 'a third text'];

  it('SpladeModel: encodes in flight finish; later calls throw ERR_SPLADE_INVALID_ARGUMENT; the native handle is released', async () => {
    const model = await SpladeModel.load(join(MODELS, 'bert'));
    const expected = await model.encode(texts);
    const native = model.trainingEncoders().document.native;
    const inFlight = [model.encode(texts), model.encode(texts, { batchSize: 1 })];
    model.dispose();
    for (const got of await Promise.all(inFlight)) expect(got).toEqual(expected);
    const refused = { code: ErrorCode.invalidArgument, message: expect.stringMatching(/disposed/) };
    await expect(model.encode(texts)).rejects.toMatchObject(refused);
    await expect(model.encodeIds([[2, 10, 3]])).rejects.toMatchObject(refused);
    for (const call of [() => model.tokenize('x'), () => model.parameters(), () => model.vocabulary(), () => model.trainingEncoders()]) {
      expect(call).toThrow(expect.objectContaining(refused));
    }
    // The native handle itself refuses: its memory went with the dispose, not at some later GC.
    const out = new Float32Array(256);
    expect(() => native.forward(Int32Array.of(2, 10, 3), null, Int32Array.of(0, 3), 'max', false, out, null)).toThrow(expect.objectContaining(refused));
    expect(() => model.dispose()).not.toThrow();  // twice is fine
  });

  it('CrossEncoder: score in flight finishes; later calls throw ERR_SPLADE_INVALID_ARGUMENT', async () => {
    const ce = await CrossEncoder.load(join(MODELS, 'cross'));
    const pairs: [string, string][] = [['a query', 'a passage'], ['another query', 'another passage about it']];
    const expected = await ce.score(pairs);
    const inFlight = ce.score(pairs);
    ce.dispose();
    expect(await inFlight).toEqual(expected);
    await expect(ce.score(pairs)).rejects.toMatchObject({ code: ErrorCode.invalidArgument });
    expect(() => ce.tokenizePair('a', 'b')).toThrow(expect.objectContaining({ code: ErrorCode.invalidArgument }));
  });
});

