// The cross-encoder teacher: logits against the PyTorch fixture (make_cross_fixtures.py), pair
// tokenisation with longest-first truncation, batch independence, load errors, and `splade score`.
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { writeSafetensors } from '../lib/model/safetensors.js';
import { runCli } from './helpers/cli.js';

const FIX = join(import.meta.dirname, 'fixtures');
const MODEL = join(FIX, 'models', 'cross');
const expected = JSON.parse(readFileSync(join(FIX, 'cross_expected.json'), 'utf8')) as {
  pairs: { query: string; passage: string; maxLength: number; ids: number[]; typeIds: number[]; logit: number }[];
};
const tmp = mkdtempSync(join(tmpdir(), 'splade-cross-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let model: CrossEncoder;
beforeAll(async () => {
  model = await CrossEncoder.load(MODEL);
});

const maxAbs = Math.max(...expected.pairs.map((p) => Math.abs(p.logit)));
const TOL = 1e-4 * maxAbs; // float32 kernels against the float64 reference

describe('CrossEncoder', () => {
  it('tokenises pairs as [CLS] q [SEP] p [SEP] with longest-first truncation, as the reference', () => {
    for (const p of expected.pairs) {
      const enc = model.tokenizePair(p.query, p.passage, { maxLength: p.maxLength });
      expect(Array.from(enc.ids), `${p.query} | ${p.passage} @ ${p.maxLength}`).toEqual(p.ids);
      expect(Array.from(enc.typeIds)).toEqual(p.typeIds);
    }
  });

  it('matches the PyTorch logits pair by pair', async () => {
    let worst = 0;
    for (const p of expected.pairs) {
      const [l] = await model.score([[p.query, p.passage]], { maxLength: p.maxLength });
      worst = Math.max(worst, Math.abs(l - p.logit));
    }
    expect(worst).toBeLessThan(TOL);
  });

  it('gives the same logits for batch sizes 1, 3 and all', async () => {
    const pairs = expected.pairs.filter((p) => p.maxLength === 512);
    const input = pairs.map((p) => [p.query, p.passage] as [string, string]);
    const one = await model.score(input, { batchSize: 1 });
    const three = await model.score(input, { batchSize: 3 });
    const all = await model.score(input);
    pairs.forEach((p, i) => {
      expect(Math.abs(one[i] - p.logit)).toBeLessThan(TOL);
      expect(Math.abs(three[i] - one[i])).toBeLessThanOrEqual(1e-6 * maxAbs);
      expect(Math.abs(all[i] - one[i])).toBeLessThanOrEqual(1e-6 * maxAbs);
    });
    expect(await model.score([])).toEqual(new Float32Array(0));
  });

  it('truncates to the model positions by default', async () => {
    const p = expected.pairs.find((q) => q.ids.length === 64)!;
    expect(p).toBeDefined();
    expect(model.tokenizePair(p.query, p.passage).ids.length).toBe(64);
  });

  it('loads a hub id from the Hugging Face cache', async () => {
    const commit = '0123456789abcdef0123456789abcdef01234567';
    const repo = join(tmp, 'hub', 'models--org--tiny-cross');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), commit);
    cpSync(MODEL, join(repo, 'snapshots', commit), { recursive: true });
    const saved = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const hub = await CrossEncoder.load('org/tiny-cross', { cacheDir: join(tmp, 'hub') });
      const p = expected.pairs[0];
      expect(Array.from(await hub.score([[p.query, p.passage]]))).toEqual(Array.from(await model.score([[p.query, p.passage]])));
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = saved;
    }
  });

  it('rejects bad arguments', async () => {
    await expect(model.score('x' as never)).rejects.toThrow(/pairs/);
    await expect(model.score([['a'] as never])).rejects.toThrow(/pairs\[0\]/);
    await expect(model.score([['a', 'b']], { batchSize: 0 })).rejects.toThrow(/batchSize/);
  });

  it('names the file and tensor when the classifier weights are missing', async () => {
    const d = join(tmp, 'no-classifier');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(MODEL, 'config.json'), join(d, 'config.json'));
    copyFileSync(join(MODEL, 'tokenizer.json'), join(d, 'tokenizer.json'));
    const params = [...model.parameters()].filter(([n]) => n !== 'classifier.weight');
    writeSafetensors(join(d, 'model.safetensors'), params.map(([n, t]) => [n, t, shapeOf(n)]));
    await expect(CrossEncoder.load(d)).rejects.toThrow(/model\.safetensors.*classifier\.weight/);
  });

  it('rejects num_labels != 1 and non-classification checkpoints with clear errors', async () => {
    const d = join(tmp, 'two-labels');
    mkdirSync(d, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    cfg.id2label = { 0: 'LABEL_0', 1: 'LABEL_1' };
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    copyFileSync(join(MODEL, 'tokenizer.json'), join(d, 'tokenizer.json'));
    copyFileSync(join(MODEL, 'model.safetensors'), join(d, 'model.safetensors'));
    await expect(CrossEncoder.load(d)).rejects.toThrow(/2 labels.*num_labels = 1/);
    await expect(CrossEncoder.load(join(FIX, 'models', 'bert'))).rejects.toThrow(/BertForMaskedLM.*BertForSequenceClassification/);
  });
});

