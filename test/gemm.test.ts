// SGEMM against a float64 reference computed here, for every CPU variant this machine runs and for 1
// and 2 threads: awkward and BERT-sized shapes, all four transposes, alpha/beta, padded leading
// dimensions, the bias/residual/GELU epilogue, beta = 0 over NaN, and the misuse paths.
// Error measure: relErr = max |c - ref| / max(1, max |ref|) over the compared elements (the whole C,
// or a subset of its rows for the big shapes); it must be <= 1e-5. The floor of 1 keeps a product
// whose entries all happen to be tiny from demanding more than float accumulation can give.
import { afterAll, describe, expect, it } from 'vitest';

import { fmaPeak, info, packB, setThreads, sgemm, sgemmAsync, SpladeError, type CpuKind, type SgemmOptions } from '../lib/index.js';
import { mulberry32 as rng } from '../lib/random.js';

const TOL = 1e-5;

function randomArray(n: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) out[i] = rand() * 2 - 1;
  return out;
}

// erfc in float64: the positive-term series erf(x) = 2/sqrt(pi) e^(-x^2) sum (2x^2)^n x / (2n+1)!! below
// 3, the continued fraction above (both converge to double precision there).
function erfc(x: number): number {
  if (x >= 3) {
    let f = x;
    for (let n = 80; n >= 1; --n) f = x + n / 2 / f;
    return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
  }
  if (x <= -3) return 2 - erfc(-x);
  let term = x, sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); ++n) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}
const gelu = (x: number): number => 0.5 * x * erfc(-x / Math.SQRT2);

interface Case extends SgemmOptions {
  lda: number; ldb: number; ldc: number;
}

// Float64 reference of the rows `rows` of C (C as it was before the call: `c0`).
function reference(o: Case, c0: Float32Array, rows: number[]): Float64Array {
  const { m, n, k, lda, ldb, ldc } = o;
  const a = o.a, b = o.b!, alpha = o.alpha ?? 1, beta = o.beta ?? 0;
  const out = new Float64Array(rows.length * n);
  const acc = new Float64Array(n);
  rows.forEach((i, r) => {
    acc.fill(0);
    const arow = new Float64Array(k);
    for (let p = 0; p < k; ++p) arow[p] = o.transA ? a[p * lda + i] : a[i * lda + p];
    if (o.transB) {
      for (let j = 0; j < n; ++j) { // B is (n, k): a contiguous dot product per column of C
        let sum = 0;
        const row = j * ldb;
        for (let p = 0; p < k; ++p) sum += arow[p] * b[row + p];
        acc[j] = sum;
      }
    } else {
      for (let p = 0; p < k; ++p) {
        const av = arow[p], row = p * ldb;
        for (let j = 0; j < n; ++j) acc[j] += av * b[row + j];
      }
    }
    for (let j = 0; j < n; ++j) {
      let v = alpha * acc[j] + (beta === 0 ? 0 : beta * c0[i * ldc + j]);
      if (o.bias) v += o.bias[j];
      if (o.residual) v += (o.residual === o.c ? c0 : o.residual)[i * (o.ldr ?? n) + j];
      out[r * n + j] = o.activation === 'gelu' ? gelu(v) : v;
    }
  });
  void m;
  return out;
}

function relErr(c: Float32Array, ref: Float64Array, o: Case, rows: number[]): number {
  let diff = 0, mag = 1;
  rows.forEach((i, r) => {
    for (let j = 0; j < o.n; ++j) {
      const v = c[i * o.ldc + j], want = ref[r * o.n + j];
      if (!Number.isFinite(v)) return (diff = Infinity);
      diff = Math.max(diff, Math.abs(v - want));
      mag = Math.max(mag, Math.abs(want));
    }
  });
  return diff / mag;
}

interface Spec {
  m: number; n: number; k: number; transA?: boolean; transB?: boolean; pad?: number;
  alpha?: number; beta?: number; bias?: boolean; residual?: boolean | 'c'; gelu?: boolean; nanC?: boolean;
  rows?: number; // compare only this many rows (spread over C)
}

