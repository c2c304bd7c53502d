// Repeated load / encode / drop cycles must not grow memory: the arena and the native handle go away
// with the model (the handle's reference to the arena is released by its destructor).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { SpladeModel } from '../lib/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MODEL = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'models', 'bert');

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().arrayBuffers;
}

describe('memory', () => {
  it('does not leak models across load/encode cycles', async () => {
    const cycle = async () => {
      const m = await SpladeModel.load(MODEL);
      await m.encode(['the cat sat on the mat', 'sparse retrieval']);
      await m.encodeIdsBackward([[2, 10, 3]], new Float32Array(256).fill(1));
    };
    for (let i = 0; i < 5; i++) await cycle();
    const base = await settle();
    for (let i = 0; i < 40; i++) await cycle();
    const after = await settle();
    // one model's arena + gradients is ~0.3 MB; 40 leaked cycles would add ~12 MB
    expect(after - base).toBeLessThan(2 * 1024 * 1024);
  });
});
