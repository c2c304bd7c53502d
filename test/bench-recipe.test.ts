// The leave-one-out benchmark's own code (bench/recipe/lib): the fusion weight chosen by nested
// leave-one-out (a held-out fold's own judgments never choose), and the report and plot.
import { describe, expect, it } from 'vitest';

import { chooseFusionLeaveOneOut, type FusionFold } from '../bench/recipe/lib/choose.js';
import { looGoals, looPlotSvg, looReportMarkdown, type LooResults } from '../bench/recipe/lib/report.js';

describe('chooseFusionLeaveOneOut', () => {
  // one query per fold, one relevant document 'r'; BM25 ranks it 3rd, SPLADE 1st ('splade-good'),
  // or the other way round ('bm25-good')
  const fold = (name: string, kind: 'splade-good' | 'bm25-good'): FusionFold => {
    const good = { r: 10, x: 1, y: 0.5 }, bad = { x: 10, y: 9.9, r: 1 };
    return { name, qrels: { q: { r: 1 } }, bm25: { q: kind === 'bm25-good' ? good : bad }, splade: { q: kind === 'splade-good' ? good : bad } };
  };
  const folds = [fold('a', 'splade-good'), fold('b', 'splade-good'), fold('c', 'bm25-good')];
  it("picks each fold's weight on the other folds only", () => {
    const c = chooseFusionLeaveOneOut(folds, { weights: [0.25, 4] });
    // c's own judgments favour 0.25; a and b favour 4, so c gets 4
    expect(c.c).toMatchObject({ weight: 4, norm: 'max', chosenOn: ['a', 'b'], othersMean: 1 });
    // a: b favours 4, c favours 0.25; the mean over b and c ties (1 + 1/2 each way): the first in grid order
    expect(c.a.chosenOn).toEqual(['b', 'c']);
    expect(c.a.weight).toBe(0.25);
    expect(c.a.othersMean).toBeCloseTo((1 / Math.log2(4) + 1) / 2, 12);
  });
  it('searches the normalisations as well, and needs two folds', () => {
    const c = chooseFusionLeaveOneOut(folds, { weights: [1], norms: ['max', 'zscore'] });
    expect(['max', 'zscore']).toContain(c.c.norm);
    expect(() => chooseFusionLeaveOneOut([folds[0]], { weights: [1] })).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
    expect(() => chooseFusionLeaveOneOut(folds, { weights: [] })).toThrow(/weights/);
  });
});

