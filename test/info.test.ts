import { describe, expect, it } from 'vitest';

import { info, setCpu, setThreads, SpladeError } from '../lib/index.js';

describe('info', () => {
  it('reports the chosen CPU variant, threads and CUDA', () => {
    const i = info();
    expect(i.supportedCpus[0]).toBe('generic');
    expect(i.supportedCpus).toContain(i.cpu);
    expect(i.threads).toBeGreaterThanOrEqual(1);
    expect(typeof i.cuda).toBe('boolean');
    expect(i.cudaDevices).toBeGreaterThanOrEqual(0);
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
    expect(() => setCpu('sse9' as never)).toThrow(SpladeError);
    setCpu(start);
  });

  it('resizes the thread pool', () => {
    const start = info().threads;
    expect(setThreads(3)).toBe(3);
    expect(info().threads).toBe(3);
    expect(setThreads(0)).toBeGreaterThanOrEqual(1);
    expect(() => setThreads(-1)).toThrow(/Expected an integer in \[0, 1024\] for threads but received -1/);
    try {
      setThreads(1.5);
    } catch (err) {
      expect((err as SpladeError).code).toBe('ERR_SPLADE_INVALID_ARGUMENT');
    }
    expect(() => setThreads(1.5)).toThrow(SpladeError);
    setThreads(start);
  });
});
