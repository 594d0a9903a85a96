"""What the repository's PyTorch scripts share: the fixture generators (packages/*/test/fixtures)
and the PyTorch side of the benchmarks (packages/*/bench). Plain Python over torch; nothing here
is imported by a package, and no upstream code is vendored: the official modules are read from a
checkout at run time.

A script finds this module with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), <'..' up to the root>, 'tools'))
"""
import importlib.abc
import importlib.machinery
import statistics
import sys
import time
import types

import torch
from torch import nn


# ---------------------------------------------------------------------------------------------
# Importing upstream code without its unused dependencies
# ---------------------------------------------------------------------------------------------

class _StandIn(type):
    """Any attribute of a stand-in is a new, distinct stand-in (timm.data reads torchvision enums)."""

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


def stand_in_torchvision():
    """timm imports torchvision for its data pipeline, which no model code run here uses.
    Where torchvision is absent (Debian ships none next to python3-torch), an inert stand-in
    package answers those imports; where it is installed, it is used as it is."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        sys.meta_path.insert(0, _NoTorchvision())


def official_fan(fan_dir, timm_dir):
    """NVlabs/FAN's models package (fan, convnext_utils, swin_utils) on the timm 0.5.4 it pins."""
    stand_in_torchvision()
    sys.path.insert(0, timm_dir)
    sys.path.insert(0, fan_dir)
    import timm
    assert timm.__version__ == '0.5.4', f'FAN pins timm 0.5.4, got {timm.__version__}'
    import models.convnext_utils as convnext_utils
    import models.fan as fan
    import models.swin_utils as swin_utils
    return types.SimpleNamespace(fan=fan, convnext_utils=convnext_utils, swin_utils=swin_utils)


def _uniformer_timm_shim():
    """The five timm names Sense-X/UniFormer's uniformer.py imports, and nothing else."""

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


def official_uniformer(source, filename='uniformer.py'):
    """Executes the official image_classification/models/uniformer.py (its text) as a module, on the timm shim."""
    _uniformer_timm_shim()
    module = types.ModuleType('uniformer_official')
    exec(compile(source, filename, 'exec'), module.__dict__)
    return module


# ---------------------------------------------------------------------------------------------
# The benchmarks' PyTorch side
# ---------------------------------------------------------------------------------------------

def timed(fn, reps, warmup, sync=None):
    """Seconds of each of `reps` calls after `warmup` untimed ones (`sync` waits for a device)."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return times


def loaded_blas():
    """The BLAS libraries actually mapped into this process: Debian's torch links whichever
    libblas.so.3 the alternatives select, and the reference BLAS is ~30x slower than OpenBLAS
    (shared/docs/perf-anchors.md)."""
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if 'blas' in line}
        return sorted(q for q in paths if q.startswith('/'))
    except OSError:
        return []


def train_and_infer(model, *, img, classes, train_batch, infer_batch, reps, warmup, device='cpu', sync=None):
    """Times what `tessera train` and `predict` do: one AdamW step (lr 1e-3, weight decay 0.05) on
    label-smoothed (0.1) cross-entropy, and an eval-mode forward under no_grad. Returns the
    `train` and `infer` entries of the benchmark's JSON (median seconds, images/s, every time)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    xb = torch.randn(train_batch, 3, img, img, device=device)
    yb = torch.arange(train_batch, device=device) % classes
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        opt.zero_grad()
        loss = crit(model(xb), yb)
        loss.backward()
        opt.step()
        loss.item()

    model.train()
    train = timed(step, reps, warmup, sync)
    model.eval()
    xi = torch.randn(infer_batch, 3, img, img, device=device)
    with torch.no_grad():
        infer = timed(lambda: model(xi).sum().item(), reps, warmup, sync)
    return {
        'train': {'batch': train_batch, 'secondsPerStep': statistics.median(train), 'imagesPerSecond': train_batch / statistics.median(train), 'times': train},
        'infer': {'batch': infer_batch, 'secondsPerBatch': statistics.median(infer), 'imagesPerSecond': infer_batch / statistics.median(infer), 'times': infer},
    }
