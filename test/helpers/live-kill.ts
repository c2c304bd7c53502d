// Kill tests of the live index: start the writer of live-crash-child.ts as a real process, SIGKILL
// it after a random delay, then check the directory: it must open, hold exactly the commit of the
// last round the child reported (or of the next one, when the kill came after that commit landed
// but before the child said so), and nothing else. Used by test/live-index.test.ts (a few dozen
// kills) and bench/index-live/kill.ts (hundreds).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { InvertedIndex } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';
import { ALL_QUERY, LIVE_OPTIONS, ROUND_QUERY, expectedLive } from './live-rounds.js';

const CHILD = fileURLToPath(new URL('./live-crash-child.ts', import.meta.url));

export interface KillResult {
  kills: number;
  failures: string[];
  roundsCommitted: number;
  lastCommitted: number;
}

/** Checks dir against the commit of round `last` (or last + 1); returns the problems and the round it holds. */
export function checkKilledIndex(dir: string, last: number): string[] {
  return inspect(dir, last).failures;
}

function inspect(dir: string, last: number): { failures: string[]; round: number } {
  let ix: InvertedIndex;
  try {
    ix = InvertedIndex.open(dir);
  } catch (err) {
    return { failures: [`failed to reopen after round ${last}: ${(err as Error).message}`], round: last };
  }
  try {
    const marker = ix.search(ROUND_QUERY, { k: 1 }).docIds?.[0];
    const round = marker === undefined ? 0 : Number(marker.slice('round-'.length));
    if (round < last) return { failures: [`commit lost: round ${last} was committed, the index holds round ${round}`], round };
    if (round > last + 1) return { failures: [`uncommitted documents visible: round ${round} after round ${last}`], round };
    const want = expectedLive(round);
    const fresh = InvertedIndex.build([...want.values()], { ...LIVE_OPTIONS, docIds: [...want.keys()] });
    const k = Math.max(1, want.size);
    const got = ix.search(ALL_QUERY, { k, algorithm: 'exhaustive' });
    const exp = fresh.search(ALL_QUERY, { k, algorithm: 'exhaustive' });
    fresh.dispose();
    const same = ix.numDocs === want.size && got.ids.length === exp.ids.length && got.ids.every((id, i) => id === exp.ids[i]) &&
      got.scores.every((s, i) => s === exp.scores[i]) && JSON.stringify(got.docIds ?? []) === JSON.stringify(exp.docIds ?? []);
    return { failures: same ? [] : [`round ${round}: the index's documents differ from that commit's (${ix.numDocs} documents, want ${want.size})`], round };
  } finally {
    ix.dispose();
  }
}

export async function killRandomly(dir: string, opts: { kills: number; seed: number; maxDelayMs: number }): Promise<KillResult> {
  const r = mulberry32(opts.seed);
  const failures: string[] = [];
  let last = 0;
  let rounds = 0;
  let kills = 0;
  for (let i = 0; i < opts.kills; i++) {
    const delay = r() * opts.maxDelayMs;
    const outcome = await new Promise<{ killed: boolean; committed: number; started: boolean; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let committed = last;
      let started = false;
      let stderr = '';
      let out = '';
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        let nl: number;
        while ((nl = out.indexOf('\n')) >= 0) {
          const [what, n] = out.slice(0, nl).split(' ');
          out = out.slice(nl + 1);
          if (what === 'ready') {
            started = true;
            if (Number(n) !== committed && Number(n) !== committed + 1) failures.push(`kill ${i}: the writer started from round ${n} after round ${committed}`);
            committed = Number(n);
            setTimeout(() => child.kill('SIGKILL'), delay);
          } else if (what === 'committed') {
            committed = Number(n);
            rounds++;
          }
        }
      });
      child.on('exit', (_code, signal) => {
        clearTimeout(guard);
        resolve({ killed: signal === 'SIGKILL', committed, started, stderr });
      });
    });
    if (!outcome.started || !outcome.killed) {
      failures.push(`kill ${i}: the writer ${outcome.started ? 'exited by itself' : 'did not start'}: ${outcome.stderr.slice(-2000)}`);
      break;
    }
    kills++;
    const seen = inspect(dir, outcome.committed);
    failures.push(...seen.failures.map((f) => `kill ${i} (after ${delay.toFixed(0)} ms): ${f}`));
    last = seen.round;
    if (seen.failures.length) break;
  }
  return { kills, failures, roundsCommitted: rounds, lastCommitted: last };
}
