// What save() writes, read back by PyTorch: the fixture script's --check mode loads model.safetensors
// and config.json as transformers would (state-dict names, decoder tied to the word embeddings) and
// runs its plain-torch reference model. Skipped where /usr/bin/python3 has no torch.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SpladeModel } from '../lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const PY = process.env.SPLADE_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const tmpRoot = mkdtempSync(join(tmpdir(), 'splade-save-py-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

describe.skipIf(!hasTorch)('save() output loads in PyTorch', () => {
  for (const dir of ['bert-bf16', 'distilbert']) {
    it(`${dir}: same tensors, same SPLADE vectors`, async () => {
      const model = await SpladeModel.load(join(here, 'fixtures', 'models', dir));
      const out = join(tmpRoot, dir);
      await model.save(out);
      const seqs = [[2, 17, 200, 45, 3], [2, 3], [2, ...Array.from({ length: 30 }, (_, i) => 5 + ((i * 37) % 250)), 3]];
      const res = JSON.parse(
        execFileSync(PY, [join(here, 'fixtures', 'make_fixtures.py'), '--check', out, JSON.stringify(seqs)], { encoding: 'utf8' }),
      ) as { keys: string[]; vectors: Record<'max' | 'sum', number[][]> };
      expect(res.keys).toEqual([...model.parameters().keys()].sort());
      for (const pooling of ['max', 'sum'] as const) {
        const vs = await model.encodeIds(seqs, { pooling });
        vs.forEach((v, i) => {
          const ref = res.vectors[pooling][i];
          const got = new Float64Array(ref.length);
          v.indices.forEach((j, k) => (got[j] = v.values[k]));
          for (let j = 0; j < ref.length; j++) expect(Math.abs(got[j] - ref[j]) / Math.max(Math.abs(ref[j]), 0.1)).toBeLessThanOrEqual(1e-4);
        });
      }
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toBeDefined();
    });
  }
});
