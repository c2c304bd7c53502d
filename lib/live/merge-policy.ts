// Which segments to merge. Only adjacent segments are merged, so that commit order (the order a
// fresh build would number documents in) survives every merge. Tiers as in Lucene's log merge
// policy: a segment's tier is log_mergeFactor(live docs / MIN_DOCS); mergeFactor adjacent segments
// of one tier become one of the next, so each document is rewritten about log(N) times. A segment
// with more than half its documents deleted is rewritten alone (reclaiming them). A merge never
// makes a segment above maxBytes (its documents' vectors, 8 bytes a posting): it bounds how much
// one background merge rewrites (a merge streams: its memory does not depend on its size).

const MIN_DOCS = 1000;

export interface MergeCandidate {
  docs: number;
  deleted: number;
  /** 8 bytes a live posting. */
  bytes: number;
  /** Being written or merged: not to be merged now. */
  busy: boolean;
}

export interface Run {
  start: number;
  end: number;
}

function tier(live: number, factor: number): number {
  return Math.max(0, Math.floor(Math.log(Math.max(live, 1) / MIN_DOCS) / Math.log(factor)));
}

export function pickMerge(segs: MergeCandidate[], factor: number, maxBytes: number): Run | undefined {
  for (let i = 0; i + factor <= segs.length; i++) {
    const t = tier(segs[i].docs - segs[i].deleted, factor);
    let j = i;
    let bytes = 0;
    while (j < segs.length && j - i < factor && !segs[j].busy && tier(segs[j].docs - segs[j].deleted, factor) === t) bytes += segs[j++].bytes;
    if (j - i === factor && bytes <= maxBytes) return { start: i, end: j };
  }
  const wasteful = segs.findIndex((s) => !s.busy && s.deleted * 2 > s.docs);
  return wasteful < 0 ? undefined : { start: wasteful, end: wasteful + 1 };
}

/** Splits segments (by live docs) into at most n adjacent groups of about equal size. */
export function splitForForceMerge(live: number[], n: number): Run[] {
  if (live.length === 0) return [];
  const groups = Math.min(n, live.length);
  const total = live.reduce((a, b) => a + b, 0);
  const out: Run[] = [];
  let start = 0;
  let acc = 0;
  for (let g = 1; g <= groups; g++) {
    if (g === groups) {
      out.push({ start, end: live.length });
      break;
    }
    const goal = (total * g) / groups;
    let end = start;
    // leave at least one segment for each group still to come
    while (end < live.length - (groups - g) && (end === start || acc + live[end] <= goal)) acc += live[end++];
    out.push({ start, end });
    start = end;
  }
  return out;
}
