// The writer that the kill tests (test/live-index.test.ts, bench/index-live/kill.ts) kill with
// SIGKILL at random moments: it runs rounds of live-rounds.ts forever, with a tiny memory budget (so
// adds flush segments), background merges (mergeFactor 3) and a forceMerge every 7th round, printing
// "committed r" after each commit. It starts from the round the newest commit holds.
import { IndexWriter, InvertedIndex } from '../../lib/index.js';
import { LIVE_OPTIONS, ROUND_QUERY, liveRound } from './live-rounds.js';

const dir = process.argv[2];
const w = await IndexWriter.open(dir, { ...LIVE_OPTIONS, ramBudgetMB: 0.0625, mergeFactor: 3 });
const reader = InvertedIndex.open(dir);
const marker = reader.search(ROUND_QUERY, { k: 1 }).docIds?.[0];
const r0 = marker === undefined ? 0 : Number(marker.slice('round-'.length));
reader.dispose();
process.stdout.write(`ready ${r0}\n`);
for (let r = r0 + 1; ; r++) {
  const step = liveRound(r);
  await w.add(step.add);
  await w.delete(step.delete);
  for (const u of step.update) await w.update(u.id, u.vector);
  if (r % 7 === 0) await w.forceMerge(2);
  await w.commit();
  process.stdout.write(`committed ${r}\n`);
}
