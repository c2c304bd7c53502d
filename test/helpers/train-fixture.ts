// The training fixture (test/fixtures/train/expected.json, made by make_train_fixtures.py) as the GPU
// trainer's tests use it: each architecture's step batches and options, and a per-tensor comparison.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { MlmBatch, SpladeModel, TrainBatch } from '../../lib/index.js';

export const MODELS = join(import.meta.dirname, '..', 'fixtures', 'models');

type Batch = { queries: number[][]; documents: number[][][]; teacherScores: number[][] };
const expected = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'train', 'expected.json'), 'utf8')) as {
  steps: Record<string, { batches: Batch[]; options: Record<string, unknown> }>;
};

/** The fixture's three-step run of an architecture: its batches (as TrainBatch) and Trainer options. */
export function trainSteps(arch: 'bert' | 'distilbert'): { batches: TrainBatch[]; options: Record<string, unknown> } {
  const { batches, options } = expected.steps[arch];
  return {
    batches: batches.map((b) => ({
      queries: b.queries.map((q) => Int32Array.from(q)),
      documents: b.documents.map((ds) => ds.map((d) => Int32Array.from(d))),
      teacherScores: b.teacherScores,
    })),
    options,
  };
}

/** max |got - ref| over a tensor, and the tensor's largest |ref| (at least floor). */
export function tensorDiff(got: Float32Array, ref: Float32Array, floor = 1e-12): { diff: number; mag: number } {
  let diff = 0, mag = floor;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  return { diff, mag };
}

/** A masked-LM batch the trainer masks itself (BERT's 15%, from its seeded RNG). */
export function mlmBatch(model: SpladeModel): MlmBatch {
  const texts = ['the cat sat on the mat', 'a dog ran in the park', 'the cat and the dog play', 'sparse retrieval with bert'];
  return { objective: 'mlm', sequences: texts.map((t) => model.tokenize(t, { kind: 'document' })) };
}
