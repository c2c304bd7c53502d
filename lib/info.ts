// What the native core runs on, and the knobs that choose it.
import { callNative, expectInteger, expectOneOf } from './errors.js';
import { CPU_KINDS, type CpuKind, loadAddon } from './native.js';

export type { CpuKind };
export interface NativeInfo {
  /** The vector units the kernels use now: chosen at load (cpuid on x86-64, NEON on arm64), or forced by SPLADE_CPU. */
  cpu: CpuKind;
  /** Every variant this CPU can run (generic first). */
  supportedCpus: CpuKind[];
  /**
   * Optional extensions this CPU has beyond its variant's baseline: on arm64 'fp16', 'bf16', 'i8mm',
   * 'dotprod', 'sve', 'crc32'; on x86-64 'sse4.2', 'avx512_vnni', 'avx512_bf16'.
   */
  cpuExtensions: string[];
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
  expectOneOf('cpu', cpu, CPU_KINDS);
  callNative(() => loadAddon().setCpu(cpu));
}

/** Resizes the native thread pool; 0 restores the default (SPLADE_THREADS or the cores available). */
export function setThreads(threads: number): number {
  expectInteger('threads', threads, 0, 1024);
  return callNative(() => loadAddon().setThreads(threads));
}
