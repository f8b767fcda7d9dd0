#!/usr/bin/env python3
"""The PyTorch side of `make bench`: the same BERT training step as
`pofa bench train` (Hugging Face BERT semantics, dropout 0.1, MLM logits at
the masked positions only, AdamW, gradient clipping at 1.0), written with
plain torch so that it needs no other package. Prints tokens/s for 1 and 2
intra-op threads and the best of them as a RESULT line."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"bert-tiny": (2, 128, 2), "bert-mini": (4, 256, 4), "bert-small": (4, 512, 8),
           "bert-medium": (8, 512, 8), "bert-base": (12, 768, 12)}


class Layer(nn.Module):
    def __init__(self, C, NH, I, p):
        super().__init__()
        self.NH = NH
        self.q, self.k, self.v = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.o = nn.Linear(C, C)
        self.ln1 = nn.LayerNorm(C, eps=1e-12)
        self.fc, self.fp = nn.Linear(C, I), nn.Linear(I, C)
        self.ln2 = nn.LayerNorm(C, eps=1e-12)
        self.drop = nn.Dropout(p)

    def forward(self, x, bias):
        B, T, C = x.shape
        hs = C // self.NH
        def heads(t):
            return t.view(B, T, self.NH, hs).transpose(1, 2)
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(hs) + bias
        a = self.drop(torch.softmax(s, dim=-1))
        ctx = (a @ v).transpose(1, 2).reshape(B, T, C)
        x = self.ln1(self.drop(self.o(ctx)) + x)
        return self.ln2(self.drop(self.fp(F.gelu(self.fc(x)))) + x)


class BertMLM(nn.Module):
    def __init__(self, V, L, C, NH, P=512, p=0.1):
        super().__init__()
        self.we, self.pe, self.te = nn.Embedding(V, C, padding_idx=0), nn.Embedding(P, C), nn.Embedding(2, C)
        self.ln = nn.LayerNorm(C, eps=1e-12)
        self.drop = nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(C, NH, 4 * C, p) for _ in range(L)])
        self.t = nn.Linear(C, C)
        self.tln = nn.LayerNorm(C, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(V))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, types, mask, labels):
        B, T = ids.shape
        pos = torch.arange(T).unsqueeze(0)
        x = self.drop(self.ln(self.we(ids) + self.pe(pos) + self.te(types)))
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, bias)
        sel = labels != -100
        h = self.tln(F.gelu(self.t(x[sel])))
        logits = h @ self.we.weight.t() + self.bias
        return F.cross_entropy(logits, labels[sel])


def run(threads, args):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    L, C, NH = PRESETS[args.preset]
    model = BertMLM(args.vocab, L, C, NH)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": nodecay, "weight_decay": 0.0}], lr=1e-4)
    B, T = args.batch, args.seq
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, args.vocab, (B, T), generator=g)
    types = torch.zeros(B, T, dtype=torch.long)
    mask = torch.ones(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    chosen = torch.rand(B, T, generator=g) < 0.15
    labels[chosen] = ids[chosen]
    ids[chosen] = 4
    for step in range(args.steps + 2):
        if step == 2:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = model(ids, types, mask, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    dt = (time.perf_counter() - t0) / args.steps
    return B * T / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bert-mini")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--vocab", type=int, default=8192)
    args = ap.parse_args()
    best = 0.0
    for threads in (1, 2):
        tps = run(threads, args)
        print(f"  pytorch {torch.__version__}, {threads} thread(s): {tps:10.0f} tokens/s", flush=True)
        best = max(best, tps)
    print(f"RESULT tokens_per_s={best:.1f}")


if __name__ == "__main__":
    main()
