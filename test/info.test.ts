import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

import { describe, expect, it } from 'vitest';

import { info, setCpu, setThreads, SpladeError } from '../lib/index.js';

// What Linux says this CPU and OS can run, read independently of the addon's cpuid probe: the
// kernel clears a flag when the OS does not save the registers it needs.
function linuxCpuFlags(): Set<string> | null {
  if (process.platform !== 'linux' || !existsSync('/proc/cpuinfo')) return null;
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  return line ? new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/)) : null;
}

// The pool's default size: SPLADE_THREADS when it is a positive integer, else the cores online.
function defaultThreads(): number {
  const n = Number.parseInt(process.env.SPLADE_THREADS ?? '', 10);
  return n > 0 ? Math.min(n, 1024) : cpus().length;
}

describe('info', () => {
  it('reports the CPU variants this machine runs, in order, and the one chosen', () => {
    const i = info();
    // arm64: NEON is part of every CPU; x86-64: AVX2 and AVX-512 as cpuid says; elsewhere generic only.
    const ladder = process.arch === 'arm64' ? ['generic', 'neon'] : ['generic', 'avx2', 'avx512'];
    expect(i.supportedCpus).toEqual(ladder.slice(0, i.supportedCpus.length));
    if (process.arch === 'arm64') expect(i.supportedCpus).toEqual(['generic', 'neon']);
    expect(i.supportedCpus).toContain(i.cpu);
    if (!process.env.SPLADE_CPU) expect(i.cpu).toBe(i.supportedCpus[i.supportedCpus.length - 1]);
    expect(Array.isArray(i.cpuExtensions)).toBe(true);
    const known = process.arch === 'arm64' ? ['fp16', 'bf16', 'i8mm', 'dotprod', 'sve', 'crc32'] : ['sse4.2', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_bf16'];
    for (const e of i.cpuExtensions) expect(known).toContain(e);
    const flags = linuxCpuFlags();
    if (flags && process.arch === 'x64') {
      expect(i.cpuExtensions.includes('sse4.2')).toBe(flags.has('sse4_2'));
      expect(i.cpuExtensions.includes('avx_vnni')).toBe(flags.has('avx_vnni'));
      expect(i.cpuExtensions.includes('amx_bf16')).toBe(flags.has('amx_bf16') && flags.has('amx_tile'));
      const avx2 = flags.has('avx2') && flags.has('fma');
      const avx512 = avx2 && ['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f));
      expect(i.supportedCpus, `/proc/cpuinfo: avx2 ${avx2}, avx512 ${avx512}`).toEqual(['generic', ...(avx2 ? ['avx2'] : []), ...(avx512 ? ['avx512'] : [])]);
    }
  });

  it('reports CUDA consistently: no devices without the backend', () => {
    const i = info();
    expect(typeof i.cuda).toBe('boolean');
    expect(Number.isInteger(i.cudaDevices)).toBe(true);
    expect(i.cudaDevices).toBeGreaterThanOrEqual(0);
    if (!i.cuda) expect(i.cudaDevices).toBe(0);
  });

  it('switches between supported CPU variants and refuses the others', () => {
    const start = info().cpu;
    for (const cpu of info().supportedCpus) {
      setCpu(cpu);
      expect(info().cpu).toBe(cpu);
    }
    if (!info().supportedCpus.includes('avx512')) {
      expect(() => setCpu('avx512')).toThrow(/cannot run the avx512/);
    }
    if (!info().supportedCpus.includes('neon')) {
      expect(() => setCpu('neon')).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_UNSUPPORTED' }));
    }
    expect(() => setCpu('sse9' as never)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
    setCpu(start);
  });

  it('resizes the thread pool; 0 restores SPLADE_THREADS or the cores online', () => {
    const start = info().threads;
    expect(setThreads(3)).toBe(3);
    expect(info().threads).toBe(3);
    expect(setThreads(0)).toBe(defaultThreads());
    expect(info().threads).toBe(defaultThreads());
    expect(() => setThreads(-1)).toThrow(/Expected an integer in \[0, 1024\] for threads but received -1/);
    for (const bad of [-1, 1.5, 1025, Number.NaN, '2' as never]) {
      expect(() => setThreads(bad), String(bad)).toThrow(SpladeError);
      expect(() => setThreads(bad), String(bad)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
    }
    expect(info().threads).toBe(defaultThreads());
    setThreads(start);
  });
});
