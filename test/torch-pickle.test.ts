// The pytorch_model.bin reader on what torch.save really writes: half and bfloat16 storages, tensors
// that share a storage at an offset, non-contiguous views, legacy names. Runs torch at test time;
// skipped where /usr/bin/python3 has no torch.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { FileHandle } from '../lib/model/tensor.js';
import { readTorchCheckpoint } from '../lib/model/torch-pickle.js';

const PY = process.env.SPLADE_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'splade-pickle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
import collections, json, sys, torch
g = torch.Generator().manual_seed(3)
base = torch.randn(6, 5, generator=g)
sd = collections.OrderedDict()
sd["f32"] = torch.randn(3, 4, generator=g)
sd["f16"] = torch.randn(7, generator=g).half()
sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
sd["transposed"] = base.t()                    # non-contiguous view of base's storage
sd["row"] = base[2]                            # shares base's storage at an offset
sd["scalar"] = torch.tensor(1.5)
sd["ids"] = torch.arange(4)                    # int64: listed, refused when read
sd["nested.LayerNorm.gamma"] = torch.nn.Parameter(torch.ones(2))
torch.save(sd, sys.argv[1])
print(json.dumps({k: v.detach().float().reshape(-1).tolist() for k, v in sd.items()}))
`;

describe.skipIf(!hasTorch)('torch.save reader', () => {
  it('reads every tensor layout torch.save writes', async () => {
    const path = join(dir, 'pytorch_model.bin');
    const want = JSON.parse(execFileSync(PY, ['-c', SCRIPT, path], { encoding: 'utf8' })) as Record<string, number[]>;
    const h = new FileHandle(path);
    try {
      const tensors = new Map(readTorchCheckpoint(h).map((t) => [t.name, t]));
      expect([...tensors.keys()].sort()).toEqual(Object.keys(want).sort());
      expect(tensors.get('f16')!.dtype).toBe('F16');
      expect(tensors.get('bf16')!.dtype).toBe('BF16');
      expect(tensors.get('transposed')!.shape).toEqual([5, 6]);
      expect(tensors.get('scalar')!.shape).toEqual([]);
      for (const [name, values] of Object.entries(want)) {
        if (name === 'ids') continue;
        const out = new Float32Array(values.length);
        await tensors.get(name)!.read(out);
        expect(Array.from(out), name).toEqual(values.map((v) => Math.fround(v)));
      }
      await expect(tensors.get('ids')!.read(new Float32Array(4))).rejects.toThrow(/tensor ids has unsupported dtype I64/);
    } finally {
      h.close();
    }
  });
});
