#!/usr/bin/python3
"""Eager PyTorch DistilBERT forward: the baseline of benchmarks/infer.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, the libtorch lora-node
links). The math is transformers' DistilBertForSequenceClassification in eval
mode, written out here so no transformers/safetensors pip package is needed:
LayerNorm eps 1e-12, exact (erf) GELU, keys masked with finfo(dtype).min,
post-LN blocks, head = first token -> pre_classifier -> ReLU -> classifier.

Modes (each prints one JSON object on stdout):
  eager.py --model DIR --inputs FILE --batch B --seq T --precision fp32|bf16
           [--threads N] [--warmup W] [--reps K]          time the forward
  eager.py --matmul [--threads N] [--m 4096 --k 768 --n 3072]  matmul GFLOP/s
  eager.py --model DIR --export-onnx PATH                  export fp32 ONNX
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """name -> torch tensor; 8-byte little-endian header length, JSON header, raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if entry["dtype"] == "BF16":
            raw = np.frombuffer(blob, dtype=np.int16, count=(end - begin) // 2, offset=base + begin)
            t = torch.from_numpy(raw.copy()).view(torch.bfloat16)
        else:
            dt = np.dtype(DTYPES[entry["dtype"]])
            raw = np.frombuffer(blob, dtype=dt, count=(end - begin) // dt.itemsize, offset=base + begin)
            t = torch.from_numpy(raw.copy())
        out[name] = t.reshape(entry["shape"])
    return out


class Attention(nn.Module):
    # transformers.models.distilbert.modeling_distilbert.MultiHeadSelfAttention
    def __init__(self, dim, heads):
        super().__init__()
        self.n_heads, self.dim = heads, dim
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask):
        bs, q_length, dim = x.size()
        k_length = x.size(1)
        dim_per_head = self.dim // self.n_heads
        mask_reshp = (bs, 1, 1, k_length)

        def shape(t):
            return t.view(bs, -1, self.n_heads, dim_per_head).transpose(1, 2)

        def unshape(t):
            return t.transpose(1, 2).contiguous().view(bs, -1, self.n_heads * dim_per_head)

        q = shape(self.q_lin(x))
        k = shape(self.k_lin(x))
        v = shape(self.v_lin(x))
        q = q / math.sqrt(dim_per_head)
        scores = torch.matmul(q, k.transpose(2, 3))
        mask = (mask == 0).view(mask_reshp).expand_as(scores)
        scores = scores.masked_fill(mask, torch.tensor(torch.finfo(scores.dtype).min))
        weights = F.softmax(scores, dim=-1)
        context = unshape(torch.matmul(weights, v))
        return self.out_lin(context)


class Block(nn.Module):
    def __init__(self, dim, hidden, heads):
        super().__init__()
        self.attention = Attention(dim, heads)
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.ffn = nn.Module()
        self.ffn.lin1 = nn.Linear(dim, hidden)
        self.ffn.lin2 = nn.Linear(hidden, dim)
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        ffn = self.ffn.lin2(F.gelu(self.ffn.lin1(sa)))  # exact erf GELU
        return self.output_layer_norm(ffn + sa)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        dim, labels = c["dim"], len(c.get("id2label") or {"0": 0, "1": 1})
        self.distilbert = nn.Module()
        emb = self.distilbert.embeddings = nn.Module()
        emb.word_embeddings = nn.Embedding(c["vocab_size"], dim, padding_idx=c.get("pad_token_id", 0))
        emb.position_embeddings = nn.Embedding(c["max_position_embeddings"], dim)
        emb.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
        self.distilbert.transformer = nn.Module()
        self.distilbert.transformer.layer = nn.ModuleList(
            Block(dim, c["hidden_dim"], c["n_heads"]) for _ in range(c["n_layers"])
        )
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, labels)

    def forward(self, input_ids, attention_mask):
        emb = self.distilbert.embeddings
        position_ids = torch.arange(input_ids.size(1), dtype=torch.long, device=input_ids.device)
        position_ids = position_ids.unsqueeze(0).expand_as(input_ids)
        x = emb.LayerNorm(emb.word_embeddings(input_ids) + emb.position_embeddings(position_ids))
        for block in self.distilbert.transformer.layer:
            x = block(x, attention_mask)
        pooled = x[:, 0]
        return self.classifier(F.relu(self.pre_classifier(pooled)))


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    model = DistilBertForSequenceClassification(config)
    state = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict(state, strict=True)
    return model.eval()


def blas_core():
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except Exception:  # not OpenBLAS
        return None


def runtime():
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blasCore": blas_core(),
        "openblasCoretypeEnv": os.environ.get("OPENBLAS_CORETYPE"),
        "cpuCapability": torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None,
    }


def time_forward(args):
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t0
    ids = np.fromfile(args.inputs, dtype="<i4").astype(np.int64).reshape(args.batch, args.seq)
    input_ids = torch.from_numpy(ids)
    attention_mask = torch.ones_like(input_ids)
    bf16 = args.precision == "bf16"

    def forward():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(input_ids, attention_mask)

    logits = None
    for _ in range(args.warmup):
        logits = forward()
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        logits = forward()
        times.append((time.perf_counter() - t) * 1000)
    return {
        "impl": "eager",
        "precision": args.precision,
        "resolvedPrecision": args.precision,
        "batch": args.batch,
        "seq": args.seq,
        "loadMs": load_s * 1000,
        "timesMs": times,
        "medianMs": statistics.median(times),
        "logits": logits.float().flatten().tolist(),
        "runtime": runtime(),
    }


def matmul_rate(args):
    """GFLOP/s of one [m,k]x[k,n] product: fp32 through at::mm (BLAS), bf16 as an
    autocast linear (oneDNN), the two paths the model's linears take."""
    torch.set_num_threads(args.threads)
    m, k, n = args.m, args.k, args.n
    torch.manual_seed(0)
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    w = b.t().contiguous()  # [n, k], a Linear weight
    flops = 2.0 * m * k * n

    def rate(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return flops / statistics.median(times) / 1e9

    out = {"impl": "matmul", "shape": [m, k, n], "runtime": runtime()}
    with torch.inference_mode():
        out["fp32GflopS"] = rate(lambda: torch.mm(a, b))
        a64, b64 = a[:256].double(), b.double()
        out["fp32MaxAbsErrVsF64"] = float((torch.mm(a[:256], b).double() - a64 @ b64).abs().max())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out["bf16GflopS"] = rate(lambda: F.linear(a, w))
    return out


def export_onnx(args):
    model = load_model(args.model)
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    tmp = args.export_onnx + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            tmp,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "logits": {0: "batch"}},
            opset_version=args.opset,
            do_constant_folding=True,
        )
    os.replace(tmp, args.export_onnx)
    return {"impl": "export", "path": args.export_onnx, "opset": args.opset, "torch": torch.__version__,
            "bytes": os.path.getsize(args.export_onnx)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--inputs")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--matmul", action="store_true")
    p.add_argument("--m", type=int, default=4096)
    p.add_argument("--k", type=int, default=768)
    p.add_argument("--n", type=int, default=3072)
    p.add_argument("--export-onnx", metavar="PATH")
    p.add_argument("--opset", type=int, default=14)
    args = p.parse_args()
    if args.export_onnx:
        result = export_onnx(args)
    elif args.matmul:
        result = matmul_rate(args)
    else:
        if not args.model or not args.inputs:
            p.error("--model and --inputs are required to time the forward")
        result = time_forward(args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
