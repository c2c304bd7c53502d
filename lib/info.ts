// What the native core runs on, and the knobs that choose it.
import { callNative, expectInteger, expectOneOf } from './errors.js';
import { type CpuKind, loadAddon } from './native.js';

export type { CpuKind };
export interface NativeInfo {
  /** The vector units the kernels use now: chosen at load from cpuid, or forced by SPLADE_CPU. */
  cpu: CpuKind;
  /** Every variant this CPU can run (generic first). */
  supportedCpus: CpuKind[];
  /** Threads in the native pool (the calling thread included). */
  threads: number;
  /** Whether the CUDA backend was compiled in, and how many devices it sees. */
  cuda: boolean;
  cudaDevices: number;
}

export function info(): NativeInfo {
  return loadAddon().info();
}

/** Switches the CPU kernels to another variant this machine supports. */
export function setCpu(cpu: CpuKind): void {
  expectOneOf('cpu', cpu, ['avx512', 'avx2', 'generic'] as const);
  callNative(() => loadAddon().setCpu(cpu));
}

/** Resizes the native thread pool; 0 restores the default (SPLADE_THREADS or the cores available). */
export function setThreads(threads: number): number {
  expectInteger('threads', threads, 0, 1024);
  return callNative(() => loadAddon().setThreads(threads));
}
