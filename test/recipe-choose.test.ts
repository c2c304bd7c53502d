// Nested leave-one-out choice among recipe variants: a held-out collection's own figure never picks.
import { describe, expect, it } from 'vitest';

import { chooseVariantLeaveOneOut } from '../lib/recipe/choose.js';

describe('chooseVariantLeaveOneOut', () => {
  it('picks, for each held-out collection, the best mean over the other collections', () => {
    const scores = {
      base: { a: 0.5, b: 0.4, c: 0.3 },
      // best on a alone by far: must not be picked for a, since a's own figure does not count
      spikeA: { a: 0.9, b: 0.35, c: 0.28 },
      steady: { a: 0.45, b: 0.45, c: 0.31 },
    };
    const ch = chooseVariantLeaveOneOut(scores);
    // held out a: means over b, c = base 0.35, spikeA 0.315, steady 0.38
    expect(ch.a).toMatchObject({ variant: 'steady', chosenOn: ['b', 'c'], heldOut: 0.45 });
    expect(ch.a.othersMean).toBeCloseTo(0.38, 12);
    // held out b: over a, c = base 0.4, spikeA 0.59, steady 0.38
    expect(ch.b).toMatchObject({ variant: 'spikeA', heldOut: 0.35 });
    // held out c: over a, b = base 0.45, spikeA 0.625, steady 0.45
    expect(ch.c).toMatchObject({ variant: 'spikeA', heldOut: 0.28 });
  });

  it('a tie goes to the variant listed first', () => {
    const ch = chooseVariantLeaveOneOut({ x: { a: 1, b: 0.5 }, y: { a: 0, b: 0.5 } });
    expect(ch.a.variant).toBe('x');
  });

  it('missing or non-finite figures, or fewer than two collections, are clear errors', () => {
    const code = { code: 'ERR_SPLADE_INVALID_ARGUMENT' };
    expect(() => chooseVariantLeaveOneOut({})).toThrow(expect.objectContaining(code));
    expect(() => chooseVariantLeaveOneOut({ x: { a: 1 } })).toThrow(expect.objectContaining(code));
    expect(() => chooseVariantLeaveOneOut({ x: { a: 1, b: 2 }, y: { a: 1 } })).toThrow(/scores\.y\.b/);
    expect(() => chooseVariantLeaveOneOut({ x: { a: 1, b: NaN } })).toThrow(/scores\.x\.b/);
    expect(() => chooseVariantLeaveOneOut({ x: { a: 1, b: 2 }, y: { a: 1, b: 2, c: 3 } })).toThrow(/scores\.y/);
  });
});
