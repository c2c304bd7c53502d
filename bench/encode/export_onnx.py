#!/usr/bin/python3
"""The peers of bench/encode: the bench checkpoint as a plain PyTorch BERT masked-LM with SPLADE max pooling,
exported to ONNX (the pooling inside the graph), and timed in PyTorch itself.

transformers is not installed here (Debian ships python3-torch only), so the BERT is written out below:
post-LN encoder, exact-erf GELU, MLM head with the decoder tied to the word embeddings, the same math as
transformers' BertForMaskedLM in eval mode. The weights come from the checkpoint's model.safetensors
(read with test/fixtures/make_fixtures.py's reader: the safetensors module is not installed either).

  /usr/bin/python3 bench/encode/export_onnx.py <checkpoint dir> <out.onnx>          # export
  /usr/bin/python3 bench/encode/export_onnx.py <checkpoint dir> --time <docs.json> <threads> <batch>...
      # PyTorch: prints one JSON line per batch size {"batch", "ms", "docs_per_s"} (best of 3 runs)
"""
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures'))
from make_fixtures import read_safetensors  # noqa: E402 (the fixtures' reader: F32/F16/BF16)


class SpladeBert(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg, self.w = cfg, w
        self.H = cfg['num_attention_heads']
        self.eps = cfg.get('layer_norm_eps', 1e-12)
        for k, v in w.items():  # as buffers, so the ONNX graph holds them as initializers
            self.register_buffer(k.replace('.', '__'), v)

    def p(self, name):
        return getattr(self, name.replace('.', '__'))

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name + '.weight'), self.p(name + '.bias'))

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.cfg['hidden_size'],), self.p(name + '.weight'), self.p(name + '.bias'), self.eps)

    def forward(self, input_ids, attention_mask):
        B, T = input_ids.shape
        C = self.cfg['hidden_size']
        d = C // self.H
        pos = torch.arange(T, device=input_ids.device).unsqueeze(0)
        x = (torch.nn.functional.embedding(input_ids, self.p('bert.embeddings.word_embeddings.weight'))
             + torch.nn.functional.embedding(pos, self.p('bert.embeddings.position_embeddings.weight'))
             + self.p('bert.embeddings.token_type_embeddings.weight')[0])
        x = self.ln(x, 'bert.embeddings.LayerNorm')
        bias = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * torch.finfo(torch.float32).min
        for l in range(self.cfg['num_hidden_layers']):
            p = f'bert.encoder.layer.{l}.'
            heads = lambda t: t.view(B, T, self.H, d).transpose(1, 2)
            q = heads(self.lin(x, p + 'attention.self.query'))
            k = heads(self.lin(x, p + 'attention.self.key'))
            v = heads(self.lin(x, p + 'attention.self.value'))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
            a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, T, C)
            x = self.ln(self.lin(a, p + 'attention.output.dense') + x, p + 'attention.output.LayerNorm')
            h = torch.nn.functional.gelu(self.lin(x, p + 'intermediate.dense'))
            x = self.ln(self.lin(h, p + 'output.dense') + x, p + 'output.LayerNorm')
        t = torch.nn.functional.gelu(self.lin(x, 'cls.predictions.transform.dense'))
        t = self.ln(t, 'cls.predictions.transform.LayerNorm')
        logits = torch.matmul(t, self.p('bert.embeddings.word_embeddings.weight').t()) + self.p('cls.predictions.bias')
        # naver/splade: max over tokens of log(1 + relu(logits)) * mask
        return torch.max(torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype), dim=1).values


def load(ckpt):
    cfg = json.load(open(f'{ckpt}/config.json'))
    return SpladeBert(cfg, read_safetensors(f'{ckpt}/model.safetensors')).eval()


def padded(docs):
    T = max(len(d) for d in docs)
    ids = torch.zeros(len(docs), T, dtype=torch.int64)
    mask = torch.zeros(len(docs), T, dtype=torch.int64)
    for i, d in enumerate(docs):
        ids[i, :len(d)] = torch.tensor(d)
        mask[i, :len(d)] = 1
    return ids, mask


def export(ckpt, out):
    model = load(ckpt)
    ids, mask = padded([[1, 2, 3, 4], [1, 5, 4]])  # a trace example; the axes stay dynamic
    tmp = out + '.tmp'
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), tmp, input_names=['input_ids', 'attention_mask'], output_names=['w'],
                          dynamic_axes={'input_ids': {0: 'batch', 1: 'seq'}, 'attention_mask': {0: 'batch', 1: 'seq'},
                                        'w': {0: 'batch'}}, opset_version=14, do_constant_folding=True)
    os.replace(tmp, out)


def time_torch(ckpt, docs_file, threads, batches):
    torch.set_num_threads(threads)
    model = load(ckpt)
    docs = json.load(open(docs_file))
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))  # length-sorted batches, as the others get
    with torch.inference_mode():
        for bs in batches:
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                for s in range(0, len(order), bs):
                    model(*padded([docs[i] for i in order[s:s + bs]]))
                best = min(best, time.perf_counter() - t0)
            print(json.dumps({'batch': bs, 'ms': best * 1e3, 'docs_per_s': len(docs) / best, 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[2] == '--time':
        time_torch(sys.argv[1], sys.argv[3], int(sys.argv[4]), [int(b) for b in sys.argv[5:]] or [1, 4, 8])
    elif len(sys.argv) == 3:
        export(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
