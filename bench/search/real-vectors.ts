// Makes the `real` search collection's vectors (bench/search/real-collection.ts): trains a small
// zero-shot model with the package's own recipe, then encodes the five shared corpora and their
// queries with it. No pretrained weights exist on this machine, so the model is the leave-one-out
// benchmark's zero-shot chain (bench/recipe/loo.ts): a 2-layer, 128-wide BERT (bert-base-uncased
// vocabulary, 'lexical' init), 400 masked-LM steps on the five corpora (seed 13), then 300 steps of
// contrastive training on pseudo-queries cut from the corpora (no judged query of any collection),
// all on words-only text. About 2 minutes of training on 2 idle cores, plus encoding.
//
//   nice -n 10 npx tsx bench/search/real-vectors.ts          (about 5-10 min on the shared machine)
//
// which runs, for the model (kept under bench/.cache/real/train; skipped when it exists):
//   SPLADE_LOO_WORK=bench/.cache/real/train SPLADE_LOO_TEXT=words SPLADE_LOO_MLM_STEPS=400s13 \
//     SPLADE_LOO_ONLY=none npx tsx bench/recipe/loo.ts
// and, for each collection C (skipped when its file exists):
//   splade encode --model bench/.cache/real/train/pseudo-train/model --text words --max-length 128 \
//     --input /work/shared/data/C/corpus.jsonl --out bench/.cache/real/vectors/C.docs.jsonl
//   splade encode ... --kind query --max-length 32 --input .../C/queries.jsonl --out .../C.queries.jsonl
// (the lengths the model was trained at). Env SPLADE_REAL_DATA overrides /work/shared/data.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main as splade } from '../../lib/cli/main.js';
import { REAL_CACHE, REAL_COLLECTIONS, REAL_VECTORS as VECTORS, realVectorFile } from './real-collection.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = process.env.SPLADE_REAL_DATA ?? '/work/shared/data';
const TRAIN = join(REAL_CACHE, 'train');
const MODEL = join(TRAIN, 'pseudo-train', 'model');

if (!existsSync(join(MODEL, 'model.safetensors'))) {
  console.error(`== training the zero-shot model in ${TRAIN}`);
  const env = { ...process.env, SPLADE_LOO_WORK: TRAIN, SPLADE_LOO_TEXT: 'words', SPLADE_LOO_MLM_STEPS: '400s13', SPLADE_LOO_ONLY: 'none' };
  const r = spawnSync(process.execPath, [...process.execArgv, join(root, 'bench', 'recipe', 'loo.ts')], { env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`bench/recipe/loo.ts failed (exit ${r.status})`);
}
mkdirSync(VECTORS, { recursive: true });
for (const c of REAL_COLLECTIONS) {
  for (const [kind, input, maxLength] of [['document', 'corpus.jsonl', 128], ['query', 'queries.jsonl', 32]] as const) {
    const out = realVectorFile(VECTORS, c, kind === 'document' ? 'docs' : 'queries');
    if (existsSync(out)) continue;
    console.error(`== ${c}: ${kind} vectors -> ${out}`);
    const code = await splade(['encode', '--model', MODEL, '--kind', kind, '--text', 'words', '--max-length', String(maxLength), '--input', join(DATA, c, input), '--out', out]);
    if (code !== 0) throw new Error(`splade encode failed for ${c} ${kind} (exit ${code})`);
  }
}
console.error(`the real collection's vectors are in ${VECTORS}`);
