// Low-level CPU kernels: the SGEMM (C = alpha op(A) op(B) + beta C, then bias / residual / GELU), B packed
// once for repeated products (packB), and the FMA-peak probe the benchmarks report against. Operands are row-major Float32Arrays used in place:
// nothing is copied, and C is overwritten.
import {
  callNative, callNativeAsync, ErrorCode, expectFinite, expectInteger, expectOneOf, invalidArgument, SpladeError,
} from './errors.js';
import { CPU_KINDS, type CpuKind, loadAddon } from './native.js';

export interface SgemmOptions {
  /** op(A) is (m, k): A is (m, k) with lda >= k, or (k, m) with lda >= m when transA. */
  a: Float32Array;
  /** op(B) is (k, n): B is (k, n) with ldb >= n, or (n, k) with ldb >= k when transB. Not needed with packedB. */
  b?: Float32Array;
  /** op(B) as packB() packed it (for the same cpu variant, k and n): read instead of b, transB and ldb. */
  packedB?: PackedB;
  /** C is (m, n) with ldc >= n; read only when beta != 0. */
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** Leading dimensions (elements between rows as stored); default: the stored row length. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  alpha?: number; // default 1
  beta?: number; // default 0: C is write-only, NaNs in it do not propagate
  /** (n): added to every row after alpha/beta. */
  bias?: Float32Array;
  /** (m, n) with leading dimension ldr (default n): added after the bias. May be c itself. */
  residual?: Float32Array;
  ldr?: number;
  /** Applied last; 'gelu' is the exact erf form, as torch.nn.functional.gelu. */
  activation?: 'none' | 'gelu';
  /** Run this CPU variant instead of the active one (tests and benchmarks). */
  cpu?: CpuKind;
}

/**
 * op(B) (k, n) packed into one CPU variant's panel layout, for products that reuse B (a layer's weight):
 * sgemm then skips packing it on every call. Only valid for that variant (cpu) and shape.
 */
export interface PackedB {
  readonly cpu: CpuKind;
  readonly k: number;
  readonly n: number;
  /** The packed panels (64-byte aligned view). */
  readonly data: Float32Array;
}

export interface PackBOptions {
  /** (k, n) with ldb >= n, or (n, k) with ldb >= k when transB (a Linear weight W (out, in) is op(B) = W^T: transB). */
  b: Float32Array;
  k: number;
  n: number;
  transB?: boolean;
  ldb?: number;
  /** The variant the packing is for; default: the active one. */
  cpu?: CpuKind;
}

/** The flat, fully defaulted call the addon receives. */
interface SgemmCall {
  a: Float32Array; b?: Float32Array; packedB?: PackedB; c: Float32Array;
  m: number; n: number; k: number; transA: boolean; transB: boolean;
  lda: number; ldb: number; ldc: number; alpha: number; beta: number;
  bias?: Float32Array; residual?: Float32Array; ldr?: number;
  activation: 'none' | 'gelu'; cpu?: CpuKind;
}

interface KernelsAddon {
  sgemmPackedFloats(call: { k: number; n: number; cpu?: CpuKind }): number;
  sgemmPackB(call: { b: Float32Array; k: number; n: number; transB: boolean; ldb: number; cpu?: CpuKind; out: Float32Array }): number;
  info(): { cpu: CpuKind };
  sgemm(call: SgemmCall): void;
  sgemmAsync(call: SgemmCall): Promise<void>;
  fmaPeak(opts: { threads: number; seconds: number; cpu?: CpuKind }): Promise<number>;
}

const MAX_DIM = 2 ** 31 - 1;

function expectF32(name: string, value: unknown): Float32Array {
  if (!(value instanceof Float32Array)) invalidArgument(name, 'a Float32Array', value);
  return value;
}

function expectBool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') invalidArgument(name, 'a boolean', value);
  return value;
}

function tooShort(name: string, need: number, shape: string, have: number): never {
  throw new SpladeError(`Expected a Float32Array of at least ${need} elements for ${name} (${shape}) but received one of ${have}`,
    ErrorCode.invalidArgument);
}

// A (rows, cols) operand stored with leading dimension ld needs (rows - 1) * ld + cols elements.
function expectExtent(name: string, arr: Float32Array, rows: number, cols: number, ld: number, ldName: string): void {
  if (rows === 0 || cols === 0) return;
  if (ld < cols) invalidArgument(ldName, `an integer >= ${cols} (the stored row length of ${name})`, ld);
  const need = (rows - 1) * ld + cols;
  if (arr.length < need) {
    tooShort(name, need, `(${rows}, ${cols}) with leading dimension ${ld}`, arr.length);
  }
}

