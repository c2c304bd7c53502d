import { dirname, resolve } from 'node:path';

import { readJsonFile, type TrainJobConfig } from '../../train/config.js';
import { trainJob } from '../../train/job.js';
import { modelLoadOptions, parse, required } from '../args.js';
import { Progress } from '../../progress.js';

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

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, { config: { type: 'string' }, device: { type: 'string' } }, HELP);
  if (!v) return 0;
  const path = required(v, 'config');
  const config = readJsonFile(path) as TrainJobConfig;
  const { device } = modelLoadOptions({ device: v.device });
  await trainJob(config, { baseDir: dirname(resolve(path)), configName: path, device, progress: (task) => new Progress(task) });
  return 0;
}
