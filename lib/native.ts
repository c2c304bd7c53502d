// The one place the native addon is loaded: SPLADE_ADDON (an explicit path), then the local build
// (build/Release), then the prebuilt binary shipped in the npm tarball (prebuilds/<platform>-<arch>).
// Each feature module types the part of the binding it uses (see loadAddon<T>), so the typing of the
// addon lives next to the code that calls it.
import { existsSync, readdirSync } from 'node:fs';
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
  info(): { cpu: CpuKind; supportedCpus: CpuKind[]; cpuExtensions: string[]; threads: number; cuda: boolean; cudaDevices: number; precisions: Record<'fp32' | 'bf16' | 'int8', string> };
  setCpu(cpu: CpuKind): void;
  setThreads(threads: number): number;
}
/** x86-64: 'avx512', 'avx2'; arm64: 'neon'; everywhere: 'generic' (plain C++). */
export type CpuKind = 'avx512' | 'avx2' | 'neon' | 'generic';
export const CPU_KINDS = ['avx512', 'avx2', 'neon', 'generic'] as const;

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

/**
 * What to install or run when no addon loads, for this platform: the prebuilds the package ships
 * (prebuilds/<platform>-<arch>: linux-x64 and linux-arm64), and otherwise a build from source, which
 * `npm install` runs with cmake-js (macOS: Xcode's command line tools and CMake).
 */
export function loadHint(packageDir: string, platform: string = process.platform, arch: string = process.arch): string {
  const target = `${platform}-${arch}`;
  const dir = join(packageDir, 'prebuilds');
  const shipped = existsSync(dir) ? readdirSync(dir).sort() : [];
  const compiler =
    platform === 'darwin'
      ? "install Xcode's command line tools (xcode-select --install) and CMake (brew install cmake)"
      : platform === 'win32'
        ? 'install Visual Studio with C++ and CMake'
        : 'install a C++17 compiler and CMake (Debian/Ubuntu: apt-get install g++ cmake)';
  const rebuild = `${compiler}, then run \`npm rebuild splade\` to build it from source with cmake-js`;
  if (shipped.includes(target)) {
    return `The prebuilt binary for ${target} did not load (reason below). Reinstall the package (npm install splade), or ${rebuild} (SPLADE_BUILD_FROM_SOURCE=1 skips the prebuilt one).`;
  }
  const has = shipped.length ? `this package ships prebuilt binaries for ${shipped.join(', ')} only` : 'this copy of the package has no prebuilt binaries';
  return `No prebuilt binary for ${target} (${has}): ${rebuild}.`;
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
  const hint = loadHint(packageRoot());
  throw new SpladeError(`splade: the native addon could not be loaded. ${hint}\nTried:\n  ${tried.join('\n  ')}`, ErrorCode.noAddon);
}
