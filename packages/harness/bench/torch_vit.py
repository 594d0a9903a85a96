"""PyTorch side of `pnpm bench`: the DeiT-Tiny-sized ViT of bench/run.mjs (32x32, patch 4,
width 192, 12 blocks, 3 heads, MLP 4x, exact GELU, pre-norm, 10 classes), timed the same
way (median after warm-up) for one AdamW training step at batch 32 and inference at batch 64.
Prints one JSON line. Exits non-zero (and the bench skips it) when torch is missing."""
import argparse, json, os, sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))
from torch_reference import loaded_blas, train_and_infer  # noqa: E402

# Debian's torch starts with one intra-op thread here; use every core, as the
# PyTorch anchors in shared/docs/perf-anchors.md did.
torch.set_num_threads(os.cpu_count() or 1)

p = argparse.ArgumentParser()
p.add_argument('--reps', type=int, default=5)
p.add_argument('--warmup', type=int, default=2)
# Defaults: the DeiT-Tiny-sized model of bench/run.mjs. bench/gpu.mjs passes DeiT-Small's.
p.add_argument('--img', type=int, default=32)
p.add_argument('--patch', type=int, default=4)
p.add_argument('--dim', type=int, default=192)
p.add_argument('--depth', type=int, default=12)
p.add_argument('--heads', type=int, default=3)
p.add_argument('--classes', type=int, default=10)
p.add_argument('--train-batch', type=int, default=32)
p.add_argument('--infer-batch', type=int, default=64)
p.add_argument('--device', default='cpu', help="'cuda' exits with status 2 when CUDA is unavailable")
p.add_argument('--arch', default='vit', choices=['vit', 't2t_vit_7'], help='t2t_vit_7: T2T-ViT-7 at --img (224), 1000 classes')
a = p.parse_args()
if a.device == 'cuda' and not torch.cuda.is_available():
    raise SystemExit(2)
dev = torch.device(a.device)


def sync():
    if dev.type == 'cuda':
        torch.cuda.synchronize()


class Block(nn.Module):
    def __init__(self, d, h, mlp=4, qkv_bias=True):
        super().__init__()
        self.h = h
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d, bias=qkv_bias)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp * d), nn.GELU(), nn.Linear(mlp * d, d))

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.h, c // self.h).permute(2, 0, 3, 1, 4)
        attn = ((q * (c // self.h) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, img=32, patch=4, d=192, depth=12, heads=3, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, patch)
        n = (img // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, d))
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


class TokenPerformer(nn.Module):
    """T2T-ViT's token performer (Yuan et al. 2021, section 3.1 with Performer attention):
    single-head attention through m = dim/2 positive random features, skip connection
    through v (the width changes), then a residual MLP. Written for the benchmark from
    the paper's description; the shapes and parameter count are T2T-ViT-7's."""

    def __init__(self, dim, out, ratio=0.5, drop=0.1):
        super().__init__()
        self.m = int(out * ratio)
        self.kqv = nn.Linear(dim, 3 * out)
        self.proj = nn.Linear(out, out)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(out)
        self.drop = nn.Dropout(drop)
        self.mlp = nn.Sequential(nn.Linear(out, out), nn.GELU(), nn.Linear(out, out), nn.Dropout(drop))
        self.w = nn.Parameter(nn.init.orthogonal_(torch.randn(self.m, out)) * self.m ** 0.5, requires_grad=False)

    def features(self, x):
        return torch.exp(x @ self.w.t() - (x * x).sum(-1, keepdim=True) / 2) / self.m ** 0.5

    def forward(self, x):
        k, q, v = self.kqv(self.norm1(x)).chunk(3, dim=-1)
        kp, qp = self.features(k), self.features(q)
        d = qp @ kp.sum(1).unsqueeze(-1)
        y = (qp @ (kp.transpose(1, 2) @ v)) / (d + 1e-8)
        y = v + self.drop(self.proj(y))
        return y + self.mlp(self.norm2(y))


class T2TViT7(nn.Module):
    """T2T-ViT-7: soft splits 7/4, 3/2, 3/2 with token performers (width 64), then 7
    blocks of width 256, 4 heads, MLP 2x, sinusoidal position table (not trained)."""

    def __init__(self, img=224, classes=1000, d=256, depth=7, heads=4):
        super().__init__()
        self.splits = nn.ModuleList([nn.Unfold(7, stride=4, padding=2), nn.Unfold(3, stride=2, padding=1), nn.Unfold(3, stride=2, padding=1)])
        self.attention1 = TokenPerformer(3 * 49, 64)
        self.attention2 = TokenPerformer(64 * 9, 64)
        self.project = nn.Linear(64 * 9, d)
        n = (img // 16) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        pos = torch.arange(n + 1).unsqueeze(1) / torch.pow(10000, 2 * (torch.arange(d) // 2) / d)
        pos[:, 0::2], pos[:, 1::2] = torch.sin(pos[:, 0::2]), torch.cos(pos[:, 1::2])
        # A frozen Parameter, as in the official model, so parameter counts compare.
        self.pos = nn.Parameter(pos.unsqueeze(0), requires_grad=False)
        self.blocks = nn.Sequential(*[Block(d, heads, mlp=2, qkv_bias=False) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        b = x.shape[0]
        x = self.attention1(self.splits[0](x).transpose(1, 2))
        side = int(x.shape[1] ** 0.5)
        x = self.attention2(self.splits[1](x.transpose(1, 2).reshape(b, 64, side, side)).transpose(1, 2))
        side = int(x.shape[1] ** 0.5)
        x = self.project(self.splits[2](x.transpose(1, 2).reshape(b, 64, side, side)).transpose(1, 2))
        x = torch.cat([self.cls.expand(b, -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


torch.manual_seed(0)
model = (T2TViT7(a.img, a.classes) if a.arch == 't2t_vit_7' else ViT(a.img, a.patch, a.dim, a.depth, a.heads, a.classes)).to(dev)
timings = train_and_infer(model, img=a.img, classes=a.classes, train_batch=a.train_batch, infer_batch=a.infer_batch,
                          reps=a.reps, warmup=a.warmup, device=dev, sync=sync)
print(json.dumps({
    'torch': torch.__version__,
    'blas': loaded_blas(),
    'threads': torch.get_num_threads(),
    'arch': a.arch,
    'params': sum(p.numel() for p in model.parameters()),
    'device': torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu',
    **timings,
}))
