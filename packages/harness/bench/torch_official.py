"""PyTorch side of `pnpm bench` for the UniFormer and FAN rows: the official modules,
timed as torch_vit.py times its models (median after warm-up, one AdamW step with
label-smoothed cross-entropy; inference under no_grad). Prints one JSON line.

The official sources are read at run time, never vendored:
  --uniformer FILE   Sense-X/UniFormer image_classification/models/uniformer.py. timm is
                     not needed: the five timm names it imports come from a small shim
                     (trunc_normal_, to_2tuple, DropPath, register_model, _cfg), as in
                     packages/plugin-uniformer/test/fixtures/make_fixtures.py.
  --fan DIR --timm DIR
                     NVlabs/FAN (the folder holding models/fan.py) and the timm 0.5.4
                     source FAN pins (the folder holding the `timm` package); torchvision,
                     which timm.data imports and FAN's models never use, gets a stand-in.
Architectures: uniformer_small (the official factory) and fan_tiny_p4 (FAN-ViT-Tiny's
width, depth and heads with ConvPatchEmbed patch 4, which fan.py supports, for 32 px)."""
import argparse, importlib.abc, importlib.machinery, json, os, statistics, sys, time, types
from functools import partial

import torch
from torch import nn

torch.set_num_threads(os.cpu_count() or 1)

p = argparse.ArgumentParser()
p.add_argument('--arch', required=True, choices=['uniformer_small', 'fan_tiny_p4'])
p.add_argument('--uniformer')
p.add_argument('--fan')
p.add_argument('--timm')
p.add_argument('--img', type=int, default=32)
p.add_argument('--classes', type=int, default=10)
p.add_argument('--train-batch', type=int, default=32)
p.add_argument('--infer-batch', type=int, default=64)
p.add_argument('--reps', type=int, default=5)
p.add_argument('--warmup', type=int, default=2)
a = p.parse_args()


def uniformer_module(path):
    class DropPath(nn.Module):
        def __init__(self, p=0.0):
            super().__init__()
            self.p = p

        def forward(self, x):
            if self.p == 0.0 or not self.training:
                return x
            keep = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device) >= self.p
            return x * keep / (1 - self.p)

    mods = {n: types.ModuleType(n) for n in ['timm', 'timm.models', 'timm.models.vision_transformer', 'timm.models.registry', 'timm.models.layers']}
    mods['timm.models.vision_transformer']._cfg = lambda **kw: dict(kw)
    mods['timm.models.registry'].register_model = lambda f: f
    mods['timm.models.layers'].trunc_normal_ = nn.init.trunc_normal_
    mods['timm.models.layers'].DropPath = DropPath
    mods['timm.models.layers'].to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    sys.modules.update(mods)
    module = types.ModuleType('uniformer_official')
    with open(path) as f:
        exec(compile(f.read(), path, 'exec'), module.__dict__)
    return module


class _StandIn(type):
    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        sub = _StandIn(name, (), {})
        setattr(cls, name, sub)
        return sub


class _StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        sub = _StandIn(name, (), {})
        setattr(self, name, sub)
        return sub


class _NoTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == 'torchvision' or name.startswith('torchvision.'):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandInModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


if a.arch == 'uniformer_small':
    if not a.uniformer:
        raise SystemExit('--uniformer is required for uniformer_small')
    U = uniformer_module(a.uniformer)
    model = U.uniformer_small(img_size=a.img, num_classes=a.classes)
else:
    if not (a.fan and a.timm):
        raise SystemExit('--fan and --timm are required for fan_tiny_p4')
    sys.meta_path.insert(0, _NoTorchvision())
    sys.path.insert(0, a.timm)
    sys.path.insert(0, a.fan)
    import models.fan as fan  # noqa: E402

    depth = 12
    model = fan.FAN(patch_size=4, embed_dim=192, depth=depth, num_heads=4, eta=1.0, tokens_norm=True, sharpen_attn=False,
                    img_size=a.img, num_classes=a.classes, sr_ratio=[1] * depth)


def timed(fn):
    for _ in range(a.warmup):
        fn()
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


torch.manual_seed(0)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
xb, yb = torch.randn(a.train_batch, 3, a.img, a.img), torch.arange(a.train_batch) % a.classes
crit = nn.CrossEntropyLoss(label_smoothing=0.1)


def step():
    opt.zero_grad()
    loss = crit(model(xb), yb)
    loss.backward()
    opt.step()
    loss.item()


train = timed(step)
model.eval()
xi = torch.randn(a.infer_batch, 3, a.img, a.img)
with torch.no_grad():
    infer = timed(lambda: model(xi).sum().item())


def loaded_blas():
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if 'blas' in line}
        return sorted(q for q in paths if q.startswith('/'))
    except OSError:
        return []


print(json.dumps({
    'torch': torch.__version__,
    'blas': loaded_blas(),
    'threads': torch.get_num_threads(),
    'arch': a.arch,
    'params': sum(q.numel() for q in model.parameters()),
    'device': 'cpu',
    'train': {'batch': a.train_batch, 'secondsPerStep': statistics.median(train), 'imagesPerSecond': a.train_batch / statistics.median(train), 'times': train},
    'infer': {'batch': a.infer_batch, 'secondsPerBatch': statistics.median(infer), 'imagesPerSecond': a.infer_batch / statistics.median(infer), 'times': infer},
}))
