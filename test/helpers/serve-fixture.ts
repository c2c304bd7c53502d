// A small served collection for the server tests: the first documents of the bundled MED corpus,
// encoded by the package's own lexical-init model (2 layers, 128 wide, bert-base-uncased vocabulary),
// written as corpus.jsonl and vectors JSONL, and indexed into one file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { vectorLine } from '../../lib/data/vectors.js';
import { InvertedIndex, SpladeModel } from '../../lib/index.js';
import { readTexts } from '../../lib/pipeline.js';
import { initModel } from '../../lib/recipe/stages.js';

export interface ServeFixture {
  dir: string;
  model: SpladeModel;
  modelDir: string;
  indexPath: string;
  corpusPath: string;
  vectorsPath: string;
  docs: { id: string; text: string }[];
  cleanup(): void;
}

export async function serveFixture(count = 150): Promise<ServeFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'splade-serve-'));
  const modelDir = join(dir, 'model');
  initModel(modelDir, { layers: 2, hidden: 128, heads: 2, init: 'lexical', seed: 5 });
  const model = await SpladeModel.load(modelDir);
  const docs: { id: string; text: string }[] = [];
  for await (const d of readTexts(resolve(import.meta.dirname, '..', '..', 'data', 'med', 'corpus.jsonl.gz'), 'document')) {
    docs.push(d);
    if (docs.length === count) break;
  }
  const vectors = await model.encode(docs.map((d) => d.text), { kind: 'document', maxLength: 128 });
  const corpusPath = join(dir, 'corpus.jsonl');
  const vectorsPath = join(dir, 'vectors.jsonl');
  writeFileSync(corpusPath, docs.map((d) => JSON.stringify({ _id: d.id, title: '', text: d.text })).join('\n') + '\n');
  writeFileSync(vectorsPath, docs.map((d, i) => vectorLine(d.id, vectors[i])).join(''));
  const indexPath = join(dir, 'corpus.idx');
  const index = InvertedIndex.build(vectors, { docIds: docs.map((d) => d.id), vocabSize: model.vocabSize });
  index.save(indexPath);
  index.dispose();
  return { dir, model, modelDir, indexPath, corpusPath, vectorsPath, docs, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
