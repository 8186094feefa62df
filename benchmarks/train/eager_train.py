#!/usr/bin/python3
"""Eager PyTorch LoRA training steps: the baseline of benchmarks/train.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, the libtorch lora-node
links). Model: benchmarks/infer/eager.py's DistilBERT, in train mode with
transformers' dropouts (embeddings, attention weights, FFN output, head:
p = 0.1 / 0.1 / 0.1 / 0.2), LoRA (PEFT semantics, dropout 0.1) on q_lin and
v_lin, pre_classifier and classifier trained in full, AdamW (torch), loss CE,
clip_grad_norm_(1.0). bf16 = torch.autocast('cpu', dtype=torch.bfloat16).

Prints one JSON object: per-step times, their median, peak RSS.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infer"))
import eager  # noqa: E402  (benchmarks/infer/eager.py: the same model code as the inference baseline)


class LoraLinear(nn.Module):
    """y = W x + b + (alpha/r) * B(A(dropout(x))), wrapping the frozen base (PEFT's LoraLayer)."""

    def __init__(self, base, r, alpha, dropout):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def attention_forward(att, x, mask, p):
    bs, T, dim = x.size()
    d = dim // att.n_heads
    shape = lambda t: t.view(bs, -1, att.n_heads, d).transpose(1, 2)
    q = shape(att.q_lin(x)) / math.sqrt(d)
    k = shape(att.k_lin(x))
    v = shape(att.v_lin(x))
    scores = torch.matmul(q, k.transpose(2, 3))
    scores = scores.masked_fill((mask == 0).view(bs, 1, 1, T).expand_as(scores), torch.finfo(scores.dtype).min)
    weights = F.dropout(F.softmax(scores, dim=-1), p, True)
    context = torch.matmul(weights, v).transpose(1, 2).contiguous().view(bs, -1, att.n_heads * d)
    return att.out_lin(context)


def train_forward(model, ids, mask):
    """transformers' DistilBertForSequenceClassification forward in train mode."""
    emb = model.distilbert.embeddings
    pos = torch.arange(ids.size(1)).unsqueeze(0).expand_as(ids)
    x = F.dropout(emb.LayerNorm(emb.word_embeddings(ids) + emb.position_embeddings(pos)), 0.1, True)
    for block in model.distilbert.transformer.layer:
        sa = block.sa_layer_norm(attention_forward(block.attention, x, mask, 0.1) + x)
        ffn = F.dropout(block.ffn.lin2(F.gelu(block.ffn.lin1(sa))), 0.1, True)
        x = block.output_layer_norm(ffn + sa)
    h = F.dropout(F.relu(model.pre_classifier(x[:, 0])), 0.2, True)
    return model.classifier(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--r", type=int, default=8)
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = eager.load_model(args.model).train()
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.distilbert.transformer.layer:
        block.attention.q_lin = LoraLinear(block.attention.q_lin, args.r, 16, 0.1)
        block.attention.v_lin = LoraLinear(block.attention.v_lin, args.r, 16, 0.1)
    for head in (model.pre_classifier, model.classifier):
        for p in head.parameters():
            p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and "bias" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and "bias" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=2e-4)

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 30000, (args.batch, args.seq), generator=g)
    ids[:, 0] = 101
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (args.batch,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = train_forward(model, ids, mask)
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "impl": "eager",
        "precision": args.precision,
        "stepMs": times,
        "medianMs": statistics.median(times),
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "blasCore": eager.blas_core(),
    }))


if __name__ == "__main__":
    main()
