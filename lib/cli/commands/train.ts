import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

import { writeFileAtomicSync } from '../../data/atomic.js';
import { ErrorCode, SpladeError } from '../../errors.js';
import type { NegativesRecord } from '../../mine.js';
import { SpladeModel } from '../../model/splade-model.js';
import { readTexts } from '../../pipeline.js';
import { WordPieceIdf, modelWordPieces } from '../../model/idf-query.js';
import { hashSeed, mulberry32, sampleDistinct } from '../../random.js';
import { trainPlotSvg } from '../../train/plot.js';
import { type MlmBatch, type StepStats, type TrainBatch, Trainer, type TrainerOptions } from '../../train/trainer.js';
import { modelLoadOptions, parse, required } from '../args.js';
import { Progress } from '../progress.js';

const HELP = `usage: splade train --config CONFIG.json [--device cpu|cuda]

Fine-tunes a SPLADE model on mined negatives (the JSONL that 'splade mine' writes, with teacher
scores from 'splade score' for marginmse / kldiv). The config (paths relative to its directory):

  {
    "model": "DIR or org/name",    "output": "DIR",
    "corpus": "corpus.jsonl",      "queries": "queries.jsonl",   "negatives": "negatives.jsonl",
    "negativeSource": "bm25",      (which neg list; default: the first of the first record)
    "negativesPerQuery": 1,        "negativeSampling": "random", (or "first": always the list's top ones)
    "batchSize": 16,               "steps": 1000,
    "queryMaxLength": 32,          "docMaxLength": 256,
    "checkpointEvery": 500,        (0: only at the end)          "seed": 0,
    "queryWeights": "idf",         (optional: inference-free queries, each word piece weighted by its
                                    idf over the corpus; only the documents are learned)
    "trainer": { "loss": "contrastive", "inBatchNegatives": true, "lr": 2e-5, "dropout": 0, ... }
  }

Masked-language-model training (adapting or pre-training the encoder on a corpus: BERT's 15%
masking, 80/10/10) takes "objective": "mlm" and only the corpus (no queries, negatives):

  { "objective": "mlm", "model": "DIR", "output": "DIR", "corpus": "corpus.jsonl or .tsv",
    "batchSize": 16 (sequences per step), "docMaxLength": 256, "steps": 1000, "seed": 0,
    "checkpointEvery": 500, "trainer": { "lr": 5e-5, "dropout": 0.1, ... } }

Writes OUTPUT/train_log.jsonl (one StepStats per step), OUTPUT/train_plot.svg, OUTPUT/checkpoint
(model + optimizer state; a rerun continues from it, data position included) and OUTPUT/model.
trainer.totalSteps defaults to steps. --device cuda trains on the GPU (see the README's "GPU (CUDA)");
a checkpoint continues on either device.`;

/** A training job's configuration (see HELP). */
export interface TrainConfig {
  /** 'ranking' (default: queries with mined negatives) or 'mlm' (masked-LM on the corpus alone). */
  objective: 'ranking' | 'mlm';
  /** queries and negatives are '' for the mlm objective. */
  model: string; output: string; corpus: string; queries: string; negatives: string;
  negativeSource?: string; negativesPerQuery: number; batchSize: number; steps: number;
  /** 'random' (default): each time a query comes round, negativesPerQuery drawn afresh from its whole list
   * (as naver/splade samples its hard negatives); 'first': always the list's first ones. */
  negativeSampling?: 'random' | 'first';
  queryMaxLength: number; docMaxLength: number; checkpointEvery: number; seed: number;
  /** 'idf': inference-free queries (word pieces x idf over the corpus; the trainer's queryTermWeights). */
  queryWeights?: 'idf';
  trainer: TrainerOptions;
}

type NegRecord = NegativesRecord & { scores?: { [docid: string]: number } };

function bad(message: string): never {
  throw new SpladeError(message, ErrorCode.invalidArgument);
}