/** Tensor shapes from the fixture's safetensors header. */
function shapeOf(name: string): number[] {
  const buf = readFileSync(join(MODEL, 'model.safetensors'));
  const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8'));
  return header[name].shape;
}

const cli = async (...args: string[]): Promise<number> => (await runCli(...args)).code;

describe('splade score', () => {
  it('adds teacher logits for every positive and negative document', async () => {
    const p = (f: string) => join(tmp, f);
    const docs = expected.pairs.slice(0, 6).map((x, i) => ({ _id: `d${i}`, title: '', text: x.passage }));
    const queries = expected.pairs.slice(0, 3).map((x, i) => ({ _id: `q${i}`, text: x.query }));
    writeFileSync(p('corpus.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n'));
    writeFileSync(p('queries.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n'));
    const recs = [
      { qid: 'q0', pos: ['d0'], neg: { bm25: ['d3', 'd4'], fused: ['d4', 'd5'] } },
      { qid: 'q1', pos: ['d1'], neg: { bm25: ['d2'] } },
      { qid: 'q2', pos: ['d2', 'd5'], neg: { bm25: [] } },
    ];
    writeFileSync(p('neg.jsonl'), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const args = ['score', '--negatives', p('neg.jsonl'), '--corpus', p('corpus.jsonl'), '--queries', p('queries.jsonl'), '--model', MODEL];
    expect(await cli(...args, '--out', p('scored.jsonl'), '--batch-size', '2')).toBe(0);
    const out = readFileSync(p('scored.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(out.map((r) => r.qid)).toEqual(['q0', 'q1', 'q2']);
    for (let i = 0; i < recs.length; i++) {
      const { scores, ...rest } = out[i];
      expect(rest).toEqual(recs[i]);
      const ids = [...new Set([...recs[i].pos, ...Object.values(recs[i].neg).flat()])];
      expect(Object.keys(scores).sort()).toEqual(ids.sort());
      const q = queries.find((x) => x._id === recs[i].qid)!.text;
      const direct = await model.score(ids.map((d) => [q, docs[Number(d.slice(1))].text] as [string, string]));
      ids.forEach((d, k) => expect(Math.abs(scores[d] - direct[k])).toBeLessThanOrEqual(1e-6 * maxAbs));
    }
    // (q0, d0) is the fixture's first pair: the CLI's logit is the PyTorch one.
    expect(Math.abs(out[0].scores.d0 - expected.pairs[0].logit)).toBeLessThan(TOL);

    // A record naming a document the corpus lacks: an error naming it, and no output file.
    writeFileSync(p('bad.jsonl'), JSON.stringify({ qid: 'q0', pos: ['d99'], neg: {} }) + '\n');
    expect(await cli('score', '--negatives', p('bad.jsonl'), '--corpus', p('corpus.jsonl'), '--queries', p('queries.jsonl'), '--model', MODEL, '--out', p('bad-out.jsonl'))).toBe(2);
    expect(() => readFileSync(p('bad-out.jsonl'))).toThrow();
  });
});