function toCall(o: SgemmOptions): SgemmCall {
  if (typeof o !== 'object' || o === null) invalidArgument('options', 'an object', o);
  const m = expectInteger('m', o.m, 0, MAX_DIM), n = expectInteger('n', o.n, 0, MAX_DIM), k = expectInteger('k', o.k, 0, MAX_DIM);
  const a = expectF32('a', o.a), c = expectF32('c', o.c);
  const packedB = o.packedB === undefined ? undefined : expectPacked(o.packedB, k, n);
  const b = packedB ? undefined : expectF32('b', o.b);
  const transA = o.transA === undefined ? false : expectBool('transA', o.transA);
  const transB = o.transB === undefined ? false : expectBool('transB', o.transB);
  const [aRows, aCols] = transA ? [k, m] : [m, k];
  const [bRows, bCols] = transB ? [n, k] : [k, n];
  const lda = o.lda === undefined ? Math.max(1, aCols) : expectInteger('lda', o.lda, 1, MAX_DIM);
  const ldb = o.ldb === undefined ? Math.max(1, bCols) : expectInteger('ldb', o.ldb, 1, MAX_DIM);
  const ldc = o.ldc === undefined ? Math.max(1, n) : expectInteger('ldc', o.ldc, 1, MAX_DIM);
  const alpha = o.alpha === undefined ? 1 : expectFinite('alpha', o.alpha);
  const beta = o.beta === undefined ? 0 : expectFinite('beta', o.beta);
  if (m > 0 && n > 0 && k > 0) {
    expectExtent('a', a, aRows, aCols, lda, 'lda');
    if (b) expectExtent('b', b, bRows, bCols, ldb, 'ldb');
  }
  expectExtent('c', c, m, n, ldc, 'ldc');
  const call: SgemmCall = { a, c, m, n, k, transA, transB, lda, ldb, ldc, alpha, beta, activation: 'none' };
  if (b) call.b = b;
  if (packedB) call.packedB = packedB;
  if (o.bias !== undefined) {
    call.bias = expectF32('bias', o.bias);
    if (call.bias.length < n) tooShort('bias', n, `(n) = (${n})`, call.bias.length);
  }
  if (o.residual !== undefined) {
    call.residual = expectF32('residual', o.residual);
    call.ldr = o.ldr === undefined ? Math.max(1, n) : expectInteger('ldr', o.ldr, 1, MAX_DIM);
    expectExtent('residual', call.residual, m, n, call.ldr, 'ldr');
  }
  if (o.activation !== undefined) call.activation = expectOneOf('activation', o.activation, ['none', 'gelu'] as const);
  if (o.cpu !== undefined) call.cpu = expectOneOf('cpu', o.cpu, CPU_KINDS);
  return call;
}

function expectPacked(p: unknown, k: number, n: number): PackedB {
  if (typeof p !== 'object' || p === null) invalidArgument('packedB', 'the object packB() returned', p);
  const q = p as PackedB;
  expectOneOf('packedB.cpu', q.cpu, CPU_KINDS);
  expectF32('packedB.data', q.data);
  if (q.k !== k || q.n !== n) {
    throw new SpladeError(`packedB was packed for k = ${q.k}, n = ${q.n} but the product has k = ${k}, n = ${n}`, ErrorCode.invalidArgument);
  }
  return q;
}

/**
 * Packs op(B) (k, n) once into the SGEMM kernels' layout, for products that reuse it (pass the result
 * as sgemm's packedB). The packing is a copy: later changes to b are not seen.
 */
export function packB(opts: PackBOptions): PackedB {
  if (typeof opts !== 'object' || opts === null) invalidArgument('options', 'an object', opts);
  const k = expectInteger('k', opts.k, 0, MAX_DIM), n = expectInteger('n', opts.n, 0, MAX_DIM);
  const b = expectF32('b', opts.b);
  const transB = opts.transB === undefined ? false : expectBool('transB', opts.transB);
  const [rows, cols] = transB ? [n, k] : [k, n];
  const ldb = opts.ldb === undefined ? Math.max(1, cols) : expectInteger('ldb', opts.ldb, 1, MAX_DIM);
  if (k > 0 && n > 0) expectExtent('b', b, rows, cols, ldb, 'ldb');
  const addon = loadAddon<KernelsAddon>();
  const cpu = opts.cpu === undefined ? addon.info().cpu : expectOneOf('cpu', opts.cpu, CPU_KINDS);
  const floats = callNative(() => addon.sgemmPackedFloats({ k, n, cpu }));
  const out = new Float32Array(floats + 16);  // room to start the panels on a 64-byte boundary
  const offset = callNative(() => addon.sgemmPackB({ b, k, n, transB, ldb, cpu, out }));
  return Object.freeze({ cpu, k, n, data: out.subarray(offset, offset + floats) });
}

/** C = alpha op(A) op(B) + beta C (+ bias, + residual, then the activation), in place. Returns c. */
export function sgemm(opts: SgemmOptions): Float32Array {
  const call = toCall(opts);
  callNative(() => loadAddon<KernelsAddon>().sgemm(call));
  return call.c;
}

/** The same on a worker thread; the operands must not be touched until the promise settles. */
export async function sgemmAsync(opts: SgemmOptions): Promise<Float32Array> {
  const call = toCall(opts);
  await callNativeAsync(() => loadAddon<KernelsAddon>().sgemmAsync(call));
  return call.c;
}

/**
 * The machine's measured FMA peak in GFLOP/s: a register-only FMA loop on `threads` native threads
 * (at most the pool size; default 1) for about `seconds` (default 1), best of many short runs.
 */
export async function fmaPeak(opts: { threads?: number; seconds?: number; cpu?: CpuKind } = {}): Promise<number> {
  const threads = opts.threads === undefined ? 1 : expectInteger('threads', opts.threads, 1, 1024);
  const seconds = opts.seconds === undefined ? 1 : expectFinite('seconds', opts.seconds);
  if (seconds <= 0 || seconds > 10) invalidArgument('seconds', 'a number in (0, 10]', seconds);
  const call: { threads: number; seconds: number; cpu?: CpuKind } = { threads, seconds };
  if (opts.cpu !== undefined) call.cpu = expectOneOf('cpu', opts.cpu, CPU_KINDS);
  return callNativeAsync(() => loadAddon<KernelsAddon>().fmaPeak(call));
}
