#!/usr/bin/env python3
"""Exports torchvision and timm models (random weights, eval mode) and their outputs on a fixed input,
for `cargo run --release --example torchvision_check -- DIR`: the check that a safetensors
file written by PyTorch loads into wgcnn's zoo model of the same name and gives the same
logits.

    pip install torch torchvision timm safetensors
    python3 tools/export_torchvision.py /tmp/tv

timm models keep timm's parameter names (`conv_stem.weight` …); the check loads them through
the name mapping of `models::pretrained`. Without timm installed they are left out.

Writes DIR/<model>.safetensors (the state_dict, as `safetensors.torch.save_file` writes it)
and DIR/<model>.io.safetensors (`input` [n, 3, s, s], `logits` [n, classes]).
"""

import sys
import warnings

import torch
from safetensors.torch import save_file

warnings.simplefilter("ignore")
import torchvision  # noqa: E402

# name, constructor, input size, classes
MODELS = [
    ("resnet18", torchvision.models.resnet18, 64, 10),
    ("resnet34", torchvision.models.resnet34, 64, 10),
    ("resnet50", torchvision.models.resnet50, 64, 10),
    ("resnet101", torchvision.models.resnet101, 64, 10),
    ("resnet152", torchvision.models.resnet152, 64, 10),
    ("mobilenet_v2", torchvision.models.mobilenet_v2, 64, 10),
    # Inference layout: no auxiliary heads (torchvision runs them only in training).
    ("googlenet", lambda num_classes: torchvision.models.googlenet(num_classes=num_classes, aux_logits=False, init_weights=True), 64, 10),
    ("vgg19", torchvision.models.vgg19, 224, 10),
    ("vgg19_bn", torchvision.models.vgg19_bn, 224, 10),
    ("vgg11_bn", torchvision.models.vgg11_bn, 224, 10),
    ("alexnet", torchvision.models.alexnet, 224, 10),
]


# name, timm architecture, input size, classes
TIMM_MODELS = [
    ("mobilenetv2_100", "mobilenetv2_100", 64, 10),
    ("legacy_xception", "legacy_xception", 64, 10),
    ("seresnet50", "seresnet50", 64, 10),
]


def timm_models():
    try:
        import timm
    except ImportError:
        print("timm is not installed: its models are left out")
        return []
    return [
        (name, lambda num_classes, a=arch: timm.create_model(a, pretrained=False, num_classes=num_classes), size, classes)
        for name, arch, size, classes in TIMM_MODELS
    ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "torchvision"
    import os
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name, build, size, classes in MODELS + timm_models():
        m = build(num_classes=classes)
        # Non-trivial running statistics, so eval-mode batch norm is really exercised.
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.2, 0.2)
        m.eval()
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            y = m(x)
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, f"{out}/{name}.safetensors")
        save_file({"input": x, "logits": y}, f"{out}/{name}.io.safetensors")
        print(name, tuple(y.shape))


if __name__ == "__main__":
    main()
