"""PyTorch side of `pnpm bench` for the UniFormer and FAN rows: the official modules,
timed as torch_vit.py times its models (tools/torch_reference.py: median after warm-up, one
AdamW step with label-smoothed cross-entropy; inference under no_grad). Prints one JSON line.

The official sources are read at run time, never vendored:
  --uniformer FILE   Sense-X/UniFormer image_classification/models/uniformer.py. timm is
                     not needed: the five timm names it imports come from a small shim
                     (trunc_normal_, to_2tuple, DropPath, register_model, _cfg) in
                     tools/torch_reference.py, which the UniFormer fixtures use too.
  --fan DIR --timm DIR
                     NVlabs/FAN (the folder holding models/fan.py) and the timm 0.5.4
                     source FAN pins (the folder holding the `timm` package); torchvision,
                     which timm.data imports and FAN's models never use, gets a stand-in.
Architectures: uniformer_small (the official factory) and fan_tiny_p4 (FAN-ViT-Tiny's
width, depth and heads with ConvPatchEmbed patch 4, which fan.py supports, for 32 px)."""
import argparse, json, os, sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))
from torch_reference import loaded_blas, official_fan, official_uniformer, train_and_infer  # noqa: E402

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

if a.arch == 'uniformer_small':
    if not a.uniformer:
        raise SystemExit('--uniformer is required for uniformer_small')
    with open(a.uniformer) as f:
        U = official_uniformer(f.read(), a.uniformer)
    model = U.uniformer_small(img_size=a.img, num_classes=a.classes)
else:
    if not (a.fan and a.timm):
        raise SystemExit('--fan and --timm are required for fan_tiny_p4')
    fan = official_fan(a.fan, a.timm).fan

    depth = 12
    model = fan.FAN(patch_size=4, embed_dim=192, depth=depth, num_heads=4, eta=1.0, tokens_norm=True, sharpen_attn=False,
                    img_size=a.img, num_classes=a.classes, sr_ratio=[1] * depth)


torch.manual_seed(0)
timings = train_and_infer(model, img=a.img, classes=a.classes, train_batch=a.train_batch, infer_batch=a.infer_batch, reps=a.reps, warmup=a.warmup)
print(json.dumps({
    'torch': torch.__version__,
    'blas': loaded_blas(),
    'threads': torch.get_num_threads(),
    'arch': a.arch,
    'params': sum(q.numel() for q in model.parameters()),
    'device': 'cpu',
    **timings,
}))
