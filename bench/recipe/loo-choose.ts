// Zero-shot variants compared, and one chosen per held-out collection by nested leave-one-out
// (lib/recipe/choose.ts: the best mean nDCG@10 over the other four collections; the held-out
// collection's judgments never choose). Reads the runs loo-variants.ts kept
// (<work>/fold-<c>/variants.json, key SPLADE_LOO_CHOOSE_RUN, default d128idftf: documents at 128
// tokens, count x idf queries); a variant of several work folders joined by '+' is their ensemble,
// the sum of max-normalised runs (weights 1), as bench/recipe/loo.ts forms its zero-shot ensemble.
//
//   npx tsx bench/recipe/loo-choose.ts base=bench/.cache/r4-base distil=bench/.cache/r4-A both=bench/.cache/r4-base+bench/.cache/r4-A
//   SPLADE_LOO_CHOOSE_OUT=file.json also writes the table and the choices.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Run } from '../../lib/data/types.js';
import { chooseVariantLeaveOneOut } from '../../lib/recipe/choose.js';
import { readCollection } from '../../lib/data/collections.js';
import { weightedFusion } from '../../lib/eval/fusion.js';
import { evaluateRun } from '../../lib/recipe/stages.js';

const DATA = process.env.SPLADE_LOO_DATA ?? '/work/shared/data';
const NAMES = ['cranfield', 'cacm', 'med', 'npl', 'lisa'];
const RUN = process.env.SPLADE_LOO_CHOOSE_RUN ?? 'd128idftf';
const specs = process.argv.slice(2).map((a) => {
  const m = /^([^=]+)=(.+)$/.exec(a);
  if (!m) throw new Error(`usage: loo-choose.ts <label>=<work>[+<work>...] ...; got ${JSON.stringify(a)}`);
  return { label: m[1], works: m[2].split('+') };
});
if (specs.length === 0) throw new Error('usage: loo-choose.ts <label>=<work>[+<work>...] ...');

const runsOf = (work: string, n: string) => JSON.parse(readFileSync(join(work, `fold-${n}`, 'variants.json'), 'utf8')) as Record<string, Run>;
const scores: Record<string, Record<string, number>> = { BM25: {} };
for (const n of NAMES) {
  const c = await readCollection(join(DATA, n));
  scores.BM25[n] = evaluateRun(runsOf(specs[0].works[0], n).bm25, c.qrels)['ndcg@10'];
  for (const { label, works } of specs) {
    const runs = works.map((w) => {
      const r = runsOf(w, n)[RUN];
      if (!r) throw new Error(`${join(w, `fold-${n}`, 'variants.json')}: no run ${RUN} (run loo-variants.ts first)`);
      return r;
    });
    const run = runs.length === 1 ? runs[0] : weightedFusion(runs, runs.map(() => 1), 'max', 100);
    (scores[label] ??= {})[n] = evaluateRun(run, c.qrels)['ndcg@10'];
  }
}
const mean = (r: Record<string, number>) => NAMES.reduce((a, n) => a + r[n], 0) / NAMES.length;
const f = (x: number) => x.toFixed(3);
console.log(`| nDCG@10 | ${NAMES.join(' | ')} | mean |\n|---|${NAMES.map(() => '---|').join('')}---|`);
for (const [label, r] of Object.entries(scores)) console.log(`| ${label} | ${NAMES.map((n) => f(r[n])).join(' | ')} | ${f(mean(r))} |`);
const { BM25: _bm25, ...candidates } = scores;
const choice = chooseVariantLeaveOneOut(candidates);
const chosen = Object.fromEntries(NAMES.map((n) => [n, choice[n].heldOut]));
console.log(`| nested-LOO choice | ${NAMES.map((n) => `${f(choice[n].heldOut)} (${choice[n].variant})`).join(' | ')} | ${f(mean(chosen))} |`);
if (process.env.SPLADE_LOO_CHOOSE_OUT) {
  writeFileSync(process.env.SPLADE_LOO_CHOOSE_OUT, `${JSON.stringify({ run: RUN, variants: specs, scores, choice, chosenMean: mean(chosen) }, null, 2)}\n`);
}
