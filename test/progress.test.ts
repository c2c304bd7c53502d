// The one progress reporter (lib/progress.ts): a redrawn bar on a terminal, plain lines elsewhere.
import { describe, expect, it } from 'vitest';

import { formatBytes, Progress } from '../lib/progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const out: string[] = [];
  const stream = { isTTY, write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out.join('') };
}

describe('Progress', () => {
  it('redraws one line with a bar on a terminal and ends it on finish', () => {
    const { stream, text } = fakeStream(true);
    const p = new Progress({ label: 'index', total: 4, unit: 'docs', stream });
    p.tick(2);
    p.finish();
    expect(text()).toMatch(/^\r\[#{12}\.{12}\] index: 2\/4 docs {2}[\d.]+ docs\/s/);
    expect(text()).toMatch(/\r\[#{12}\.{12}\] index: 2\/4 docs .* in [\d.]+s\x1b\[K\n$/);
    expect(text().split('\n')).toHaveLength(2);
  });

  it('writes plain lines when not on a terminal, at most one per interval', () => {
    const quiet = fakeStream(false);
    const p = new Progress({ label: 'score', unit: 'queries', stream: quiet.stream, intervalMs: 60_000 });
    for (let i = 0; i < 1000; i++) p.tick();
    p.detail = 'loss 0.5';
    p.finish();
    expect(quiet.text()).toMatch(/^score: 1000 queries {2}[\d.]+ queries\/s {2}loss 0\.5 {2}in [\d.]+s\n$/);
    const busy = fakeStream(false);
    const q = new Progress({ label: 'index', total: 3, unit: 'docs', stream: busy.stream, intervalMs: 0 });
    for (let i = 0; i < 3; i++) q.tick();
    q.finish();
    expect(busy.text().split('\n').map((l) => /^index: (\d)\/3 docs/.exec(l)?.[1])).toEqual(['1', '2', '3', '3', undefined]);
    expect(busy.text()).not.toContain('\r');
  });

  it('shows bytes with decimal units, and leaves a resumed part out of the rate', () => {
    expect([0, 999, 1000, 1_234_567, 5e9].map(formatBytes)).toEqual(['0 B', '999 B', '1.0 kB', '1.2 MB', '5.0 GB']);
    const { stream, text } = fakeStream(false);
    const p = new Progress({ label: 'model.safetensors', total: 3e9, bytes: true, initial: 2e9, stream, intervalMs: 0 });
    p.set(2e9); // nothing new yet: a rate of 0, not 2 GB over the few microseconds since the start
    p.set(2.5e9);
    p.finish();
    const lines = text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^model\.safetensors: 2\.0 GB\/3\.0 GB {2}0 B\/s$/);
    expect(lines[1]).toMatch(/^model\.safetensors: 2\.5 GB\/3\.0 GB {2}[\d.]+ [kMGT]?B\/s {2}ETA /);
    expect(p.count).toBe(2.5e9);
  });
});
