#!/usr/bin/env python3
"""The PyTorch peer of `pofa bench infer`: the same dense BERT classifier
(the encoder of torch_bert.py, a pooler and a two-label classifier; no
dropout) running forward passes under torch.inference_mode on the same
shapes. Prints the median and p90 latency of the better of 1 and 2
intra-op threads (or --threads) and a RESULT line."""
import argparse
import statistics
import time

import torch
import torch.nn as nn

from torch_bert import PRESETS, Layer


class BertCls(nn.Module):
    def __init__(self, V, L, C, NH, P=512):
        super().__init__()
        self.we, self.pe, self.te = nn.Embedding(V, C), nn.Embedding(P, C), nn.Embedding(2, C)
        self.ln = nn.LayerNorm(C, eps=1e-12)
        self.layers = nn.ModuleList([Layer(C, NH, 4 * C, 0.0) for _ in range(L)])
        self.pool = nn.Linear(C, C)
        self.cls = nn.Linear(C, 2)

    def forward(self, ids, mask):
        B, T = ids.shape
        x = self.ln(self.we(ids) + self.pe(torch.arange(T)) + self.te(torch.zeros_like(ids)))
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, bias)
        return self.cls(torch.tanh(self.pool(x[:, 0])))


def measure(model, ids, mask, runs):
    with torch.inference_mode():
        for _ in range(2):
            model(ids, mask)
        lat = []
        start = time.perf_counter()
        while len(lat) < runs or (runs == 0 and (len(lat) < 10 or time.perf_counter() - start < 2.0)):
            t0 = time.perf_counter()
            model(ids, mask)
            lat.append(time.perf_counter() - t0)
            if runs == 0 and len(lat) >= 500:
                break
    lat.sort()
    return statistics.median(lat), lat[max(0, -(-9 * len(lat) // 10) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bert-base")
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--runs", type=int, default=0)
    a = ap.parse_args()
    L, C, NH = PRESETS[a.preset]
    torch.manual_seed(1)
    model = BertCls(a.vocab, L, C, NH).eval()
    ids = torch.randint(5, a.vocab, (a.batch, a.seq))
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    best = None
    for th in ([a.threads] if a.threads else [1, 2]):
        torch.set_num_threads(th)
        med, p90 = measure(model, ids, mask, a.runs)
        print(f"  pytorch {torch.__version__}, {th} threads: median {med * 1e3:.2f} ms, p90 {p90 * 1e3:.2f} ms, "
              f"{a.batch / med:.1f} seq/s")
        if best is None or med < best[0]:
            best = (med, p90, th)
    print(f"RESULT torch_ms={best[0] * 1e3:.3f} torch_p90_ms={best[1] * 1e3:.3f} threads={best[2]}")


if __name__ == "__main__":
    main()