function makeCase(s: Spec, seed: number): { o: Case; c0: Float32Array } {
  const rand = rng(seed);
  const pad = s.pad ?? 0;
  const transA = s.transA ?? false, transB = s.transB ?? false;
  const [aRows, aCols] = transA ? [s.k, s.m] : [s.m, s.k];
  const [bRows, bCols] = transB ? [s.n, s.k] : [s.k, s.n];
  const lda = Math.max(1, aCols) + pad, ldb = Math.max(1, bCols) + pad, ldc = s.n + pad;
  const o: Case = {
    a: randomArray(aRows * lda, rand), b: randomArray(bRows * ldb, rand), c: randomArray(s.m * ldc, rand),
    m: s.m, n: s.n, k: s.k, transA, transB, lda, ldb, ldc, alpha: s.alpha ?? 1, beta: s.beta ?? 0,
  };
  if (s.nanC) o.c.fill(NaN);
  if (s.bias) o.bias = randomArray(s.n, rand);
  if (s.residual === 'c') o.residual = o.c;
  else if (s.residual) {
    o.ldr = s.n + 3;
    o.residual = randomArray(s.m * o.ldr, rand);
  }
  if (s.gelu) o.activation = 'gelu';
  return { o, c0: o.c.slice() };
}

function pickRows(m: number, count?: number): number[] {
  if (!count || count >= m) return Array.from({ length: m }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * (m - 1)) / (count - 1)));
}

function check(s: Spec, cpu: CpuKind, seed: number): number {
  const { o, c0 } = makeCase(s, seed);
  sgemm({ ...o, cpu });
  const rows = pickRows(s.m, s.rows);
  const err = relErr(o.c, reference(o, c0, rows), o, rows);
  // Padding columns of C (between n and ldc) are never written.
  for (let i = 0; i < s.m && o.residual !== o.c; ++i)
    for (let j = s.n; j < o.ldc; ++j) if (!Object.is(o.c[i * o.ldc + j], c0[i * o.ldc + j])) return Infinity;
  return err;
}

const cpus = info().supportedCpus;
const startThreads = info().threads;
afterAll(() => void setThreads(startThreads));

