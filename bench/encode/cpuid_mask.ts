// AVX2-only by CPUID masking: the environment that runs a process (node and everything in it: splade,
// onnxruntime-node, V8, glibc) as on an AVX2-only x86-64 CPU. cpuid_mask.c, compiled here with the
// system's cc into a temporary folder, is preloaded (LD_PRELOAD) and emulates CPUID with AVX-512, AMX,
// AVX-VNNI and the other AVX-512-era bits cleared, through Linux's CPUID faulting; GLIBC_TUNABLES turns
// glibc's own AVX-512 string functions off (glibc reads CPUID before any preloaded constructor runs).
// cpuid_probe.c checks the result before anything is measured: CPUID must deny AVX-512F and AMX on the
// main thread and on a thread created later. Where CPUID faulting or cc is missing, the fallback is
// SPLADE_CPU=avx2 (splade alone restricted; the peers keep their AVX-512), and `how` says so.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// glibc's names (sysdeps/x86/cpu-tunables.c); it ignores the ones it does not know.
const GLIBC_OFF = ['AVX512F', 'AVX512CD', 'AVX512BW', 'AVX512DQ', 'AVX512ER', 'AVX512PF', 'AVX512VL', 'AVX_VNNI'];

export type Avx2Only = { env: NodeJS.ProcessEnv; masked: boolean; how: string };

function cc(args: string[]): string | undefined {
  const p = spawnSync('cc', args, { encoding: 'utf8' });
  return p.status === 0 ? undefined : p.error ? String(p.error) : p.stderr;
}

export function avx2OnlyEnv(base: NodeJS.ProcessEnv = process.env): Avx2Only {
  const fallback = (why: string): Avx2Only => ({
    env: { ...base, SPLADE_CPU: 'avx2' }, masked: false,
    how: `SPLADE_CPU=avx2 (${why}): splade restricted to AVX2, the peers keep every unit of this CPU`,
  });
  if (process.platform !== 'linux' || process.arch !== 'x64') return fallback('CPUID masking needs Linux on x86-64');
  const flags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '' : '';
  if (!flags.split(/\s+/).includes('cpuid_fault')) return fallback('this kernel or CPU has no CPUID faulting (no cpuid_fault in /proc/cpuinfo)');
  const dir = mkdtempSync(join(tmpdir(), 'splade-cpuid-mask-'));
  const shim = join(dir, 'cpuid_mask.so'), probe = join(dir, 'cpuid_probe');
  const err = cc(['-O2', '-shared', '-fPIC', '-o', shim, join(here, 'cpuid_mask.c'), '-ldl']) ?? cc(['-O2', '-pthread', '-o', probe, join(here, 'cpuid_probe.c')]);
  if (err !== undefined) return fallback(`cc could not build the shim: ${err.trim().slice(0, 200)}`);
  const env: NodeJS.ProcessEnv = {
    ...base,
    LD_PRELOAD: [shim, base.LD_PRELOAD].filter(Boolean).join(':'),
    GLIBC_TUNABLES: [base.GLIBC_TUNABLES, `glibc.cpu.hwcaps=${GLIBC_OFF.map((f) => `-${f}`).join(',')}`].filter(Boolean).join(':'),
    SPLADE_CPUID_MASKED: '1',
  };
  delete env.SPLADE_CPU;
  const p = spawnSync(probe, { env, encoding: 'utf8' });
  const lines = (p.stdout ?? '').trim().split('\n');
  const ok = p.status === 0 && lines.length === 2 && lines.every((l) => / avx2 1 avx512f 0 amx 0 vnni 0$/.test(l));
  if (!ok) return fallback(`the probe under the shim still saw: ${(p.stdout || p.stderr || `exit ${p.status}`).trim()}`);
  return { env, masked: true, how: 'AVX2-only by CPUID masking (bench/encode/cpuid_mask.c: no AVX-512, AMX, AVX-VNNI for any code in the process)' };
}
