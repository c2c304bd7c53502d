// A training job (what `splade train --config` and the recipe stages run): a Trainer, fresh or resumed
// from OUTPUT/checkpoint with its data position, stepped through the job's batches, writing
// OUTPUT/train_log.jsonl (one StepStats a step), OUTPUT/train_plot.svg, OUTPUT/checkpoint, OUTPUT/model.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomicSync } from '../data/atomic.js';
import { WordPieceIdf, modelWordPieces } from '../model/idf-query.js';
import { SpladeModel } from '../model/splade-model.js';
import { readTexts, type ProgressFactory } from '../pipeline.js';
import { BatchSource, MlmSource, needsTeacher, readRankingExamples } from './batches.js';
import { badConfig, parseTrainConfig, type TrainConfig, type TrainJobConfig } from './config.js';
import { trainPlotSvg } from './plot.js';
import { Trainer } from './trainer.js';
import type { MlmBatch, StepStats, TrainBatch, TrainerOptions } from './types.js';

export interface TrainJobOptions {
  /** The folder relative paths of the config are relative to (default: the working directory). */
  baseDir?: string;
  /** How messages name the config (default 'train config'). */
  configName?: string;
  device?: 'cpu' | 'cuda';
  /** Where notes go (resuming, skipped records, the files written); default stderr. */
  log?: (line: string) => void;
  /** Reports the steps (the CLI's progress bar); default none. */
  progress?: ProgressFactory;
}

/**
 * Runs a training job to its last step, continuing from OUTPUT/checkpoint when there is one;
 * returns OUTPUT/model, the trained model's directory.
 */
export async function trainJob(config: TrainJobConfig, opts: TrainJobOptions = {}): Promise<string> {
  const cfg = parseTrainConfig(config, opts.configName ?? 'train config', opts.baseDir ?? process.cwd());
  const log = opts.log ?? ((line: string) => console.error(line));
  if (cfg.objective === 'mlm') {
    const texts: string[] = [];
    for await (const d of readTexts(cfg.corpus, 'document')) texts.push(d.text);
    if (texts.length === 0) badConfig(`${cfg.corpus}: no documents`);
    return trainLoop(cfg, opts, log, () => ({}), (model) => new MlmSource(model, cfg, texts));
  }
  const teacher = needsTeacher(cfg.trainer.loss);
  const ex = await readRankingExamples(cfg, teacher);

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

  return trainLoop(cfg, opts, log, idfWeights, (model) => {
    if (ex.skipped) log(`skipped ${ex.skipped} record(s) without a positive or ${cfg.negativesPerQuery} "${ex.source}" negatives`);
    return new BatchSource(model, cfg, ex.records, ex.queries, ex.docs, teacher);
  });
}

function readLog(path: string): StepStats[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as StepStats);
}

function writePlot(output: string): void {
  const svg = trainPlotSvg(readLog(join(output, 'train_log.jsonl')), { title: 'splade train' });
  writeFileAtomicSync(join(output, 'train_plot.svg'), [Buffer.from(svg, 'utf8')]);
}

/** Steps (resuming from OUTPUT/checkpoint when there is one), log, plot, checkpoints, final model. */
async function trainLoop(cfg: TrainConfig, opts: TrainJobOptions, log: (line: string) => void, moreOptions: (model: SpladeModel) => TrainerOptions,
                         makeSource: (model: SpladeModel) => { batch(t: number): TrainBatch | MlmBatch }): Promise<string> {
  // a fresh trainer, or the checkpoint's
  mkdirSync(cfg.output, { recursive: true });
  const ckpt = join(cfg.output, 'checkpoint');
  const logPath = join(cfg.output, 'train_log.jsonl');
  const { device } = opts;
  let trainer: Trainer;
  if (existsSync(join(ckpt, 'trainer.json'))) {
    trainer = await Trainer.resume(ckpt, { device });
    const differs = Object.entries({ totalSteps: cfg.steps, ...cfg.trainer })
      .filter(([k, val]) => k !== 'loss' && JSON.stringify((trainer.options as unknown as { [k: string]: unknown })[k]) !== JSON.stringify(val))
      .map(([k]) => k);
    if (differs.length) log(`note: continuing with the checkpoint's trainer options (the config differs in ${differs.join(', ')})`);
    // steps logged after the checkpoint are redone
    const kept = readLog(logPath).filter((s) => s.step <= trainer.stepCount);
    writeFileSync(logPath, kept.map((s) => `${JSON.stringify(s)}\n`).join(''));
    log(`resuming from ${ckpt} at step ${trainer.stepCount + 1}`);
  } else {
    const model = await SpladeModel.load(cfg.model, { device });
    trainer = new Trainer(model, { totalSteps: cfg.steps, ...cfg.trainer, ...moreOptions(model) });
    writeFileSync(logPath, '');
  }
  const batches = makeSource(trainer.model);

  const start = trainer.stepCount;
  const progress = opts.progress?.({ label: 'train', total: Math.max(0, cfg.steps - start), unit: 'steps' });
  let saved = start;
  for (let t = start; t < cfg.steps; t++) {
    const s = await trainer.step(batches.batch(t));
    appendFileSync(logPath, `${JSON.stringify(s)}\n`);
    if (progress) {
      progress.detail = `step ${s.step}  loss ${s.loss.toPrecision(4)}  peak ${(s.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB`;
      progress.tick();
    }
    if (cfg.checkpointEvery > 0 && s.step % cfg.checkpointEvery === 0) {
      await trainer.save(ckpt);
      saved = s.step;
      writePlot(cfg.output);
    }
  }
  progress?.finish();
  if (saved !== trainer.stepCount || !existsSync(join(ckpt, 'trainer.json'))) await trainer.save(ckpt);
  const model = join(cfg.output, 'model');
  await trainer.model.save(model);
  writePlot(cfg.output);
  log(`wrote ${model} (step ${trainer.stepCount}), ${logPath}, ${join(cfg.output, 'train_plot.svg')}`);
  return model;
}