describe.each(cpus)('sgemm on %s', (cpu) => {
  describe.each([1, 2])('with %i thread(s)', (threads) => {
    it('matches float64 on every shape from {1, 7, 33}^3 and every transpose', () => {
      setThreads(threads);
      let nextSeed = 1;
      for (const m of [1, 7, 33]) for (const n of [1, 7, 33]) for (const k of [1, 7, 33])
        for (const transA of [false, true]) for (const transB of [false, true]) {
          const s = { m, n, k, transA, transB }, seed = nextSeed++;
          expect(check(s, cpu, seed), `${JSON.stringify(s)} seed ${seed}`).toBeLessThanOrEqual(TOL);
        }
    });

    it('handles alpha/beta, padded leading dimensions and NaN in C when beta = 0', () => {
      setThreads(threads);
      const cases: Spec[] = [
        { m: 70, n: 90, k: 300, alpha: 0.5, beta: -1.5, pad: 5 },
        { m: 70, n: 90, k: 300, transA: true, transB: true, alpha: -2, beta: 1, pad: 1 },
        { m: 61, n: 131, k: 257, transA: true, beta: 0, nanC: true, pad: 3 },
        { m: 150, n: 40, k: 520, transB: true, beta: 0, nanC: true },
        { m: 20, n: 30, k: 0, beta: 0.5, bias: true },
        { m: 20, n: 30, k: 10, alpha: 0, beta: 2 },
        // K spanning several K blocks (256 generic, 768 AVX2, 192 AVX-512), with beta and an epilogue.
        { m: 50, n: 70, k: 1700, alpha: 0.5, beta: 0.5, bias: true, gelu: true, pad: 1 },
        // Above the 20 MFLOP threshold, so split over threads: by rows (n < m), then by columns.
        { m: 260, n: 190, k: 400, transA: true, beta: 0, nanC: true, pad: 3 },
        { m: 100, n: 700, k: 300, transB: true, alpha: 0.75, beta: -0.5, pad: 2, rows: 40 },
      ];
      cases.forEach((s, i) => expect(check(s, cpu, 100 + i), `${JSON.stringify(s)} seed ${100 + i}`).toBeLessThanOrEqual(TOL));
    });

    it('applies the bias, residual and exact GELU epilogue', () => {
      setThreads(threads);
      const cases: Spec[] = [
        { m: 45, n: 100, k: 64, bias: true },
        { m: 45, n: 100, k: 64, residual: true, transB: true, pad: 2 },
        { m: 45, n: 100, k: 64, gelu: true, alpha: 3 },
        { m: 130, n: 333, k: 300, bias: true, residual: true, gelu: true, beta: 0.5, transA: true, pad: 1 },
        { m: 33, n: 77, k: 50, bias: true, residual: 'c', beta: 0.25, gelu: true },
        { m: 9, n: 1000, k: 3, bias: true, gelu: true, alpha: 8 }, // wide input range for the erf
      ];
      cases.forEach((s, i) => expect(check(s, cpu, 200 + i), `${JSON.stringify(s)} seed ${200 + i}`).toBeLessThanOrEqual(TOL));
    });

    it('reads a B packed beforehand (packB) as it reads B itself', () => {
      setThreads(threads);
      const cases: Spec[] = [
        { m: 1, n: 1, k: 1 },
        { m: 7, n: 33, k: 7, transB: true },
        { m: 33, n: 70, k: 1700, bias: true, gelu: true, pad: 2 }, // several K blocks, a ragged last panel
        { m: 260, n: 190, k: 400, transA: true, transB: true, beta: 0.5, residual: true, pad: 3 }, // split over threads
        { m: 16, n: 3072, k: 768, transB: true, bias: true, gelu: true, rows: 5 },
      ];
      cases.forEach((s, i) => {
        const { o, c0 } = makeCase(s, 400 + i);
        const unpacked = sgemm({ ...o, c: c0.slice(), cpu });
        const packedB = packB({ b: o.b!, k: s.k, n: s.n, transB: o.transB, ldb: o.ldb, cpu });
        const { b: _b, ...rest } = o;
        sgemm({ ...rest, packedB, cpu });
        const rows = pickRows(s.m, s.rows);
        expect(relErr(o.c, reference(o, c0, rows), o, rows), JSON.stringify(s)).toBeLessThanOrEqual(TOL);
        // The same panels in the same order: bit for bit the product that packs B itself.
        expect(o.c, JSON.stringify(s)).toEqual(unpacked);
      });
    });

    it('matches float64 on BERT shapes (a subset of rows)', () => {
      setThreads(threads);
      const cases: Spec[] = [
        { m: 768, n: 3072, k: 768, transB: true, bias: true, gelu: true, rows: 6 },
        { m: 128, n: 768, k: 3072, transB: true, bias: true, residual: true, rows: 8 },
        { m: 768, n: 768, k: 128, transA: true, rows: 8 }, // a weight gradient: X^T dY
      ];
      if (cpu !== 'generic' || threads === 2) cases.push({ m: 128, n: 30522, k: 768, transB: true, bias: true, rows: 4 });
      cases.forEach((s, i) => expect(check(s, cpu, 300 + i), `${JSON.stringify(s)} seed ${300 + i}`).toBeLessThanOrEqual(TOL));
    });
  });
});

