// The live index's kill test at scale (issue 17: at least 200 random kill -9 across add, flush,
// commit and merge; 0 commits lost, 0 uncommitted documents visible, 0 failures to reopen): the
// same harness as test/live-index.test.ts (test/helpers/live-kill.ts), with more kills.
//   npx tsx bench/index-live/kill.ts [--kills 200] [--seed 1] [--max-delay-ms 2500]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { killRandomly } from '../../test/helpers/live-kill.js';

const { values: a } = parseArgs({ options: { kills: { type: 'string', default: '200' }, seed: { type: 'string', default: '1' }, 'max-delay-ms': { type: 'string', default: '2500' } } });
const dir = mkdtempSync(join(tmpdir(), 'splade-live-kill-'));
const t0 = performance.now();
try {
  const r = await killRandomly(dir, { kills: Number(a.kills), seed: Number(a.seed), maxDelayMs: Number(a['max-delay-ms']) });
  console.log(`${r.kills} kills, ${r.roundsCommitted} rounds committed between them (last: round ${r.lastCommitted}), ${r.failures.length} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  for (const f of r.failures) console.log(`  ${f}`);
  process.exitCode = r.failures.length === 0 && r.kills === Number(a.kills) ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
