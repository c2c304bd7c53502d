// Recipes: every shipped recipe parses (and its train stages pass `splade train`'s own config check),
// malformed recipes fail with messages that say where, the pseudo-query / merge / fusion
// pieces, and a tiny recipe run end to end on the fixture models (then resumed: every stage kept).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

import { parseTrainConfig, readJsonFile } from '../lib/train/config.js';
import { RECIPES_DIR, shippedRecipes } from '../lib/cli/commands/recipe.js';
import { fuseRuns, scoreSumFusion, reciprocalRankFusion } from '../lib/eval/fusion.js';
import { collectionPrefix, groupByCollection, mapTexts, mergeCollections, readCollection } from '../lib/data/collections.js';
import { pseudoQueries, splitSentences } from '../lib/recipe/pseudo-queries.js';
import { parseRecipe, readRecipe } from '../lib/recipe/recipe.js';
import { runRecipe } from '../lib/recipe/runner.js';
import { evaluateRun } from '../lib/recipe/stages.js';
import { corpusWordPieceIdf, bm25QueryText } from '../lib/model/idf-query.js';
import { InvertedIndex, SpladeModel } from '../lib/index.js';
import { runCli } from './helpers/cli.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'models');
const dir = mkdtempSync(join(tmpdir(), 'splade-recipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = runCli;

describe('shipped recipes', () => {
  const names = shippedRecipes();
  it('are all there', () => {
    for (const n of ['splade-pp-ensembledistil', 'splade-pp-selfdistil', 'splade-pp-kldiv', 'splade-pp-contrastive', 'domain',
      'small-contrastive', 'small-ensembledistil', 'small-selfdistil', 'small-kldiv']) expect(names).toContain(n);
  });
  it.each(names)('%s parses, and its train stages are valid splade train configs', (name) => {
    const r = readRecipe(join(RECIPES_DIR, `${name}.json`));
    expect(r.name).toBe(name);
    expect(r.description.length).toBeGreaterThan(20);
    const trains = r.stages.filter((s) => s.stage === 'train');
    expect(trains.length).toBeGreaterThan(0);
    for (const s of trains) {
      const path = join(dir, `${name}-${s.name}.json`);
      const { stage: _s, name: _n, comment: _c, ...cfg } = s;
      writeFileSync(path, JSON.stringify({ ...cfg, model: String(s.model).replace(/^@/, '') }));
      const c = parseTrainConfig(readJsonFile(path), path, dir);
      expect(c.steps).toBe(s.steps);
      expect(c.trainer).toEqual(s.trainer);
    }
  });
  it('the paper set-ups carry naver/splade hyperparameters', () => {
    for (const name of ['splade-pp-ensembledistil', 'splade-pp-selfdistil']) {
      for (const s of readRecipe(join(RECIPES_DIR, `${name}.json`)).stages.filter((x) => x.stage === 'train')) {
        expect(s).toMatchObject({ batchSize: 128, steps: 150000, docMaxLength: 256, negativesPerQuery: 1 });
        expect(s.trainer).toMatchObject({ loss: 'marginmse', lambdaQ: 0.5, lambdaD: 0.4, lambdaWarmupSteps: 50000, lr: 2e-5, warmupSteps: 6000, totalSteps: 150000, queryReg: 'flops', docReg: 'flops' });
      }
    }
    expect(readRecipe(join(RECIPES_DIR, 'splade-pp-kldiv.json')).stages.find((s) => s.stage === 'train')!.trainer).toMatchObject({ loss: 'kldiv' });
    const domain = readRecipe(join(RECIPES_DIR, 'domain.json'));
    expect(domain.stages.map((s) => s.stage)).toEqual(['init', 'text', 'mlm', 'pseudo-queries', 'text', 'mine', 'train', 'mine', 'train', 'index', 'evaluate']);
  });
  it('--list and --show work from the CLI', async () => {
    const list = await cli('recipe', '--list');
    expect(list.code).toBe(0);
    expect(list.out).toContain('domain');
    const show = await cli('recipe', 'domain', '--show', '--set', 'data=/x/y');
    expect(show.code).toBe(0);
    expect(JSON.parse(show.out).stages[1].collection).toBe('/x/y');
    expect(JSON.parse(show.out).stages[3].corpus).toBe('/x/y');
    const bad = await cli('recipe', 'no-such-recipe');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("no recipe 'no-such-recipe'");
  });
});

describe('parseRecipe errors', () => {
  const ok = { name: 'r', description: 'a recipe', params: { d: 'data' }, stages: [{ stage: 'init', name: 'init', output: 'm' }] };
  const fails = (r: unknown, msg: string | RegExp, overrides?: Record<string, string>) => expect(() => parseRecipe(r, { overrides })).toThrow(msg);
  it('says what and where', () => {
    expect(parseRecipe(ok).stages[0].output).toBe('m');
    fails({ ...ok, stages: [{ stage: 'bake', output: 'x' }] }, /stage 1: "stage" must be one of init, mlm/);
    fails({ ...ok, stages: [{ stage: 'init' }] }, /stage 1 \(init-1\): "output" is required/);
    fails({ ...ok, stages: [{ stage: 'init', output: 'm', colour: 1 }] }, /unknown key\(s\) "colour"/);
    fails({ ...ok, stages: [{ stage: 'index', model: '@nothing', corpus: 'c', output: 'i' }] }, /"model": "@nothing" names no earlier stage/);
    fails({ ...ok, stages: [{ stage: 'init', output: '${nope}' }] }, /unknown param \$\{nope\}/);
    fails(ok, /--set x: the recipe has no param "x"/, { x: '1' });
    fails({ ...ok, stages: [{ stage: 'train', model: 'm', output: 'o', corpus: 'c', queries: 'q', negatives: 'n', steps: 0 }] }, /"steps" must be an integer >= 1/);
    fails({ ...ok, stages: [{ stage: 'mine', collection: 'c', output: 'o', retrievers: ['splade'] }] }, /the splade retriever needs "model"/);
    fails({ ...ok, stages: [{ stage: 'mine', collection: 'c', output: 'o', ranks: [5, 2] }] }, /"ranks" must be \[from, to\]/);
    fails({ ...ok, stages: [{ stage: 'train', model: 'm', output: 'o', corpus: 'c', queries: 'q', negatives: 'n', steps: 1, trainer: { lr: 1, momentum: 0.9 } }] }, /unknown trainer option\(s\) "momentum"/);
    fails({ ...ok, stages: [...ok.stages, { stage: 'init', name: 'init', output: 'n' }] }, /two stages are named "init"/);
    fails({ ...ok, description: '' }, /"description" must be a non-empty string/);
    fails({ ...ok, stages: [{ stage: 'pseudo-queries', corpus: 'c', output: 'o', span: 'yes' }] }, /"span" must be true or false/);
  });
});

describe('pseudo-queries', () => {
  const docs = [
    { id: '1', title: 'wing flutter at high speed', text: 'wing flutter at high speed . we measured the flutter of a swept wing in a wind tunnel at several mach numbers and report the boundaries.' },
    { id: '2', title: '', text: 'Blood pressure rises with age. The study followed two thousand adults for ten years in three cities. Salt intake explained part of the rise in every group.' },
    { id: '3', title: '', text: 'Too short.' },
  ];
  it('uses the title and removes it (and its repeat) from the document', () => {
    const p = pseudoQueries(docs, { seed: 1 });
    expect(p.queries[0]).toEqual({ id: 'pq:1', text: 'wing flutter at high speed' });
    expect(p.qrels['pq:1']).toEqual({ '1': 1 });
    expect(p.corpus[0].text.startsWith('. we measured')).toBe(true);
    expect(p.corpus[0].title).toBe('');
  });
  it('takes one sentence out of a document without a title, deterministically', () => {
    const a = pseudoQueries(docs, { seed: 1 }), b = pseudoQueries(docs, { seed: 1 });
    expect(a).toEqual(b);
    const q = a.queries.find((x) => x.id === 'pq:2')!;
    expect(splitSentences(docs[1].text)).toContain(q.text);
    const rest = a.corpus.find((d) => d.id === '2')!.text;
    expect(rest).not.toContain(q.text);
    expect(splitSentences(rest).length).toBe(2);
    // too short: no query, the document is kept as it is
    expect(a.queries.some((x) => x.id === 'pq:3')).toBe(false);
    expect(a.corpus.find((d) => d.id === '3')).toEqual(docs[2]);
    // texts without sentence ends give a span of words when asked
    const flat = { id: '4', title: '', text: 'compact memories have flexible capacities a digital data storage system with capacity up to bits and random access is described' };
    expect(pseudoQueries([flat]).queries).toEqual([]);
    const s = pseudoQueries([flat], { span: true, seed: 2 });
    const w = flat.text.split(' ');
    const qw = s.queries[0].text.split(' ');
    expect(qw.length).toBe(Math.round(w.length / 4));
    const at = w.indexOf(qw[0]);
    expect(w.slice(at, at + qw.length)).toEqual(qw);
    expect(s.corpus[0].text).toBe([...w.slice(0, at), ...w.slice(at + qw.length)].join(' '));
    // 'title' only: the documents without a title give none
    expect(pseudoQueries(docs, { source: 'title' }).queries.map((x) => x.id)).toEqual(['pq:1']);
  });
});

describe('collections and fusion', () => {
  it('merging prefixes every id and drops unjudged queries', () => {
    const m = mergeCollections({
      a: { corpus: [{ id: '1', title: '', text: 'x' }], queries: [{ id: '1', text: 'q' }, { id: '2', text: 'unjudged' }], qrels: { '1': { '1': 2 } } },
      b: { corpus: [{ id: '1', title: 't', text: 'y' }], queries: [{ id: '1', text: 'r' }], qrels: { '1': { '1': 1 } } },
    });
    expect(m.corpus.map((d) => d.id)).toEqual(['a/1', 'b/1']);
    expect(m.queries.map((q) => q.id)).toEqual(['a/1', 'b/1']);
    expect(m.qrels).toEqual({ 'a/1': { 'a/1': 2 }, 'b/1': { 'b/1': 1 } });
  });
  it('prefixes, grouping by prefix, and texts mapped with ids and judgments kept', () => {
    expect(collectionPrefix('npl/12')).toBe('npl/');
    expect(collectionPrefix('12')).toBe('');
    const docs = [{ id: 'a/1', title: '', text: 'x' }, { id: 'b/1', title: '', text: 'y' }, { id: 'a/2', title: '', text: 'z' }];
    expect([...groupByCollection(docs, true)].map(([k, g]) => [k, g.map((d) => d.id)])).toEqual([['a/', ['a/1', 'a/2']], ['b/', ['b/1']]]);
    expect([...groupByCollection(docs, false).keys()]).toEqual(['']);
    const c = { corpus: [{ id: '1', title: 'The Title', text: 'Some Text' }, { id: '2', title: '', text: 'More' }], queries: [{ id: 'q', text: 'A Query' }], qrels: { q: { '1': 1 } } };
    const m = mapTexts(c, (t) => t.toUpperCase());
    expect(m.corpus).toEqual([{ id: '1', title: 'THE TITLE', text: 'SOME TEXT' }, { id: '2', title: '', text: 'MORE' }]);
    expect(m.queries).toEqual([{ id: 'q', text: 'A QUERY' }]);
    expect(m.qrels).toEqual(c.qrels);
    expect(c.corpus[0].title).toBe('The Title');
  });
  it('fuseRuns applies the fusion per query, truncated to k (expected values by hand)', () => {
    const s = { q: { a: 4, b: 2, c: 1 }, q2: { x: 3 } }, t = { q: { b: 10, d: 5 } };
    // score sum, each run divided by its top score: a 4/4, b 2/4 + 10/10, c 1/4, d 5/10
    const sum = fuseRuns([s, t], 'sum', 3);
    expect(Object.entries(sum.q)).toEqual([['b', 1.5], ['a', 1], ['d', 0.5]]);
    expect(sum.q2).toEqual({ x: 1 });
    // RRF with k = 60: 1 / (60 + rank) summed over the runs
    const rrf = fuseRuns([s, t], 'rrf', 10);
    expect(Object.keys(rrf.q)).toEqual(['b', 'a', 'd', 'c']);
    expect(rrf.q.b).toBeCloseTo(1 / 62 + 1 / 61, 15);
    expect(rrf.q.a).toBeCloseTo(1 / 61, 15);
    expect(rrf.q.d).toBeCloseTo(1 / 62, 15);
    expect(rrf.q.c).toBeCloseTo(1 / 63, 15);
    expect(rrf.q2).toEqual({ x: 1 / 61 });
    // a tie goes to the lower document id
    expect(Object.keys(fuseRuns([{ q: { z: 1 } }, { q: { y: 1 } }], 'sum', 2).q)).toEqual(['y', 'z']);
  });
});

describe('a tiny recipe end to end', () => {
  const words = ['heart', 'lung', 'cell', 'blood', 'brain', 'liver', 'kidney', 'bone', 'skin', 'nerve'];
  const data = join(dir, 'tiny');
  mkdirSync(join(data, 'qrels'), { recursive: true });
  const corpus = Array.from({ length: 24 }, (_, i) => ({
    _id: `d${i}`, title: i % 2 ? `${words[i % 10]} ${words[(i + 3) % 10]} study` : '',
    text: `The ${words[i % 10]} tissue was examined. Samples of ${words[(i * 3) % 10]} and ${words[(i + 1) % 10]} were taken. Results for the ${words[i % 10]} group are reported here.`,
  }));
  writeFileSync(join(data, 'corpus.jsonl'), corpus.map((d) => JSON.stringify(d)).join('\n') + '\n');
  writeFileSync(join(data, 'queries.jsonl'), words.slice(0, 6).map((w, i) => JSON.stringify({ _id: `q${i}`, text: `${w} tissue` })).join('\n') + '\n');
  writeFileSync(join(data, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\n' + words.slice(0, 6).map((_, i) => `q${i}\td${i}\t1\nq${i}\td${i + 10}\t1\n`).join(''));
  const trainer = { lr: 1e-3, dropout: 0, lambdaQ: 0.01, lambdaD: 0.01 };
  const small = { negativesPerQuery: 1, batchSize: 2, queryMaxLength: 16, docMaxLength: 32, steps: 2 };
  const recipe = {
    name: 'tiny', description: 'every stage kind on the fixture models',
    params: { data, model: join(FIXTURES, 'bert'), teacher: join(FIXTURES, 'cross') },
    stages: [
      { stage: 'mlm', name: 'adapt', model: '${model}', corpus: '${data}', output: 'mlm', steps: 2, batchSize: 4, maxLength: 32, trainer: { lr: 1e-3, dropout: 0 } },
      { stage: 'pseudo-queries', name: 'pseudo', corpus: '${data}', output: 'pseudo', minRestWords: 5 },
      { stage: 'mine', name: 'bm25', collection: 'pseudo', output: 'neg-bm25.jsonl', depth: 10, count: 1 },
      { stage: 'score', name: 'teacher', negatives: 'neg-bm25.jsonl', collection: 'pseudo', model: '${teacher}', output: 'neg-scored.jsonl', maxLength: 48 },
      { stage: 'train', name: 'round1', model: '@adapt', output: 'round1', corpus: 'pseudo', queries: 'pseudo', negatives: 'neg-scored.jsonl', negativeSource: 'bm25', ...small, trainer: { ...trainer, loss: 'marginmse' } },
      { stage: 'mine', name: 'self', collection: 'pseudo', output: 'neg-self.jsonl', retrievers: ['splade', 'bm25'], fusion: 'rrf', model: '@round1', depth: 10, count: 1 },
      { stage: 'train', name: 'round2', model: '@round1', output: 'round2', corpus: 'pseudo', queries: 'pseudo', negatives: 'neg-self.jsonl', negativeSource: 'fused', ...small, trainer: { ...trainer, loss: 'contrastive', inBatchNegatives: true } },
      { stage: 'index', name: 'index', model: '@round2', corpus: '${data}', output: 'index/splade.idx' },
      { stage: 'evaluate', name: 'evaluate', model: '@round2', index: 'index/splade.idx', collection: '${data}', output: 'evaluate.json', k: 10 },
    ],
  };
  const work = join(dir, 'work');

  it('runs every stage, the masked-LM adaptation included', async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await runRecipe(parseRecipe(recipe), { workdir: work, log: (l) => lines.push(l) });
    } finally {
      write.mockRestore();
      error.mockRestore();
    }
    const mlmLog = readFileSync(join(work, 'mlm', 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(mlmLog.map((s) => s.step)).toEqual([1, 2]);
    for (const s of mlmLog) expect(s.mlmLoss).toBeGreaterThan(0);
    expect(existsSync(join(work, 'mlm', 'model', 'model.safetensors'))).toBe(true);
    const pseudo = await readCollection(join(work, 'pseudo'));
    expect(pseudo.queries.length).toBeGreaterThan(12);
    const scored = readFileSync(join(work, 'neg-scored.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(scored.length).toBe(pseudo.queries.length);
    for (const r of scored) for (const d of [...r.pos, ...r.neg.bm25]) expect(Number.isFinite(r.scores[d])).toBe(true);
    const self = readFileSync(join(work, 'neg-self.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(Object.keys(self[0].neg).sort()).toEqual(['bm25', 'fused', 'splade']);
    for (const r of ['round1', 'round2']) {
      const log = readFileSync(join(work, r, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(log.map((s) => s.step)).toEqual([1, 2]);
      for (const s of log) expect(Number.isFinite(s.loss)).toBe(true);
    }
    expect(existsSync(join(work, 'index', 'splade.idx'))).toBe(true);
    const ev = JSON.parse(readFileSync(join(work, 'evaluate.json'), 'utf8'));
    expect(ev.queries).toBe(6);
    expect(ev.rows.map((r: { run: string }) => r.run)).toEqual(['SPLADE (@round2)', 'BM25 (k1 0.9, b 0.4)', 'SPLADE + BM25 (rrf)']);
    for (const r of ev.rows) for (const v of Object.values(r.metrics) as number[]) expect(v >= 0 && v <= 1).toBe(true);
    // BM25 finds the planted documents: the word of query i is in both of its judged documents
    expect(ev.rows[1].metrics['recall@100']).toBeGreaterThan(0.5);
    const stages = readFileSync(join(work, 'recipe_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).stage);
    expect(stages).toEqual(recipe.stages.map((s) => s.name));
  }, 120_000);

  it('resumes: a second run keeps every output', async () => {
    const lines: string[] = [];
    await runRecipe(parseRecipe(recipe), { workdir: work, log: (l) => lines.push(l) });
    const notes = lines.filter((l) => /^== \S+: /.test(l));
    for (const n of ['adapt', 'pseudo', 'bm25', 'teacher', 'round1', 'self', 'round2', 'index']) expect(notes.find((l) => l.startsWith(`== ${n}:`))).toMatch(/kept /);
  }, 60_000);

  it('a text stage rewrites the collection to the words BM25 keeps; evaluate searches with idf queries', async () => {
    const words2 = { name: 'words', description: 'text stage and idf queries',
      params: { data, model: join(FIXTURES, 'bert') },
      stages: [
        { stage: 'text', name: 'words', collection: '${data}', output: 'words', mode: 'words' },
        { stage: 'index', name: 'index', model: '${model}', corpus: 'words', output: 'index/words.idx' },
        { stage: 'evaluate', name: 'evaluate', model: '${model}', index: 'index/words.idx', collection: 'words', output: 'evaluate-idf.json', k: 10, queryWeights: 'idf' },
      ] };
    const work2 = join(dir, 'work-words');
    await runRecipe(parseRecipe(words2), { workdir: work2, log: () => undefined });
    const raw = await readCollection(data), w = await readCollection(join(work2, 'words'));
    expect(w.qrels).toEqual(raw.qrels);
    expect(w.corpus.map((d) => d.text)).toEqual(raw.corpus.map((d) => bm25QueryText(d.text)));
    expect(w.queries.map((q) => q.text)).toEqual(raw.queries.map((q) => bm25QueryText(q.text)));
    expect(w.corpus[0].text).not.toMatch(/\bthe\b/i);
    const ev = JSON.parse(readFileSync(join(work2, 'evaluate-idf.json'), 'utf8'));
    expect(ev.rows[0].run).toBe('SPLADE (${model}, idf queries)'.replace('${model}', join(FIXTURES, 'bert')));
    // the same search done here: idf over the words corpus, the index the stage built
    const model = await SpladeModel.load(join(FIXTURES, 'bert'));
    const docs = w.corpus.map((d) => (d.title ? `${d.title} ${d.text}` : d.text));
    const idf = await corpusWordPieceIdf(model, docs);
    const index = InvertedIndex.open(join(work2, 'index', 'words.idx'));
    const run: Record<string, Record<string, number>> = {};
    for (const q of w.queries) {
      const r = index.search(idf.query(q.text), { k: 10 });
      run[q.id] = Object.fromEntries((r.docIds ?? Array.from(r.ids, String)).map((d, i) => [d, r.scores[i]]));
    }
    expect(ev.rows[0].metrics).toEqual(evaluateRun(run, w.qrels));
    expect(() => parseRecipe({ ...words2, stages: [{ ...words2.stages[0], mode: 'stems' }] })).toThrow(/"mode" must be one of "raw", "words"/);
    expect(() => parseRecipe({ ...words2, stages: [{ ...words2.stages[2], model: 'm', queryWeights: 'bm25' }] })).toThrow(/"queryWeights" must be "encoder" or "idf"/);
  }, 60_000);
});
