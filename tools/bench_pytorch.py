#!/usr/bin/env python3
"""The BENCH.md workloads in PyTorch, for the side-by-side table of the bench example.

    python3 tools/bench_pytorch.py > pytorch.jsonl
    cargo run --release --example bench -- --pytorch pytorch.jsonl

Prints one JSON object per workload with the same names and fields as
`cargo run --release --example bench -- --json`: conv shapes (fwd_ms, fwd_bwd_ms, where the
backward is dX + dW + db as in wgcnn's bench) and whole training steps at batch 64
(ms_per_step, images_per_s; SGD with momentum 0.9 and weight decay 5e-4, softmax
cross-entropy), and ImageNet inference at 224 x 224, batch 8, eval mode (ms_per_batch,
images_per_s; torchvision's models, timm's legacy_xception when timm is installed). Times are wall-clock medians after a warm-up, fp32, on the device given by
--device (default cpu, with torch's default thread count unless --threads).
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name, N, Cin, H=W, Cout, k, stride, pad, dilation, groups (BENCH.md)
CONV = [
    ("lenet_c1", 64, 1, 32, 6, 5, 1, 0, 1, 1),
    ("lenet_c3", 64, 6, 14, 16, 5, 1, 0, 1, 1),
    ("cifar_c1", 64, 3, 32, 32, 3, 1, 1, 1, 1),
    ("vgg_c2", 64, 64, 32, 64, 3, 1, 1, 1, 1),
    ("resnet_s2", 64, 64, 32, 128, 3, 2, 1, 1, 1),
    ("resnet_1x1", 64, 256, 8, 64, 1, 1, 0, 1, 1),
    ("stem_7x7", 16, 3, 224, 64, 7, 2, 3, 1, 1),
    ("depthwise", 64, 128, 16, 128, 3, 1, 1, 1, 128),
    ("dilated", 16, 32, 64, 32, 3, 1, 2, 2, 1),
]


def timed(fn, runs, sync):
    fn()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def simple_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


def resnet20():
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, width in enumerate([16, 32, 64]):
        for i in range(3):
            layers.append(Basic(cin, width, 2 if stage > 0 and i == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def vgg11():
    layers, cin = [], 3
    for c in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if c == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU()]
            cin = c
    layers += [nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


TRAIN = [("lenet5", lenet5, (1, 32, 32)), ("simple_cnn", simple_cnn, (3, 32, 32)),
         ("resnet20", resnet20, (3, 32, 32)), ("vgg11", vgg11, (3, 32, 32))]


def infer_models():
    """ImageNet inference at 224 x 224, batch 8 (torchvision; Xception from timm if installed)."""
    import torchvision
    models = [("resnet50_224", torchvision.models.resnet50),
              ("mobilenet_v2_224", torchvision.models.mobilenet_v2),
              ("vgg19_224", torchvision.models.vgg19)]
    try:
        import timm
        models.insert(2, ("xception_224", lambda: timm.create_model("legacy_xception")))
    except ImportError:
        pass
    return models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    label = f"PyTorch {torch.__version__} {dev.type}, {torch.get_num_threads()} threads"
    torch.manual_seed(0)
    for name, n, cin, hw, cout, k, s, p, d, g in CONV:
        x = torch.randn(n, cin, hw, hw, device=dev, requires_grad=True)
        w = torch.randn(cout, cin // g, k, k, device=dev, requires_grad=True)
        b = torch.randn(cout, device=dev, requires_grad=True)
        conv = lambda: F.conv2d(x, w, b, s, p, d, g)
        with torch.no_grad():
            fwd = timed(conv, args.runs, sync)
        dy = torch.randn_like(conv())

        def train():
            x.grad = w.grad = b.grad = None
            conv().backward(dy)

        both = timed(train, args.runs, sync)
        print(json.dumps({"workload": name, "adapter": label, "fwd_ms": round(fwd, 3),
                          "fwd_bwd_ms": round(both, 3)}), flush=True)
    for name, build, shape in TRAIN:
        model = build().to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(64, *shape, device=dev)
        y = torch.arange(64, device=dev) % 10

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        ms = timed(step, args.runs, sync)
        print(json.dumps({"workload": name, "adapter": label, "ms_per_step": round(ms, 3),
                          "images_per_s": round(64 / ms * 1e3, 1)}), flush=True)
    for name, build in infer_models():
        model = build().to(dev).eval()
        x = torch.randn(8, 3, 224, 224, device=dev)
        with torch.no_grad():
            ms = timed(lambda: model(x), args.runs, sync)
        print(json.dumps({"workload": name, "adapter": label, "ms_per_batch": round(ms, 3),
                          "images_per_s": round(8 / ms * 1e3, 2)}), flush=True)


if __name__ == "__main__":
    main()
