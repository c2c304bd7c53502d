// The one place the native addon is loaded: SPLADE_ADDON (an explicit path), then the local build
// (build/Release), then the prebuilt binary shipped in the npm tarball (prebuilds/<platform>-<arch>).
// Each feature module types the part of the binding it uses (see loadAddon<T>), so the typing of the
// addon lives next to the code that calls it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ErrorCode, SpladeError } from './errors.js';

const require = createRequire(import.meta.url);

function packageRoot(): string {
  // lib/native.ts (tests, tsx) and dist/native.js (installed) are both one level below the root.
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

/** The binding functions every build has. */
export interface CoreAddon {
  info(): { cpu: CpuKind; supportedCpus: CpuKind[]; threads: number; cuda: boolean; cudaDevices: number; precisions: Record<'fp32' | 'bf16' | 'int8', string> };
  setCpu(cpu: CpuKind): void;
  setThreads(threads: number): number;
}
export type CpuKind = 'avx512' | 'avx2' | 'generic';

let cached: unknown;

export function addonCandidates(): string[] {
  const root = packageRoot();
  const out: string[] = [];
  // An explicit path is the only candidate: a test of that build must not fall back to another.
  if (process.env.SPLADE_ADDON) return [process.env.SPLADE_ADDON];
  out.push(join(root, 'build', 'Release', 'splade.node'));
  out.push(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'splade.node'));
  return out;
}

export function loadAddon<T = CoreAddon>(): T & CoreAddon {
  if (cached) return cached as T & CoreAddon;
  const tried: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      cached = require(path);
      return cached as T & CoreAddon;
    } catch (err) {
      tried.push(`${path} (${(err as Error).message})`);
    }
  }
  const hint =
    process.platform === 'linux' && process.arch === 'x64'
      ? 'Reinstall the package (npm install splade), or build it from source: install a C++17 compiler and CMake (apt-get install g++ cmake) and run `npm rebuild splade`.'
      : `No prebuilt binary ships for ${process.platform}-${process.arch}: install a C++17 compiler and CMake, then run \`npm rebuild splade\` to build from source.`;
  throw new SpladeError(`splade: the native addon could not be loaded. ${hint}\nTried:\n  ${tried.join('\n  ')}`, ErrorCode.noAddon);
}
