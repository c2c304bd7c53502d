// Runs a command as on an AVX2-only CPU (cpuid_mask.ts: CPUID masking, or SPLADE_CPU=avx2 where that
// is unavailable), e.g. timing the demo:
//   npx tsx bench/encode/avx2-only.ts npx tsx lib/cli/main.ts demo
import { spawnSync } from 'node:child_process';

import { avx2OnlyEnv } from './cpuid_mask.js';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: npx tsx bench/encode/avx2-only.ts COMMAND [ARGS...]');
  process.exit(2);
}
const { env, how } = avx2OnlyEnv();
console.error(`avx2-only: ${how}`);
const p = spawnSync(cmd, args, { env, stdio: 'inherit' });
process.exit(p.status ?? 1);
