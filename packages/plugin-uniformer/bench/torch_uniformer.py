"""PyTorch side of `pnpm bench` in @tessera/plugin-uniformer: UniFormer-S (uniformer_small:
depths 3-4-8-3, widths 64-128-320-512, head_dim 64, MLP 4x, patch stems) written out in
plain torch.nn here, timed the way bench/run.mjs times the Tessera model: median
after warm-up of one AdamW training step (forward, cross-entropy, backward, update)
and of an eval-mode forward pass, at the image sizes and batches given.
Prints one JSON line. Exits non-zero (and the bench skips it) when torch is missing."""
import argparse, json, os, sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))
from torch_reference import loaded_blas, train_and_infer  # noqa: E402

# Debian's torch starts with one intra-op thread here; use every core, as the PyTorch anchors did.
torch.set_num_threads(os.cpu_count() or 1)

p = argparse.ArgumentParser()
p.add_argument('--reps', type=int, default=3)
p.add_argument('--warmup', type=int, default=1)
p.add_argument('--cases', default='32:64:10,224:4:1000', help='imgSize:batch:classes,...')
a = p.parse_args()


def dw(c, k):
    return nn.Conv2d(c, c, k, padding=k // 2, groups=c)


class Local(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pos, self.bn1, self.bn2 = dw(c, 3), nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.rel = nn.Sequential(nn.Conv2d(c, c, 1), dw(c, 5), nn.Conv2d(c, c, 1))
        self.mlp = nn.Sequential(nn.Conv2d(c, 4 * c, 1), nn.GELU(), nn.Conv2d(4 * c, c, 1))

    def forward(self, x):
        x = x + self.pos(x)
        x = x + self.rel(self.bn1(x))
        return x + self.mlp(self.bn2(x))


class Global(nn.Module):
    def __init__(self, c, head_dim=64):
        super().__init__()
        self.h = c // head_dim
        self.pos = dw(c, 3)
        self.ln1, self.ln2 = nn.LayerNorm(c, eps=1e-6), nn.LayerNorm(c, eps=1e-6)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

    def forward(self, x):
        x = x + self.pos(x)
        b, c, hh, ww = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.ln1(t)).reshape(b, -1, 3, self.h, c // self.h).permute(2, 0, 3, 1, 4)
        attn = ((q * (c // self.h) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        t = t + self.proj((attn @ v).transpose(1, 2).reshape(b, -1, c))
        t = t + self.mlp(self.ln2(t))
        return t.transpose(1, 2).reshape(b, c, hh, ww)


class Embed(nn.Module):
    def __init__(self, cin, cout, p):
        super().__init__()
        self.proj, self.norm = nn.Conv2d(cin, cout, p, p), nn.LayerNorm(cout)

    def forward(self, x):
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class UniFormerS(nn.Module):
    def __init__(self, classes, depths=(3, 4, 8, 3), dims=(64, 128, 320, 512)):
        super().__init__()
        layers, cin = [], 3
        for i, (d, c) in enumerate(zip(depths, dims)):
            layers.append(Embed(cin, c, 4 if i == 0 else 2))
            layers += [(Local if i < 2 else Global)(c) for _ in range(d)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.norm, self.head = nn.BatchNorm2d(dims[-1]), nn.Linear(dims[-1], classes)

    def forward(self, x):
        return self.head(self.norm(self.features(x)).flatten(2).mean(-1))


runs = []
for spec in a.cases.split(','):
    size, batch, classes = (int(v) for v in spec.split(':'))
    torch.manual_seed(0)
    model = UniFormerS(classes)
    timings = train_and_infer(model, img=size, classes=classes, train_batch=batch, infer_batch=batch, reps=a.reps, warmup=a.warmup)
    runs.append({
        'imgSize': size, 'batch': batch, 'numClasses': classes, 'params': sum(p.numel() for p in model.parameters()),
        **timings,
    })

print(json.dumps({'torch': torch.__version__, 'blas': loaded_blas(), 'threads': torch.get_num_threads(), 'runs': runs}))