export function readConfig(path: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    bad(`${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(`${path}: the config must be a JSON object`);
  const c = raw as { [k: string]: unknown };
  const base = dirname(resolve(path));
  const str = (k: string): string => {
    const v = c[k];
    if (typeof v !== 'string' || v === '') bad(`${path}: "${k}" must be a non-empty string`);
    return v;
  };
  const file = (k: string) => {
    const v = str(k);
    return isAbsolute(v) ? v : resolve(base, v);
  };
  const int = (k: string, d: number | undefined, min: number): number => {
    const v = c[k];
    if (v === undefined && d !== undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(`${path}: "${k}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const modelRef = str('model');
  const localModel = isAbsolute(modelRef) ? modelRef : resolve(base, modelRef);
  if (c.negativeSource !== undefined && (typeof c.negativeSource !== 'string' || c.negativeSource === '')) {
    bad(`${path}: "negativeSource" must be a non-empty string`);
  }
  const trainer = c.trainer ?? {};
  if (trainer === null || typeof trainer !== 'object' || Array.isArray(trainer)) bad(`${path}: "trainer" must be an object`);
  if (c.negativeSampling !== undefined && c.negativeSampling !== 'random' && c.negativeSampling !== 'first') {
    bad(`${path}: "negativeSampling" must be "random" or "first", got ${JSON.stringify(c.negativeSampling)}`);
  }
  const known = new Set(['objective', 'model', 'output', 'corpus', 'queries', 'negatives', 'negativeSource', 'negativesPerQuery', 'negativeSampling',
    'batchSize', 'steps', 'queryMaxLength', 'docMaxLength', 'checkpointEvery', 'seed', 'queryWeights', 'trainer']);
  const unknown = Object.keys(c).filter((k) => !known.has(k));
  if (unknown.length) bad(`${path}: unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const objective = c.objective ?? 'ranking';
  if (objective !== 'ranking' && objective !== 'mlm') bad(`${path}: "objective" must be "ranking" or "mlm", got ${JSON.stringify(objective)}`);
  const mlm = objective === 'mlm';
  if (c.queryWeights !== undefined && (c.queryWeights !== 'idf' || mlm)) bad(`${path}: "queryWeights" must be "idf" (ranking objective only), got ${JSON.stringify(c.queryWeights)}`);
  return {
    objective,
    // a local directory (relative to the config) when it exists, otherwise a hub id
    model: existsSync(localModel) ? localModel : modelRef,
    output: file('output'), corpus: file('corpus'), queries: mlm ? '' : file('queries'), negatives: mlm ? '' : file('negatives'),
    negativeSource: c.negativeSource as string | undefined,
    negativesPerQuery: int('negativesPerQuery', 1, 0),
    negativeSampling: (c.negativeSampling ?? 'random') as 'random' | 'first',
    batchSize: int('batchSize', 16, 1),
    steps: int('steps', undefined, 1),
    queryMaxLength: int('queryMaxLength', 32, 2),
    docMaxLength: int('docMaxLength', 256, 2),
    checkpointEvery: int('checkpointEvery', 0, 0),
    seed: int('seed', 0, 0),
    ...(c.queryWeights === 'idf' ? { queryWeights: 'idf' as const } : {}),
    trainer: trainer as TrainerOptions,
  };
}

function needsTeacher(loss: TrainerOptions['loss']): boolean {
  const names = loss === undefined ? [] : typeof loss === 'string' ? [loss] : Array.isArray(loss) ? loss.map((p) => p?.loss) : [];
  return names.some((n) => n === 'marginmse' || n === 'kldiv');
}

async function readRecords(path: string): Promise<Array<{ line: number; record: NegRecord }>> {
  const out: Array<{ line: number; record: NegRecord }> = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    let r: NegRecord;
    try {
      r = JSON.parse(text) as NegRecord;
    } catch (err) {
      throw new SpladeError(`${path}:${i + 1}: ${(err as Error).message}`, ErrorCode.corruptFile);
    }
    if (r === null || typeof r !== 'object' || typeof r.qid !== 'string' || !Array.isArray(r.pos) || r.neg === null || typeof r.neg !== 'object') {
      throw new SpladeError(`${path}:${i + 1}: expected a record { qid, pos: [...], neg: { name: [...] } }`, ErrorCode.corruptFile);
    }
    out.push({ line: i + 1, record: r });
  });
  return out;
}

/** The examples of one job and the seeded order in which its batches take them. */
export class BatchSource {
  private orderEpoch = -1;
  private order = new Uint32Array(0);
  private readonly qTokens = new Map<string, Int32Array>();
  private readonly dTokens = new Map<string, Int32Array>();

  constructor(
    private readonly model: SpladeModel,
    private readonly cfg: TrainConfig,
    private readonly records: Array<{ qid: string; pos: string[]; neg: string[]; scores?: { [docid: string]: number } }>,
    private readonly queries: Map<string, string>,
    private readonly docs: Map<string, string>,
    private readonly teacher: boolean,
  ) {}

  /** Record order of epoch e: a Fisher-Yates shuffle seeded by (seed, e). */
  private epochOrder(e: number): Uint32Array {
    if (e !== this.orderEpoch) {
      this.order = shuffled(this.records.length, hashSeed(this.cfg.seed, `epoch:${e}`));
      this.orderEpoch = e;
    }
    return this.order;
  }

  private query(qid: string): Int32Array {
    let ids = this.qTokens.get(qid);
    if (!ids) this.qTokens.set(qid, (ids = this.model.tokenize(this.queries.get(qid)!, { kind: 'query', maxLength: this.cfg.queryMaxLength })));
    return ids;
  }

  private doc(id: string): Int32Array {
    let ids = this.dTokens.get(id);
    if (!ids) this.dTokens.set(id, (ids = this.model.tokenize(this.docs.get(id)!, { kind: 'document', maxLength: this.cfg.docMaxLength })));
    return ids;
  }

  /** Batch t (0-based): examples t*B .. t*B+B-1 of the endless stream of shuffled epochs. */
  batch(t: number): TrainBatch {
    const B = this.cfg.batchSize, N = this.records.length;
    const batch: TrainBatch = { queries: [], documents: [] };
    if (this.teacher) batch.teacherScores = [];
    for (let i = 0; i < B; i++) {
      const k = t * B + i;
      const e = Math.floor(k / N);
      const r = this.records[this.epochOrder(e)[k % N]];
      const pos = r.pos[Math.floor(mulberry32(hashSeed(this.cfg.seed, `pos:${e}:${r.qid}`))() * r.pos.length)];
      const negs = (this.cfg.negativeSampling ?? 'random') === 'first'
        ? r.neg.slice(0, this.cfg.negativesPerQuery)
        : sampleDistinct(r.neg, this.cfg.negativesPerQuery, mulberry32(hashSeed(this.cfg.seed, `neg:${e}:${r.qid}`)));
      const docs = [pos, ...negs];
      batch.queries.push(this.query(r.qid));
      batch.documents.push(docs.map((d) => this.doc(d)));
      if (batch.teacherScores) batch.teacherScores.push(docs.map((d) => r.scores![d]));
    }
    return batch;
  }
}

/** MLM batches: the corpus's documents in seeded per-epoch orders, batchSize sequences a step. */
class MlmSource {
  private orderEpoch = -1;
  private order = new Uint32Array(0);

  constructor(private readonly model: SpladeModel, private readonly cfg: TrainConfig, private readonly texts: string[]) {}

  batch(t: number): MlmBatch {
    const B = this.cfg.batchSize, N = this.texts.length;
    const sequences: Int32Array[] = [];
    for (let i = 0; i < B; i++) {
      const k = t * B + i, e = Math.floor(k / N);
      if (e !== this.orderEpoch) {
        this.order = shuffled(N, hashSeed(this.cfg.seed, `mlm-epoch:${e}`));
        this.orderEpoch = e;
      }
      sequences.push(this.model.tokenize(this.texts[this.order[k % N]], { kind: 'document', maxLength: this.cfg.docMaxLength }));
    }
    return { objective: 'mlm', sequences };
  }
}

/** 0 .. n-1 in a Fisher-Yates order seeded by seed. */
function shuffled(n: number, seed: number): Uint32Array<ArrayBuffer> {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  return order;
}

function readLog(path: string): StepStats[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as StepStats);
}

function writePlot(output: string): void {
  const svg = trainPlotSvg(readLog(join(output, 'train_log.jsonl')), { title: 'splade train' });
  writeFileAtomicSync(join(output, 'train_plot.svg'), [Buffer.from(svg, 'utf8')]);
}

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, { config: { type: 'string' }, device: { type: 'string' } }, HELP);
  if (!v) return 0;
  const cfg = readConfig(required(v, 'config'));
  const { device } = modelLoadOptions({ device: v.device });
  if (cfg.objective === 'mlm') {
    const texts: string[] = [];
    for await (const d of readTexts(cfg.corpus, 'document')) texts.push(d.text);
    if (texts.length === 0) bad(`${cfg.corpus}: no documents`);
    return trainLoop(cfg, device, () => ({}), (model) => new MlmSource(model, cfg, texts));
  }
  const teacher = needsTeacher(cfg.trainer.loss);

  // examples: records with a positive and enough negatives in the chosen list
  const all = await readRecords(cfg.negatives);
  if (all.length === 0) bad(`${cfg.negatives}: no negatives records`);
  const source = cfg.negativeSource ?? Object.keys(all[0].record.neg)[0];
  if (source === undefined) bad(`${cfg.negatives}:${all[0].line}: record ${JSON.stringify(all[0].record.qid)} has no negative lists`);
  const records: Array<{ qid: string; pos: string[]; neg: string[]; scores?: { [docid: string]: number } }> = [];
  let skipped = 0;
  for (const { line, record: r } of all) {
    const list = r.neg[source];
    if (r.pos.length === 0 || !Array.isArray(list) || list.length < cfg.negativesPerQuery) {
      skipped++;
      continue;
    }
    const neg = cfg.negativeSampling === 'first' ? list.slice(0, cfg.negativesPerQuery) : list.slice();
    if (teacher) {
      const where = `${cfg.negatives}:${line}: record ${JSON.stringify(r.qid)}`;
      if (r.scores === null || typeof r.scores !== 'object') {
        bad(`${where} has no "scores" (the ${JSON.stringify(cfg.trainer.loss)} loss needs teacher scores: add them with 'splade score')`);
      }
      for (const d of [...r.pos, ...neg]) {
        if (typeof r.scores[d] !== 'number' || !Number.isFinite(r.scores[d])) bad(`${where}: no teacher score for document ${JSON.stringify(d)} in "scores"`);
      }
    }
    records.push({ qid: r.qid, pos: r.pos, neg, scores: r.scores });
  }
  if (records.length === 0) {
    bad(`${cfg.negatives}: no record has a positive and ${cfg.negativesPerQuery} negatives in the "${source}" list`);
  }

  // texts: only the ones the examples use
  const needQ = new Set(records.map((r) => r.qid));
  const needD = new Set(records.flatMap((r) => [...r.pos, ...r.neg]));
  const queries = new Map<string, string>();
  for await (const q of readTexts(cfg.queries, 'query')) if (needQ.has(q.id)) queries.set(q.id, q.text);
  const docs = new Map<string, string>();
  for await (const d of readTexts(cfg.corpus, 'document')) if (needD.has(d.id)) docs.set(d.id, d.text);
  for (const id of needQ) if (!queries.has(id)) bad(`${cfg.queries}: no query ${JSON.stringify(id)} (named in ${cfg.negatives})`);
  for (const id of needD) if (!docs.has(id)) bad(`${cfg.corpus}: no document ${JSON.stringify(id)} (named in ${cfg.negatives})`);

  // inference-free queries: every word piece weighted by its idf over the whole corpus
  const corpusTexts: string[] = [];
  if (cfg.queryWeights === 'idf') for await (const d of readTexts(cfg.corpus, 'document')) corpusTexts.push(d.text);
  const idfWeights = (model: SpladeModel): TrainerOptions => {
    if (cfg.queryWeights !== 'idf') return {};
    const idf = new WordPieceIdf(modelWordPieces(model));
    for (const t of corpusTexts) idf.add(t);
    // scaled so the rarest piece weighs 1, about what the encoder's query weights are: raw idf (up to
    // ~10) scales every score and sharpens the contrastive softmax as a temperature of 1/10 would
    const w = Float32Array.from({ length: model.vocabSize }, (_, id) => idf.idf(id));
    const top = w.reduce((a, b) => Math.max(a, b), 0);
    return { queryTermWeights: top > 0 ? w.map((x) => x / top) : w };
  };

  return trainLoop(cfg, device, idfWeights, (model) => {
    if (skipped) console.error(`skipped ${skipped} record(s) without a positive or ${cfg.negativesPerQuery} "${source}" negatives`);
    return new BatchSource(model, cfg, records, queries, docs, teacher);
  });
}

/** Steps (resuming from OUTPUT/checkpoint when there is one), log, plot, checkpoints, final model. */
async function trainLoop(cfg: TrainConfig, device: 'cpu' | 'cuda' | undefined, moreOptions: (model: SpladeModel) => TrainerOptions,
                         makeSource: (model: SpladeModel) => { batch(t: number): TrainBatch | MlmBatch }): Promise<number> {
  // a fresh trainer, or the checkpoint's
  mkdirSync(cfg.output, { recursive: true });
  const ckpt = join(cfg.output, 'checkpoint');
  const logPath = join(cfg.output, 'train_log.jsonl');
  let trainer: Trainer;
  if (existsSync(join(ckpt, 'trainer.json'))) {
    trainer = await Trainer.resume(ckpt, { device });
    const differs = Object.entries({ totalSteps: cfg.steps, ...cfg.trainer })
      .filter(([k, val]) => k !== 'loss' && JSON.stringify((trainer.options as unknown as { [k: string]: unknown })[k]) !== JSON.stringify(val))
      .map(([k]) => k);
    if (differs.length) console.error(`note: continuing with the checkpoint's trainer options (the config differs in ${differs.join(', ')})`);
    // steps logged after the checkpoint are redone
    const kept = readLog(logPath).filter((s) => s.step <= trainer.stepCount);
    writeFileSync(logPath, kept.map((s) => `${JSON.stringify(s)}\n`).join(''));
    console.error(`resuming from ${ckpt} at step ${trainer.stepCount + 1}`);
  } else {
    const model = await SpladeModel.load(cfg.model, { device });
    trainer = new Trainer(model, { totalSteps: cfg.steps, ...cfg.trainer, ...moreOptions(model) });
    writeFileSync(logPath, '');
  }
  const batches = makeSource(trainer.model);

  const start = trainer.stepCount;
  const progress = new Progress({ label: 'train', total: Math.max(0, cfg.steps - start), unit: 'steps' });
  let saved = start;
  for (let t = start; t < cfg.steps; t++) {
    const s = await trainer.step(batches.batch(t));
    appendFileSync(logPath, `${JSON.stringify(s)}\n`);
    progress.detail = `step ${s.step}  loss ${s.loss.toPrecision(4)}  peak ${(s.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB`;
    progress.tick();
    if (cfg.checkpointEvery > 0 && s.step % cfg.checkpointEvery === 0) {
      await trainer.save(ckpt);
      saved = s.step;
      writePlot(cfg.output);
    }
  }
  progress.finish();
  if (saved !== trainer.stepCount || !existsSync(join(ckpt, 'trainer.json'))) await trainer.save(ckpt);
  await trainer.model.save(join(cfg.output, 'model'));
  writePlot(cfg.output);
  console.error(`wrote ${join(cfg.output, 'model')} (step ${trainer.stepCount}), ${logPath}, ${join(cfg.output, 'train_plot.svg')}`);
  return 0;
}
