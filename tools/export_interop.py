#!/usr/bin/env python3
"""Logits of torchvision and timm models whose every parameter and buffer comes from a formula
of its name, in float64, for `tests/interop.rs`: the test fills the zoo model with the same
formula (under timm's names it writes a state dict and loads it through the name mapping) and
compares. CI needs no PyTorch: only the small JSON this writes is committed.

    pip install torch torchvision timm
    python3 tools/export_interop.py tests/interop/logits.json

The formula (the test has its twin): for a tensor named `n` with `k` elements, `h` = FNV-1a
64 of `n`'s bytes, `p = (h % 1000) / 1000`, `s_i = sin(2.399963·i + 1.3 + 2π·p)` (a golden-angle
step: unlike a smooth one, it keeps deep ResNets well conditioned in f32), and
- weights of two or more axes: `s_i / sqrt(k / shape[0])`;
- one-axis weights (batch-norm scales): `1 + 0.2·s_i`; biases: `0.1·s_i`;
- running means: `0.1·s_i`; running variances: `1 + 0.25·s_i`;
each rounded to f32. The input is `sin(0.1·i)` over `[2, 3, 64, 64]`, rounded to f32.
"""

import json
import math
import sys
import warnings

import torch

warnings.simplefilter("ignore")
import timm  # noqa: E402
import torchvision  # noqa: E402

SIZE, CLASSES = 64, 10

# name, constructor, names (the ones the zoo uses, or timm's)
MODELS = [
    ("resnet18", lambda: torchvision.models.resnet18(num_classes=CLASSES), "zoo"),
    ("resnet50", lambda: torchvision.models.resnet50(num_classes=CLASSES), "zoo"),
    ("resnet101", lambda: torchvision.models.resnet101(num_classes=CLASSES), "zoo"),
    ("resnet152", lambda: torchvision.models.resnet152(num_classes=CLASSES), "zoo"),
    ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2(num_classes=CLASSES), "zoo"),
    ("googlenet", lambda: torchvision.models.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True), "zoo"),
    ("mobilenetv2_100", lambda: timm.create_model("mobilenetv2_100", num_classes=CLASSES), "timm"),
    # timm's legacy_xception already has the zoo's names.
    ("legacy_xception", lambda: timm.create_model("legacy_xception", num_classes=CLASSES), "zoo"),
    ("seresnet50", lambda: timm.create_model("seresnet50", num_classes=CLASSES), "zoo"),
]


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def formula(name, shape):
    k = math.prod(shape)
    p = (fnv1a(name) % 1000) / 1000
    i = torch.arange(k, dtype=torch.float64)
    s = torch.sin(2.399963 * i + 1.3 + 2 * math.pi * p)
    if name.endswith("running_mean"):
        v = 0.1 * s
    elif name.endswith("running_var"):
        v = 1 + 0.25 * s
    elif name.endswith("bias"):
        v = 0.1 * s
    elif len(shape) >= 2:
        v = s / math.sqrt(k / shape[0])
    else:
        v = 1 + 0.2 * s
    return v.float().double().reshape(shape)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/interop/logits.json"
    n = 2 * 3 * SIZE * SIZE
    x = torch.sin(0.1 * torch.arange(n, dtype=torch.float64)).float().double()
    x = x.reshape(2, 3, SIZE, SIZE)
    cases = {}
    for name, build, names in MODELS:
        m = build().double().eval()
        state = {}
        for key, t in m.state_dict().items():
            if key.endswith("num_batches_tracked"):
                state[key] = t
            else:
                state[key] = formula(key, list(t.shape))
        m.load_state_dict(state)
        with torch.no_grad():
            y = m(x)
        case = {"names": names, "logits": [float(v) for v in y.flatten()]}
        if names == "timm":
            # The test writes a state dict under these names and loads it through the mapping.
            case["tensors"] = [[k, list(t.shape)] for k, t in m.state_dict().items() if not k.endswith("num_batches_tracked")]
        cases[name] = case
        print(name, tuple(y.shape))
    meta = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "input": [2, 3, SIZE, SIZE],
        "classes": CLASSES,
    }
    with open(out, "w") as f:
        json.dump({"meta": meta, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