describe('sgemm API', () => {
  it('refuses a packing made for another CPU variant, another shape, or cut short', () => {
    const b = new Float32Array(6 * 5).fill(1);
    const packedB = packB({ b, k: 6, n: 5, cpu: 'generic' });
    const call = { a: new Float32Array(4 * 6).fill(1), c: new Float32Array(4 * 5), m: 4, n: 5, k: 6 };
    expect(Array.from(sgemm({ ...call, packedB, cpu: 'generic' }))).toEqual(new Array(20).fill(6));
    for (const cpu of cpus.filter((c) => c !== 'generic')) {
      expect(() => sgemm({ ...call, packedB, cpu })).toThrow(/packed for the generic kernels/);
    }
    expect(() => sgemm({ ...call, m: 4, n: 4, c: new Float32Array(16), packedB, cpu: 'generic' })).toThrow(/k = 6, n = 5/);
    expect(() => sgemm({ ...call, packedB: { ...packedB, data: packedB.data.subarray(0, 10) }, cpu: 'generic' }))
      .toThrow(/packedB.data is too short/);
    expect(() => sgemm({ ...call, cpu: 'generic' })).toThrow(SpladeError); // neither b nor packedB
    expect(() => packB({ b: b.subarray(0, 20), k: 6, n: 5 })).toThrow(/at least 30 elements/);
  });

  it('packs a copy: later changes to b are not seen', () => {
    const b = new Float32Array([1, 2, 3, 4]); // (2, 2)
    const packedB = packB({ b, k: 2, n: 2 });
    b.fill(0);
    const c = sgemm({ a: new Float32Array([1, 0, 0, 1]), c: new Float32Array(4), m: 2, n: 2, k: 2, packedB });
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
  });

  it('runs asynchronously with the same result', async () => {
    const { o } = makeCase({ m: 100, n: 200, k: 300, transB: true, bias: true, gelu: true }, 7);
    const sync = sgemm({ ...o, c: new Float32Array(o.c.length) });
    const out = await sgemmAsync({ ...o });
    expect(out).toBe(o.c);
    expect(Array.from(out)).toEqual(Array.from(sync));
  });

  it('defaults to tight leading dimensions, alpha 1 and beta 0', () => {
    const a = new Float32Array([1, 2, 3, 4, 5, 6]); // (2, 3)
    const b = new Float32Array([1, 0, 0, 1, 1, 1]); // (3, 2)
    const c = sgemm({ a, b, c: new Float32Array(4).fill(NaN), m: 2, n: 2, k: 3 });
    expect(Array.from(c)).toEqual([4, 5, 10, 11]);
  });

  it('refuses bad sizes and leading dimensions with ERR_SPLADE_INVALID_ARGUMENT', () => {
    const a = new Float32Array(12), b = new Float32Array(12), c = new Float32Array(9);
    const ok: SgemmOptions = { a, b, c, m: 3, n: 3, k: 4 };
    const bad: Array<[Partial<SgemmOptions> & Record<string, unknown>, RegExp]> = [
      [{ lda: 3 }, /lda/],
      [{ ldc: 2 }, /ldc/],
      [{ ldb: 4 }, /at least 15 elements for b/],
      [{ a: new Float32Array(11) }, /at least 12 elements for a/],
      [{ c: new Float32Array(8) }, /for c/],
      [{ m: -1 }, /for m/],
      [{ k: 1.5 }, /for k/],
      [{ a: new Float64Array(12) as unknown as Float32Array }, /Float32Array for a/],
      [{ bias: new Float32Array(2) }, /bias/],
      [{ residual: new Float32Array(9), ldr: 2 }, /ldr/],
      [{ activation: 'relu' as never }, /activation/],
      [{ alpha: NaN }, /alpha/],
      [{ cpu: 'sse9' as never }, /cpu/],
    ];
    expect(() => sgemm(ok)).not.toThrow();
    for (const [patch, msg] of bad) {
      let err: unknown;
      try {
        sgemm({ ...ok, ...patch });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(Object.keys(patch))).toBeInstanceOf(SpladeError);
      expect((err as SpladeError).code).toBe('ERR_SPLADE_INVALID_ARGUMENT');
      expect((err as SpladeError).message).toMatch(msg);
    }
  });

  it('has native guards of its own behind the TypeScript checks', async () => {
    const { loadAddon } = await import('../lib/native.js');
    const addon = loadAddon<{ sgemm(o: unknown): void }>();
    const a = new Float32Array(12), b = new Float32Array(12), c = new Float32Array(9);
    const call = { a, b, c, m: 3, n: 3, k: 4, transA: false, transB: false, lda: 4, ldb: 3, ldc: 3, alpha: 1, beta: 0, activation: 'none' };
    expect(() => addon.sgemm(call)).not.toThrow();
    for (const patch of [{ lda: 3 }, { a: new Float32Array(11) }, { ldc: 2 }, { c: new Float32Array(8) }, { m: 2 ** 40 },
      { b: new Float32Array(11) }, { residual: new Float32Array(8), ldr: 3 }, { residual: new Float32Array(9), ldr: 2 }]) {
      let err: unknown;
      try {
        addon.sgemm({ ...call, ...patch });
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string } | undefined)?.code, JSON.stringify(Object.keys(patch))).toBe('ERR_SPLADE_INVALID_ARGUMENT');
    }
    // A residual overlapping C without being C is refused (it would be read after being overwritten).
    const big = new Float32Array(20);
    expect(() => addon.sgemm({ ...call, c: big.subarray(0, 9), residual: big.subarray(1, 10), ldr: 3 })).toThrow(/overlaps/);
  });

  it('measures an FMA peak', async () => {
    const gflops = await fmaPeak({ threads: 1, seconds: 0.05 });
    expect(gflops).toBeGreaterThan(0.1);
    await expect(fmaPeak({ seconds: 0 })).rejects.toThrow(SpladeError);
  });
});
