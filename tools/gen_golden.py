#!/usr/bin/env python3
"""Writes conv2d golden cases in the format of GOLDEN_FORMAT.md, computed by PyTorch in float64.

    python3 tools/gen_golden.py tests/golden

Inputs are drawn from U(-1, 1) with a fixed seed and rounded to f32; the op runs in float64 on
exactly those values; outputs are rounded to f32. Backward outputs are the gradients of
L = sum(y * dy) for a random dy. Requires torch and numpy (pip install torch numpy).
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

# name, N, C_in, H, W, C_out, kernel, stride, padding [t,b,l,r] or "same_tf", dilation, groups, bias
CASES = [
    ("conv_k3_s1_same", 2, 3, 9, 9, 4, (3, 3), (1, 1), [1, 1, 1, 1], (1, 1), 1, True),
    ("conv_k3_s2_p1", 3, 4, 13, 11, 6, (3, 3), (2, 2), [1, 1, 1, 1], (1, 1), 1, True),
    ("conv_k5_valid", 2, 2, 12, 10, 5, (5, 5), (1, 1), [0, 0, 0, 0], (1, 1), 1, False),
    ("conv_k1_pointwise", 2, 19, 5, 7, 21, (1, 1), (1, 1), [0, 0, 0, 0], (1, 1), 1, True),
    ("conv_k7_s2_p3_stem", 1, 3, 23, 21, 8, (7, 7), (2, 2), [3, 3, 3, 3], (1, 1), 1, True),
    ("conv_k3_d2_p2", 2, 3, 11, 12, 4, (3, 3), (1, 1), [2, 2, 2, 2], (2, 2), 1, True),
    ("conv_groups3", 2, 6, 8, 9, 9, (3, 3), (1, 1), [1, 1, 1, 1], (1, 1), 3, True),
    ("conv_depthwise", 2, 5, 10, 10, 5, (3, 3), (1, 1), [1, 1, 1, 1], (1, 1), 5, True),
    ("conv_depthwise_mult2_s2", 1, 4, 9, 11, 8, (3, 3), (2, 2), [1, 1, 1, 1], (1, 1), 4, False),
    ("conv_same_tf_s2_even", 2, 3, 10, 8, 4, (3, 3), (2, 2), "same_tf", (1, 1), 1, True),
    ("conv_same_tf_k4_s3", 1, 2, 11, 13, 3, (4, 4), (3, 3), "same_tf", (1, 1), 1, True),
    ("conv_nonsquare_k2x5_s2x1", 2, 3, 9, 12, 5, (2, 5), (2, 1), [1, 1, 2, 2], (1, 1), 1, True),
    ("conv_batch1_out1x1", 1, 4, 5, 5, 3, (5, 5), (1, 1), [0, 0, 0, 0], (1, 1), 1, True),
    ("conv_long_reduction", 2, 64, 6, 6, 10, (3, 3), (1, 1), [1, 1, 1, 1], (1, 1), 1, True),
    ("conv_dilation_2x3_s3", 2, 2, 15, 16, 3, (3, 2), (3, 1), [2, 0, 1, 3], (2, 3), 1, True),
    ("conv_k6_p0_s3_asym", 1, 3, 14, 17, 7, (6, 4), (3, 2), [0, 2, 1, 0], (1, 1), 1, False),
]


def out_size(size, pad, k, s, d):
    return (size + pad - d * (k - 1) - 1) // s + 1


def same_tf(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def write(folder, name, arr):
    np.asarray(arr, dtype="<f4").tofile(os.path.join(folder, name + ".f32"))


def entry(name, arr, role, layout, f32_err=None):
    e = {"name": name, "file": name + ".f32", "role": role, "shape": list(arr.shape), "layout": layout}
    if role == "output":
        e["max_abs"] = float(np.abs(arr).max()) if arr.size else 0.0
        e["torch_f32_max_abs_err"] = f32_err
    return e


def run(x, w, b, dy, pads, stride, dilation, groups):
    """y and the gradients of sum(y*dy), in the dtype of the inputs."""
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    b = None if b is None else b.clone().requires_grad_(True)
    t, btm, l, r = pads
    y = F.conv2d(F.pad(x, (l, r, t, btm)), w, b, stride=stride, padding=0, dilation=dilation, groups=groups)
    (y * dy).sum().backward()
    return y.detach(), x.grad, w.grad, None if b is None else b.grad


def main(out_dir):
    rng = np.random.default_rng(20261127)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    manifest = []
    for name, n, c_in, h, w_, c_out, k, s, pad, d, groups, bias in CASES:
        kind = "same_tf" if pad == "same_tf" else None
        if pad == "same_tf":
            pt, pb = same_tf(h, k[0], s[0], d[0])
            pl, pr = same_tf(w_, k[1], s[1], d[1])
            pad = [pt, pb, pl, pr]
        elif pad == [0, 0, 0, 0]:
            kind = "valid"
        elif s == (1, 1) and pad[0] == pad[1] == pad[2] == pad[3] and all(
                2 * pad[0] == d_ * (k_ - 1) for k_, d_ in zip(k, d)):
            kind = "same"
        else:
            kind = "explicit"
        h_out = out_size(h, pad[0] + pad[1], k[0], s[0], d[0])
        w_out = out_size(w_, pad[2] + pad[3], k[1], s[1], d[1])
        u = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)
        x, wt = u(n, c_in, h, w_), u(c_out, c_in // groups, *k)
        bv = u(c_out) if bias else None
        dy = u(n, c_out, h_out, w_out)
        t64 = lambda a: None if a is None else torch.from_numpy(a).double()
        t32 = lambda a: None if a is None else torch.from_numpy(a)
        gold = run(t64(x), t64(wt), t64(bv), t64(dy), pad, s, d, groups)
        f32 = run(t32(x), t32(wt), t32(bv), t32(dy), pad, s, d, groups)
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr, layout in [("x", x, "NCHW"), ("w", wt, "OIHW"), ("b", bv, "C"), ("dy", dy, "NCHW")]:
            if arr is not None:
                write(folder, tname, arr)
                tensors.append(entry(tname, arr, "input", layout))
        for tname, g64, g32, layout in zip(["y", "dx", "dw", "db"], gold, f32, ["NCHW", "NCHW", "OIHW", "C"]):
            if g64 is None:
                continue
            arr = g64.numpy().astype(np.float32)
            err = float((g32.double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", layout, err))
        manifest.append({
            "name": name,
            "op": "conv2d",
            "params": {
                "N": n, "C_in": c_in, "H": h, "W": w_, "C_out": c_out, "kernel": list(k), "stride": list(s),
                "padding": pad, "pad_kind": kind, "dilation": list(d), "groups": groups, "bias": bias,
                "H_out": h_out, "W_out": w_out, "reduction_len": c_in // groups * k[0] * k[1],
            },
            "tensors": tensors,
        })
    doc = {
        "format_version": 1,
        "framework": f"torch {torch.__version__} (CPU, float64 compute)",
        "numpy": np.__version__,
        "dtype": "f32", "byte_order": "little", "array_order": "C (row-major, last index fastest)",
        "num_cases": len(manifest),
        "cases": manifest,
    }
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {len(manifest)} cases to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden")
