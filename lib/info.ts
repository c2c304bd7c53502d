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
  /**
   * The kernels each precision's linear layers run on this CPU now: fp32 the SGEMM variant (as cpu);
   * bf16 'amx' (AMX-BF16 tiles), 'avx512_bf16' (vdpbf16ps) or 'fallback' (the fp32 SGEMM on bf16-rounded
   * operands); int8 'avx512_vnni', 'avx_vnni', 'avx2' (vpmaddubsw, 7-bit weights) or 'generic'. A precision without
   * hardware support still runs, on the path named here.
   */
  precisions: { fp32: string; bf16: string; int8: string };
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
