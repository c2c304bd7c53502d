// Ranking losses and sparsity regularisers on dense SPLADE vectors, each a forward + backward pair
// (value and its gradient with respect to the query and document vectors). Plain TypeScript: with
// B ~ 48 queries and V = 30522 the work is a few B x (B*n) x V dot products, far below the encoder's.
//
// Shapes: Q is (B, V) row-major, query i in row i; D is (B*n, V), query i's documents in rows
// i*n .. i*n+n-1 with row i*n its positive. Scores s_ic = q_i . d_c (float64 accumulation). Every
// loss is written as dLoss/dS for the (B, B*n) score matrix, then dQ = dS D and dD = dS^T Q.
// Gradients are accumulated (+=) into the caller's dQ / dD.

export type RankingLoss = 'contrastive' | 'marginmse' | 'kldiv';
export type Regulariser = 'flops' | 'l1';

/** S = Q D^T: (B, C) with C = D's rows; float64. */
export function scores(Q: Float32Array, D: Float32Array, B: number, C: number, V: number): Float64Array {
  const S = new Float64Array(B * C);
  for (let i = 0; i < B; i++) {
    const q = Q.subarray(i * V, (i + 1) * V);
    // the query's non-zero terms only: SPLADE vectors are sparse
    const nz: number[] = [];
    for (let j = 0; j < V; j++) if (q[j] !== 0) nz.push(j);
    for (let c = 0; c < C; c++) {
      const off = c * V;
      let s = 0;
      for (const j of nz) s += q[j] * D[off + j];
      S[i * C + c] = s;
    }
  }
  return S;
}

/** dQ += dS D, dD += dS^T Q for dS (B, C). */
export function scoresBackward(dQ: Float32Array, dD: Float32Array, dS: Float64Array, Q: Float32Array, D: Float32Array,
                               B: number, C: number, V: number): void {
  const acc = new Float64Array(V);
  for (let i = 0; i < B; i++) {
    acc.fill(0);
    for (let c = 0; c < C; c++) {
      const g = dS[i * C + c];
      if (g === 0) continue;
      const off = c * V;
      for (let j = 0; j < V; j++) acc[j] += g * D[off + j];
    }
    const o = i * V;
    for (let j = 0; j < V; j++) dQ[o + j] += acc[j];
  }
  for (let c = 0; c < C; c++) {
    acc.fill(0);
    for (let i = 0; i < B; i++) {
      const g = dS[i * C + c];
      if (g === 0) continue;
      const off = i * V;
      for (let j = 0; j < V; j++) acc[j] += g * Q[off + j];
    }
    const o = c * V;
    for (let j = 0; j < V; j++) dD[o + j] += acc[j];
  }
}

/** log(sum(exp(x))) and softmax of x, stable. */
function softmax(x: number[]): { lse: number; p: number[] } {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let z = 0;
  for (const v of x) z += Math.exp(v - m);
  const lse = m + Math.log(z);
  return { lse, p: x.map((v) => Math.exp(v - lse)) };
}

/**
 * Ranking loss forward + backward on the score matrix S (B, B*n). Returns the loss and adds
 * weight * dLoss/dS into dS.
 * - contrastive: cross-entropy of softmax(s_i. / T) with target = own positive; the candidates are
 *   query i's own n documents, or all B*n documents of the batch with inBatchNegatives; mean over i.
 * - marginmse: mean over i and j >= 1 of ((s_i0 - s_ij) - (t_i0 - t_ij))^2.
 * - kldiv: KL(softmax(t_i / T) || softmax(s_i / T)) over query i's own documents, mean over i.
 */
export function rankingLossForwardBackward(kind: RankingLoss, S: Float64Array, dS: Float64Array, B: number, n: number,
                                           opts: { temperature: number; inBatchNegatives: boolean; teacher?: number[][]; weight: number }): number {
  const C = B * n;
  const T = opts.temperature, w = opts.weight;
  let loss = 0;
  if (kind === 'contrastive') {
    for (let i = 0; i < B; i++) {
      const first = opts.inBatchNegatives ? 0 : i * n;
      const count = opts.inBatchNegatives ? C : n;
      const target = i * n - first;
      const x: number[] = [];
      for (let c = 0; c < count; c++) x.push(S[i * C + first + c] / T);
      const { lse, p } = softmax(x);
      loss += lse - x[target];
      for (let c = 0; c < count; c++) dS[i * C + first + c] += (w * (p[c] - (c === target ? 1 : 0))) / (B * T);
    }
    return loss / B;
  }
  const t = opts.teacher!;
  if (kind === 'marginmse') {
    const m = B * (n - 1);
    for (let i = 0; i < B; i++) {
      const s0 = S[i * C + i * n];
      for (let j = 1; j < n; j++) {
        const diff = (s0 - S[i * C + i * n + j]) - (t[i][0] - t[i][j]);
        loss += diff * diff;
        const g = (w * 2 * diff) / m;
        dS[i * C + i * n] += g;
        dS[i * C + i * n + j] -= g;
      }
    }
    return loss / m;
  }
  // kldiv
  for (let i = 0; i < B; i++) {
    const xs: number[] = [], xt: number[] = [];
    for (let j = 0; j < n; j++) {
      xs.push(S[i * C + i * n + j] / T);
      xt.push(t[i][j] / T);
    }
    const s = softmax(xs), te = softmax(xt);
    for (let j = 0; j < n; j++) {
      const pt = te.p[j];
      if (pt > 0) loss += pt * ((xt[j] - te.lse) - (xs[j] - s.lse));
      dS[i * C + i * n + j] += (w * (s.p[j] - pt)) / (B * T);
    }
  }
  return loss / B;
}

/**
 * Regulariser forward + backward on R (rows, V); adds scale * dReg/dR into dR.
 * - flops: sum_j (mean_i |r_ij|)^2
 * - l1:    mean_i sum_j |r_ij|
 * d|r|/dr is sign(r) with sign(0) = 0, as torch's abs.
 */
export function regForwardBackward(kind: Regulariser, R: Float32Array, dR: Float32Array, rows: number, V: number,
                                   scale: number): number {
  if (kind === 'l1') {
    let sum = 0;
    for (let k = 0; k < rows * V; k++) {
      const r = R[k];
      sum += Math.abs(r);
      if (scale !== 0 && r !== 0) dR[k] += (scale * Math.sign(r)) / rows;
    }
    return sum / rows;
  }
  const mean = new Float64Array(V);
  for (let i = 0; i < rows; i++) {
    const o = i * V;
    for (let j = 0; j < V; j++) mean[j] += Math.abs(R[o + j]);
  }
  let reg = 0;
  for (let j = 0; j < V; j++) {
    mean[j] /= rows;
    reg += mean[j] * mean[j];
  }
  if (scale !== 0) {
    for (let i = 0; i < rows; i++) {
      const o = i * V;
      for (let j = 0; j < V; j++) {
        const r = R[o + j];
        if (r !== 0) dR[o + j] += (scale * 2 * mean[j] * Math.sign(r)) / rows;
      }
    }
  }
  return reg;
}

/** Average number of non-zero terms per row. */
export function averageNnz(R: Float32Array, rows: number, V: number): number {
  let nz = 0;
  for (let k = 0; k < rows * V; k++) if (R[k] !== 0) nz++;
  return rows === 0 ? 0 : nz / rows;
}
