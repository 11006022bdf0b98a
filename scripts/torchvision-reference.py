#!/usr/bin/python3
"""Writes the state-dict keys, shapes and parameter counts of torchvision's segmentation models (and the backbones
TorchSeg mirrors) to Data/Networks/*.txt, for the TorchSegNetworks tests.

Run with Debian's python3-torch 1.13 and python3-torchvision 0.14:  /usr/bin/python3 scripts/torchvision-reference.py
No weights are downloaded (weights=None, weights_backbone=None).

File format: '#' comment lines (the call, the torchvision version, "# parameters N" = trainable parameter count),
then one line per state-dict entry: the key followed by its shape, space separated (a scalar has no shape).
"""
import os
import sys

import torch
import torchvision
from torchvision import models
from torchvision.models import segmentation


def write(name, call, model, prefix="", skip=()):
    path = os.path.join(OUT, name + ".txt")
    state = model.state_dict()
    keys = [k for k in state if not any(k.startswith(s) for s in skip)]
    count = sum(p.numel() for n, p in model.named_parameters() if not any(n.startswith(s) for s in skip))
    with open(path, "w") as f:
        f.write(f"# {call}\n")
        f.write(f"# torchvision {torchvision.__version__}, torch {torch.__version__}\n")
        f.write(f"# parameters {count}\n")
        for k in keys:
            f.write(" ".join([prefix + k] + [str(s) for s in state[k].shape]) + "\n")
    print(f"{path}: {len(keys)} entries, {count} parameters")


OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Data", "Networks")
os.makedirs(OUT, exist_ok=True)

for aux in (False, True):
    suffix = "_aux" if aux else ""
    call = f"fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss={aux})"
    write("fcn_resnet50" + suffix, call,
          segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=aux))
    call = f"deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss={aux})"
    write("deeplabv3_resnet50" + suffix, call,
          segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=aux))
write("fcn_resnet101", "fcn_resnet101(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)",
      segmentation.fcn_resnet101(weights=None, weights_backbone=None, num_classes=21, aux_loss=False))
# Backbones without their classification layers, with the prefix they have inside a segmentation network.
for depth in (18, 34):
    write(f"resnet{depth}_backbone", f"resnet{depth}(weights=None) without fc, keys prefixed with 'backbone.'",
          getattr(models, f"resnet{depth}")(weights=None), prefix="backbone.", skip=("fc.",))
write("vgg16_bn_backbone", "vgg16_bn(weights=None).features, keys prefixed with 'backbone.features.'",
      models.vgg16_bn(weights=None).features, prefix="backbone.features.")
sys.exit(0)
