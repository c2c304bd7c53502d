// The deterministic workload of the kill tests (test/live-index.test.ts, bench/index-live/kill.ts):
// round r adds 20 documents and a marker `round-r` (the only document with term 0), deletes the
// previous marker and every document of round r - 5, and updates a few of round r - 2. So what a
// commit of round r must hold is known (expectedLive), and stays small however many rounds run.
import type { LiveDocument, SparseVector } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';

export const LIVE_OPTIONS = { scale: 4, vocabSize: 2000, impactBits: 8 as const, blockSize: 32, bmpBlockDocs: 8 };
const PER_ROUND = 20;
const WINDOW = 5;

function randomVector(seed: number): SparseVector {
  const r = mulberry32(seed);
  const terms = new Set<number>([1]);  // term 1: in every document, so one query lists them all
  const n = 3 + Math.floor(r() * 12);
  while (terms.size < n) terms.add(2 + Math.floor(r() * (LIVE_OPTIONS.vocabSize - 2)));
  const indices = Uint32Array.from([...terms].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, () => 0.05 + r() * 3.9) };
}

export function liveRound(r: number): { add: LiveDocument[]; delete: string[]; update: LiveDocument[] } {
  const add: LiveDocument[] = [];
  for (let j = 0; j < PER_ROUND; j++) add.push({ id: `r${r}_${j}`, vector: randomVector(r * 1000 + j) });
  add.push({ id: `round-${r}`, vector: { indices: Uint32Array.of(0), values: Float32Array.of(1) } });
  const del = [`round-${r - 1}`];
  for (let j = 0; j < PER_ROUND; j++) del.push(`r${r - WINDOW}_${j}`);
  const update: LiveDocument[] = [];
  for (let j = 2; j < PER_ROUND; j += 5) update.push({ id: `r${r - 2}_${j}`, vector: randomVector(r * 1000 + 500 + j) });
  return { add, delete: del, update };
}

/** Live documents after round r's commit, in commit order (memoised: rounds are replayed once). */
const states: Map<string, SparseVector>[] = [new Map()];
export function expectedLive(r: number): Map<string, SparseVector> {
  while (states.length <= r) {
    const s = new Map(states[states.length - 1]);
    const step = liveRound(states.length);
    for (const d of step.add) {
      s.delete(d.id);
      s.set(d.id, d.vector);
    }
    for (const id of step.delete) s.delete(id);
    for (const d of step.update) {
      s.delete(d.id);
      s.set(d.id, d.vector);
    }
    states.push(s);  // documents are shared between states: a few KiB a round
  }
  return states[r];
}

/** The query that lists every document (term 1) and the one that finds the round marker (term 0). */
export const ALL_QUERY: SparseVector = { indices: Uint32Array.of(1), values: Float32Array.of(1) };
export const ROUND_QUERY: SparseVector = { indices: Uint32Array.of(0), values: Float32Array.of(1) };
