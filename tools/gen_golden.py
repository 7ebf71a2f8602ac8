#!/usr/bin/env python3
"""Writes golden cases (conv2d, max/avg/adaptive pooling, relu, linear, softmax cross-entropy,
SGD/Adam/AdamW steps, batch norm, transposed conv) in the format of GOLDEN_FORMAT.md,
computed by PyTorch in float64.

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


# name, N, C, H, W, kernel, stride, pad (symmetric h, w), dilation, ceil_mode, ties
MAX_POOL = [
    ("maxpool_k2_s2", 2, 3, 8, 10, (2, 2), (2, 2), (0, 0), (1, 1), False, False),
    ("maxpool_k2_s2_ties", 2, 3, 8, 8, (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ("maxpool_k3_s2_overlap_ties", 2, 2, 9, 11, (3, 3), (2, 2), (1, 1), (1, 1), False, True),
    ("maxpool_k3_s1_ties", 1, 2, 7, 6, (3, 3), (1, 1), (1, 1), (1, 1), False, True),
    ("maxpool_k3_s2_ceil", 2, 2, 10, 9, (3, 3), (2, 2), (0, 1), (1, 1), True, False),
    ("maxpool_k3_d2", 1, 3, 11, 12, (3, 3), (1, 2), (1, 1), (2, 2), False, False),
    ("maxpool_k2x3_s1x2", 2, 2, 7, 9, (2, 3), (1, 2), (1, 1), (1, 1), False, True),
]
# name, N, C, H, W, kernel, stride, pad, count_include_pad
AVG_POOL = [
    ("avgpool_k2_s2", 2, 3, 8, 10, (2, 2), (2, 2), (0, 0), True),
    ("avgpool_k3_s2_pad_included", 2, 2, 9, 11, (3, 3), (2, 2), (1, 1), True),
    ("avgpool_k3_s2_pad_excluded", 2, 2, 9, 11, (3, 3), (2, 2), (1, 1), False),
    ("avgpool_k3x2_s1", 1, 3, 7, 8, (3, 2), (1, 1), (1, 1), False),
]
# name, N, C, H, W, H_out, W_out
ADAPTIVE = [
    ("adaptive_7x9_to_3x4", 2, 3, 7, 9, 3, 4),
    ("adaptive_10x10_to_4x4", 1, 2, 10, 10, 4, 4),
    ("global_avgpool_8x6", 3, 4, 8, 6, 1, 1),
]


def pool_cases(rng, out_dir):
    """Max, average and adaptive pooling cases; backward is the gradient of sum(y * dy)."""
    cases = []
    u = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)

    def emit(name, op, params, x, fwd, outputs, layouts):
        xt = torch.from_numpy(x).double().requires_grad_(True)
        res = fwd(xt)
        y = res[0] if isinstance(res, tuple) else res
        dy = u(*y.shape)
        (y * torch.from_numpy(dy).double()).sum().backward()
        x32 = torch.from_numpy(x).requires_grad_(True)
        res32 = fwd(x32)
        y32 = res32[0] if isinstance(res32, tuple) else res32
        (y32 * torch.from_numpy(dy)).sum().backward()
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr in [("x", x), ("dy", dy)]:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "input", "NCHW"))
        got64 = {"y": y.detach(), "dx": xt.grad}
        got32 = {"y": y32.detach(), "dx": x32.grad}
        if isinstance(res, tuple):
            got64["idx"], got32["idx"] = res[1].double(), res32[1].double()
        for tname in outputs:
            arr = got64[tname].numpy().astype(np.float32)
            err = float((got32[tname].double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", layouts))
            tensors[-1]["torch_f32_max_abs_err"] = err
        params["H_out"], params["W_out"] = int(y.shape[2]), int(y.shape[3])
        cases.append({"name": name, "op": op, "params": params, "tensors": tensors})

    for name, n, c, h, w, k, s, pad, d, ceil, ties in MAX_POOL:
        x = (rng.integers(0, 9, size=(n, c, h, w)) * 0.25 - 1).astype(np.float32) if ties else u(n, c, h, w)
        params = {"N": n, "C": c, "H": h, "W": w, "kernel": list(k), "stride": list(s),
                  "padding": [pad[0], pad[0], pad[1], pad[1]], "dilation": list(d), "ceil_mode": ceil,
                  "input_has_ties": ties}
        fwd = lambda t, k=k, s=s, pad=pad, d=d, ceil=ceil: F.max_pool2d(
            t, k, s, pad, d, ceil_mode=ceil, return_indices=True)
        emit(name, "max_pool2d", params, x, fwd, ["y", "idx", "dx"], "NCHW")
    for name, n, c, h, w, k, s, pad, cip in AVG_POOL:
        params = {"N": n, "C": c, "H": h, "W": w, "kernel": list(k), "stride": list(s),
                  "padding": [pad[0], pad[0], pad[1], pad[1]], "count_include_pad": cip, "ceil_mode": False}
        fwd = lambda t, k=k, s=s, pad=pad, cip=cip: F.avg_pool2d(t, k, s, pad, count_include_pad=cip)
        emit(name, "avg_pool2d", params, u(n, c, h, w), fwd, ["y", "dx"], "NCHW")
    for name, n, c, h, w, ho, wo in ADAPTIVE:
        params = {"N": n, "C": c, "H": h, "W": w, "global_pool": ho == wo == 1}
        fwd = lambda t, ho=ho, wo=wo: F.adaptive_avg_pool2d(t, (ho, wo))
        emit(name, "adaptive_avg_pool2d", params, u(n, c, h, w), fwd, ["y", "dx"], "NCHW")
    return cases


def relu_cases(rng, out_dir):
    """ReLU with exact zeros of both signs: every 7th element +0.0, every 11th from 1 -0.0."""
    cases = []
    for name, shape in [("relu_nchw", (2, 3, 5, 7)), ("relu_nf", (9, 13))]:
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        flat = x.reshape(-1)
        flat[::7] = 0.0
        flat[1::11] = -0.0
        dy = rng.uniform(-1, 1, size=shape).astype(np.float32)
        xt = torch.from_numpy(x).double().requires_grad_(True)
        y = F.relu(xt)
        (y * torch.from_numpy(dy).double()).sum().backward()
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        layout = "NCHW" if len(shape) == 4 else "NF"
        tensors = []
        for tname, arr, role in [("x", x, "input"), ("dy", dy, "input"),
                                 ("y", y.detach().numpy().astype(np.float32), "output"),
                                 ("dx", xt.grad.numpy().astype(np.float32), "output")]:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, role, layout, 0.0))
        cases.append({"name": name, "op": "relu", "params": {"shape": list(shape)}, "tensors": tensors})
    return cases


def linear_cases(rng, out_dir):
    """Dense layers y = x @ w.T + b and the gradients of sum(y * dy)."""
    cases = []
    u = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)
    for name, n, fin, fout, bias in [("linear_64x100x10", 64, 100, 10, True), ("linear_3x7x5_nobias", 3, 7, 5, False),
                                    ("linear_16x512x33", 16, 512, 33, True)]:
        x, w, b, dy = u(n, fin), u(fout, fin), u(fout) if bias else None, u(n, fout)
        t64 = lambda a: None if a is None else torch.from_numpy(a).double().requires_grad_(True)
        t32 = lambda a: None if a is None else torch.from_numpy(a).requires_grad_(True)
        results = []
        for conv in (t64, t32):
            xt, wt, bt = conv(x), conv(w), conv(b)
            y = F.linear(xt, wt, bt)
            (y * conv(dy).detach()).sum().backward()
            results.append((y.detach(), xt.grad, wt.grad, None if bt is None else bt.grad))
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr, layout in [("x", x, "NF"), ("w", w, "OI"), ("b", b, "C"), ("dy", dy, "NF")]:
            if arr is not None:
                write(folder, tname, arr)
                tensors.append(entry(tname, arr, "input", layout))
        for tname, g64, g32, layout in zip(["y", "dx", "dw", "db"], results[0], results[1], ["NF", "NF", "OI", "C"]):
            if g64 is None:
                continue
            arr = g64.numpy().astype(np.float32)
            err = float((g32.double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", layout, err))
        cases.append({"name": name, "op": "linear", "params": {"N": n, "in_features": fin, "out_features": fout,
                      "bias": bias}, "tensors": tensors})
    return cases


def xent_cases(rng, out_dir):
    """Softmax cross-entropy (mean over the batch) with ±1000 logits and all-equal rows."""
    cases = []
    for name, n, c, kind in [("xent_64x10", 64, 10, "plain"), ("xent_256x1000", 256, 1000, "plain"),
                             ("xent_pm1000", 16, 10, "large"), ("xent_equal_rows", 8, 5, "equal")]:
        x = rng.uniform(-1, 1, size=(n, c)).astype(np.float32) * (4.0 if kind == "plain" else 1000.0)
        if kind == "equal":
            x[:] = 7.25
        if kind == "large":
            x[::3] = 1000.0 * np.sign(x[::3])
        t = rng.integers(0, c, size=n)
        results = []
        for dt in (torch.float64, torch.float32):
            xt = torch.from_numpy(x).to(dt).requires_grad_(True)
            loss = F.cross_entropy(xt, torch.from_numpy(t))
            loss.backward()
            results.append((loss.detach().reshape(1), xt.grad))
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr, layout in [("logits", x, "NF"), ("target", t.astype(np.float32), "N")]:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "input", layout))
        for tname, g64, g32, layout in [("loss", results[0][0], results[1][0], "scalar"),
                                        ("dlogits", results[0][1], results[1][1], "NF")]:
            arr = g64.numpy().astype(np.float32)
            err = float((g32.double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", layout, err))
        cases.append({"name": name, "op": "softmax_cross_entropy", "params": {"N": n, "classes": c},
                      "tensors": tensors})
    return cases


def optim_cases(rng, out_dir):
    """One torch.optim step (float64) from a given state: SGD variants, Adam, AdamW."""
    cases = []
    u = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)

    def emit(name, op, params, inputs, outputs):
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr in inputs:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "input", "flat"))
        for tname, arr in outputs:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", "flat", None))
        cases.append({"name": name, "op": op, "params": params, "tensors": tensors})

    sgd = [("sgd_plain", 0.1, 0.0, 0.0, 0.0, False, True), ("sgd_momentum_first", 0.05, 0.9, 0.0, 1e-2, False, True),
           ("sgd_momentum", 0.05, 0.9, 0.1, 1e-2, False, False), ("sgd_nesterov", 0.05, 0.9, 0.0, 5e-3, True, False)]
    for name, lr, mom, damp, wd, nest, first in sgd:
        n = 257
        param, grad, buf = u(n), u(n), u(n)
        p = torch.from_numpy(param).double().clone().requires_grad_(True)
        opt = torch.optim.SGD([p], lr=lr, momentum=mom, dampening=damp, weight_decay=wd, nesterov=nest)
        if not first:
            opt.state[p]["momentum_buffer"] = torch.from_numpy(buf).double().clone()
        p.grad = torch.from_numpy(grad).double()
        opt.step()
        inputs = [("param", param), ("grad", grad)] + ([] if first else [("momentum_buffer", buf)])
        outputs = [("param_out", p.detach().numpy().astype(np.float32))]
        if mom > 0:
            outputs.append(("momentum_buffer_out", opt.state[p]["momentum_buffer"].numpy().astype(np.float32)))
        emit(name, "sgd_step", {"lr": lr, "momentum": mom, "dampening": damp, "weight_decay": wd,
                                "nesterov": nest, "first_step": first}, inputs, outputs)
    adam = [("adam_step1", "adam_step", 1e-3, 0.9, 0.999, 1e-8, 0.0, 1), ("adam_step7_wd", "adam_step", 1e-2, 0.8, 0.99, 1e-6, 1e-2, 7),
            ("adamw_step3", "adamw_step", 1e-2, 0.9, 0.999, 1e-8, 0.1, 3)]
    for name, op, lr, b1, b2, eps, wd, step in adam:
        n = 257
        param, grad = u(n), u(n)
        m = np.zeros(n, np.float32) if step == 1 else u(n) * 0.1
        v = np.zeros(n, np.float32) if step == 1 else (u(n) ** 2 * 0.01).astype(np.float32)
        p = torch.from_numpy(param).double().clone().requires_grad_(True)
        cls = torch.optim.AdamW if op == "adamw_step" else torch.optim.Adam
        opt = cls([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        p.grad = torch.from_numpy(grad).double()
        if step > 1:
            opt.state[p]["step"] = torch.tensor(float(step - 1), dtype=torch.float64)
            opt.state[p]["exp_avg"] = torch.from_numpy(m).double().clone()
            opt.state[p]["exp_avg_sq"] = torch.from_numpy(v).double().clone()
        opt.step()
        st = opt.state[p]
        emit(name, op, {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weight_decay": wd, "step": step,
                        "decoupled_weight_decay": op == "adamw_step"},
             [("param", param), ("grad", grad), ("exp_avg", m), ("exp_avg_sq", v)],
             [("param_out", p.detach().numpy().astype(np.float32)),
              ("exp_avg_out", st["exp_avg"].numpy().astype(np.float32)),
              ("exp_avg_sq_out", st["exp_avg_sq"].numpy().astype(np.float32))])
    return cases


def batch_norm_cases(rng, out_dir):
    """BatchNorm2d in training (batch statistics, running-statistics update) and evaluation."""
    cases = []
    for name, train, n, c, h, w, eps, mom in [("bn_train", True, 4, 3, 5, 6, 1e-5, 0.1), ("bn_train_eps1e-3_m0.9", True, 2, 4, 7, 3, 1e-3, 0.9),
                                              ("bn_train_64x16x8x8", True, 64, 16, 8, 8, 1e-5, 0.1), ("bn_eval", False, 3, 5, 4, 4, 1e-5, 0.1)]:
        x = (rng.uniform(-1, 1, size=(n, c, h, w)) + rng.uniform(-1, 1, size=(1, c, 1, 1))).astype(np.float32)
        gamma = rng.uniform(0.5, 1.5, size=c).astype(np.float32)
        beta = rng.uniform(-1, 1, size=c).astype(np.float32)
        rmean = rng.uniform(-1, 1, size=c).astype(np.float32)
        rvar = rng.uniform(0.5, 1.5, size=c).astype(np.float32)
        dy = rng.uniform(-1, 1, size=(n, c, h, w)).astype(np.float32)
        res = {}
        for dt in (torch.float64, torch.float32):
            xt = torch.from_numpy(x).to(dt).requires_grad_(True)
            gt = torch.from_numpy(gamma).to(dt).requires_grad_(True)
            bt = torch.from_numpy(beta).to(dt).requires_grad_(True)
            rm, rv = torch.from_numpy(rmean).to(dt).clone(), torch.from_numpy(rvar).to(dt).clone()
            y = F.batch_norm(xt, rm, rv, gt, bt, training=train, momentum=mom, eps=eps)
            (y * torch.from_numpy(dy).to(dt)).sum().backward()
            out = {"y": y.detach(), "dx": xt.grad, "dgamma": gt.grad, "dbeta": bt.grad}
            if train:
                out["batch_mean"] = xt.detach().mean(dim=(0, 2, 3))
                out["batch_var"] = xt.detach().var(dim=(0, 2, 3), unbiased=False)
                out["running_mean_out"], out["running_var_out"] = rm, rv
            res[dt] = out
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr, layout in [("x", x, "NCHW"), ("gamma", gamma, "C"), ("beta", beta, "C"), ("running_mean", rmean, "C"),
                                   ("running_var", rvar, "C"), ("dy", dy, "NCHW")]:
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "input", layout))
        for tname, g64 in res[torch.float64].items():
            arr = g64.numpy().astype(np.float32)
            err = float((res[torch.float32][tname].double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", "NCHW" if arr.ndim == 4 else "C", err))
        op = "batch_norm2d_train" if train else "batch_norm2d_eval"
        cases.append({"name": name, "op": op, "params": {"N": n, "C": c, "H": h, "W": w, "eps": eps, "momentum": mom},
                      "tensors": tensors})
    return cases


def conv_transpose_cases(rng, out_dir):
    """conv_transpose2d (weights IOHW) and the gradients of sum(y * dy)."""
    cases = []
    u = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)
    specs = [("convT_k3_s2_p1_op1", 2, 4, 5, 6, 3, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, True),
             ("convT_k4_s2_p1", 1, 3, 4, 4, 2, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1, True),
             ("convT_k3_s1_groups2", 2, 4, 6, 5, 3, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1), 2, False),
             ("convT_k2x3_s3x2_d2", 1, 2, 5, 4, 2, (2, 3), (3, 2), (0, 1), (2, 1), (2, 2), 1, True),
             ("convT_k3_s1_d2_op1", 2, 3, 5, 6, 2, (3, 3), (1, 1), (1, 1), (1, 1), (2, 2), 1, True)]
    for name, n, c_in, h, w, cog, k, s, pad, op, d, groups, bias in specs:
        x, wt, b = u(n, c_in, h, w), u(c_in, cog, *k), u(cog * groups) if bias else None
        h_out = (h - 1) * s[0] - 2 * pad[0] + d[0] * (k[0] - 1) + op[0] + 1
        w_out = (w - 1) * s[1] - 2 * pad[1] + d[1] * (k[1] - 1) + op[1] + 1
        dy = u(n, cog * groups, h_out, w_out)
        res = []
        for dt in (torch.float64, torch.float32):
            xt, wtt = torch.from_numpy(x).to(dt).requires_grad_(True), torch.from_numpy(wt).to(dt).requires_grad_(True)
            bt = None if b is None else torch.from_numpy(b).to(dt).requires_grad_(True)
            y = F.conv_transpose2d(xt, wtt, bt, stride=s, padding=pad, output_padding=op, groups=groups, dilation=d)
            (y * torch.from_numpy(dy).to(dt)).sum().backward()
            res.append((y.detach(), xt.grad, wtt.grad, None if bt is None else bt.grad))
        folder = os.path.join(out_dir, name)
        os.makedirs(folder)
        tensors = []
        for tname, arr, layout in [("x", x, "NCHW"), ("w", wt, "IOHW"), ("b", b, "C"), ("dy", dy, "NCHW")]:
            if arr is not None:
                write(folder, tname, arr)
                tensors.append(entry(tname, arr, "input", layout))
        for tname, g64, g32, layout in zip(["y", "dx", "dw", "db"], res[0], res[1], ["NCHW", "NCHW", "IOHW", "C"]):
            if g64 is None:
                continue
            arr = g64.numpy().astype(np.float32)
            err = float((g32.double() - torch.from_numpy(arr).double()).abs().max())
            write(folder, tname, arr)
            tensors.append(entry(tname, arr, "output", layout, err))
        cases.append({"name": name, "op": "conv_transpose2d", "params": {
            "N": n, "C_in": c_in, "H": h, "W": w, "C_out": cog * groups, "kernel": list(k), "stride": list(s),
            "padding": [pad[0], pad[0], pad[1], pad[1]], "output_padding": list(op), "dilation": list(d), "groups": groups,
            "bias": bias, "H_out": h_out, "W_out": w_out, "reduction_len": c_in // groups * k[0] * k[1]}, "tensors": tensors})
    return cases


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
    manifest.extend(pool_cases(rng, out_dir))
    manifest.extend(relu_cases(rng, out_dir))
    manifest.extend(linear_cases(rng, out_dir))
    manifest.extend(xent_cases(rng, out_dir))
    manifest.extend(optim_cases(rng, out_dir))
    manifest.extend(batch_norm_cases(rng, out_dir))
    manifest.extend(conv_transpose_cases(rng, out_dir))
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