describe('leave-one-out report', () => {
  const m = (n: number, r: number, c: number) => ({ 'ndcg@10': n, 'mrr@10': r, 'recall@100': c });
  const row = (collection: string, bm: number, sp: number, fu: number) => ({
    collection, queries: 10, documents: 100, trainQueries: 40, encodeSeconds: 1,
    bm25: m(bm, 0.5, 0.6), splade: m(sp, 0.5, 0.6), fusedSum: m(fu, 0.5, 0.6), fusedRrf: m(bm - 0.01, 0.5, 0.6),
    spladeEfficiency: { avgDocTerms: 80, avgQueryTerms: 20, flops: 3, indexBytes: 1 << 20, latencyMs: { mean: 0.2, p50: 0.2, p90: 0.3, p99: 0.4 } },
    bm25Efficiency: { latencyMs: { mean: 0.1, p50: 0.1, p90: 0.2, p99: 0.3 } },
  });
  const results: LooResults = {
    started: 's', finished: 'f', totalSeconds: 3000, machine: '2 cores', load: { mean: 3, min: 2, max: 5 }, setup: {}, stages: [{ name: 'x', seconds: 1, load: [1, 2] }],
    rows: [row('a', 0.4, 0.5, 0.45), row('b', 0.4, 0.32, 0.41)],
  };
  it('checks the goals and writes the table and the plot', () => {
    expect(looGoals(results)).toMatchObject({ spladeBeatsMean: true, fusedBeatsAll: true, underHour: true });
    expect(looGoals(results, 'fusedRrf').fusedBeatsAll).toBe(false);
    expect(looGoals({ ...results, rows: [row('a', 0.4, 0.3, 0.39)] })).toMatchObject({ spladeBeatsMean: false, fusedBeatsAll: false });
    const md = looReportMarkdown(results, { plot: 'p.svg' });
    expect(md).toContain('| a | 10 | 0.400 | 0.500 | 0.450 | 0.390 |');
    expect(md).toContain('| **mean** | | **0.400** | **0.410** | **0.430** | **0.390** |');
    expect(md).toContain('![nDCG@10 per held-out collection](p.svg)');
    const svg = looPlotSvg(results);
    expect(svg.match(/<rect data-system=/g)).toHaveLength(3 * 4);
    expect(svg).toContain('data-system="splade" data-value="0.4100"');
  });
  it('shows the idf-query and chosen-weight rows when every row has them', () => {
    const withChoice = (x: ReturnType<typeof row>, idf: number, chosen: number) => ({
      ...x, spladeIdf: m(idf, 0.5, 0.6), fusedChosen: m(chosen, 0.5, 0.6), fusedIdfChosen: m(chosen + 0.01, 0.5, 0.6),
      fusionChoice: { fusedChosen: { weight: 0.5, norm: 'minmax', chosenOn: ['b'] }, fusedIdfChosen: { weight: 1, norm: 'max', chosenOn: ['b'] } },
    });
    const r2: LooResults = { ...results, rows: [withChoice(row('a', 0.4, 0.3, 0.39), 0.45, 0.41), withChoice(row('b', 0.4, 0.32, 0.41), 0.38, 0.42)] };
    expect(looGoals(r2, 'fusedSum', 'spladeIdf')).toMatchObject({ spladeBeatsMean: true });
    expect(looGoals(r2)).toMatchObject({ spladeBeatsMean: false, fusedBeatsAll: false });
    expect(looGoals(r2, 'fusedChosen').fusedBeatsAll).toBe(true);
    const md = looReportMarkdown(r2);
    expect(md).toContain('| a | 10 | 0.400 | 0.300 | 0.450 | 0.390 | 0.390 | 0.410 | 0.420 |');
    expect(md).toContain('| a | minmax, w 0.5 | max, w 1 |');
    expect(md).toContain("- SPLADE, idf queries alone beats BM25's mean nDCG@10: yes (0.415 vs 0.400)");
    expect(md).toContain('- SPLADE + BM25 (LOO weight) beats BM25 on every held-out collection: yes');
    expect(md).toContain('- SPLADE + BM25 (score sum) beats BM25 on every held-out collection: no');
    expect(looPlotSvg(r2).match(/<rect data-system=/g)).toHaveLength(3 * 7);
    // the zero-shot ensemble and its models alone
    const zero = (x: (typeof r2.rows)[number], a: number, b: number) => ({ ...x, spladeZero: m((a + b) / 2 + 0.01, 0.5, 0.6), spladeZeroParts: { mlm400: m(a, 0.5, 0.6), mlm2000: m(b, 0.5, 0.6) } });
    const r3: LooResults = { ...r2, rows: [zero(r2.rows[0], 0.41, 0.43), zero(r2.rows[1], 0.39, 0.37)] };
    const md3 = looReportMarkdown(r3);
    expect(md3).toContain('| mlm400 | 0.410 | 0.390 | 0.400 |');
    expect(md3).toContain('| mlm2000 | 0.430 | 0.370 | 0.400 |');
    expect(md3).toContain("- SPLADE zero-shot, idf queries alone beats BM25's mean nDCG@10: yes (0.410 vs 0.400)");
    expect(md3).not.toContain('Efficiency of the zero-shot run');
    // its efficiency, as served: every model's index and search
    const eff = (x: (typeof r3.rows)[number], terms: number) => ({ ...x, spladeZeroEfficiency: { models: 2, encodeSeconds: 3.25, avgDocTerms: terms, avgQueryTerms: 7, flops: 1.5, indexBytes: 3 * 2 ** 20, latencyMs: { mean: 0.2, p50: 0.1, p90: 0.3, p99: 0.45 } } });
    const md4 = looReportMarkdown({ ...r3, rows: [eff(r3.rows[0], 80), eff(r3.rows[1], 60.25)] });
    expect(md4).toContain('**Efficiency of the zero-shot run** (2 models with idf queries');
    expect(md4).toMatch(/\| a \| 100 \| 80\.0 \| 7\.0 \| 1\.50 \| 3\.00 \| 0\.200 \/ 0\.450 \| [\d.]+ \/ [\d.]+ \| 3\.3 \|/);
    expect(md4).toContain("| b | 100 | 60.3 |");
    expect(md4).toContain('the zero-shot row sums their max-normalised runs');
    const md5 = looReportMarkdown({ ...r3, setup: { zeroShotEnsemble: 'sum' }, rows: [eff(r3.rows[0], 80), eff(r3.rows[1], 60.25)] });
    expect(md5).toContain("(2 models with idf queries, no query encoder pass; one index of the models' document vectors summed;");
    expect(md5).toContain('the zero-shot row searches the sum of their document vectors');
    // one row without them: the extra systems are left out rather than shown half empty
    expect(looReportMarkdown({ ...r2, rows: [r2.rows[0], row('b', 0.4, 0.32, 0.41)] })).not.toContain('idf queries');
  });
});
