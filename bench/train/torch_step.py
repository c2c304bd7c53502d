#!/usr/bin/python3
"""PyTorch reference for bench/train/train.bench.ts: the same training step (float32, eager mode) on
the same checkpoint: contrastive loss with in-batch negatives, L1 on queries, FLOPS on documents,
clip_grad_norm_, AdamW. Uses the plain-torch reference BERT of test/fixtures/make_fixtures.py.

    /usr/bin/python3 bench/train/torch_step.py CHECKPOINT_DIR THREADS ITERS
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures"))
from make_fixtures import bert_mlm_logits, read_safetensors  # noqa: E402

NQ, QLEN, ND, DLEN = 16, 16, 32, 128


def main():
    ckpt, threads, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("layer_norm_eps", 1e-12)
    params = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(os.path.join(ckpt, "model.safetensors")).items()}
    decay = [p for k, p in params.items() if not ("bias" in k or "LayerNorm" in k)]
    no_decay = [p for k, p in params.items() if "bias" in k or "LayerNorm" in k]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=2e-5)
    g = torch.Generator().manual_seed(0)

    def encode(n, length):
        ids = torch.randint(1000, 30000, (n, length), generator=g)
        ids[:, 0], ids[:, -1] = 101, 102
        mask = torch.ones(n, length)
        return torch.log1p(torch.relu(bert_mlm_logits(params, cfg, ids, mask))).amax(dim=1)

    def step():
        opt.zero_grad()
        q, d = encode(NQ, QLEN), encode(ND, DLEN)
        s = q @ d.T
        loss = torch.nn.functional.cross_entropy(s, torch.arange(NQ) * (ND // NQ))
        loss = loss + 5e-4 * q.abs().sum(dim=1).mean() + 3e-4 * (d.abs().mean(dim=0) ** 2).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()

    step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    tokens = NQ * QLEN + ND * DLEN
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    print(f"PyTorch {torch.__version__} eager float32, {threads} threads (same step)\n"
          f"  {mean:.3f} s per step (min {min(times):.3f}), {tokens / mean:.0f} tokens/s, process peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
