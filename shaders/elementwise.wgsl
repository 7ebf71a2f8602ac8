// Elementwise ops over flat f32 arrays: one invocation per element.
//
// activation_forward   dst = f(a)            op: 0 ReLU, 1 LeakyReLU(alpha), 2 ELU(alpha),
//                                             3 tanh, 4 sigmoid; f(NaN) = NaN (PyTorch)
// activation_backward  dst = b · f'(a)       a = x, b = dy; ReLU'(0) = 0, ReLU'(NaN) = 1
//                                             (PyTorch: the gradient passes unless x ≤ 0)
// activation_backward_output
//                      dst = b · f'(x) from the output a = y = f(x): ReLU, LeakyReLU and ELU
//                      (alpha > 0, so y > 0 ⇔ x > 0), tanh 1 − y², sigmoid y(1 − y)
// binary               dst = alpha·a + beta·b (op 0), alpha·a (op 1: b unread), or
//                      max(alpha·a + beta·b, 0) (op 2: a residual unit's add + ReLU; NaN stays)
// bias_add             dst = a + b[(i / inner) mod channels]   (inner = h·w for NCHW, 1 for NF)
// copy_channels        concat / split along channels of NCHW tensors:
//                      op 0: dst[n, offset + c, :] = a[n, c, :]   (a has `channels`, dst `channels_b`)
//                      op 1: dst[n, c, :] = a[n, offset + c, :]   (dst has `channels`, a `channels_b`)
// accumulate           dst = dst + a, then f(·) of op when activate = 1: the K-slices of the
//                      GEMM kernels add up here, so those never read their output (a read in
//                      their epilogue slowed Mesa 22's register-tiled matmul by 1.3-1.6×)
// track_nonfinite      one invocation; dst = [steps, first, value]: steps += 1, and while first
//                      is 0, a non-finite a[0] (a step's loss) sets first = steps and
//                      value = a[0] (finiteness from the bits)
//
// Bindings: 0 Params; 1 a; 2 b; 3 dst. Overrides: WG. Grid x·y (folded) = ceil(len / WG).

struct Params {
    len: u32, op: u32, alpha: f32, beta: f32,
    inner: u32, channels: u32, channels_b: u32, offset: u32,
    activate: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 64u;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

// Overflow-free forms: exp of a non-positive argument only.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// NaN from its bits: comparisons with NaN are left to the implementation in WGSL.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// A NaN input gives NaN for every activation (PyTorch), whatever max and min do with it
// (a select, so no lane branches).
fn act(x: f32) -> f32 {
    var y = x;
    switch p.op {
        case 0u: { y = max(x, 0.0); }
        case 1u: { y = select(p.alpha * x, x, x > 0.0); }
        case 2u: { y = select(p.alpha * (exp(min(x, 0.0)) - 1.0), x, x > 0.0); }
        case 3u: { y = tanh_stable(x); }
        case 5u: { y = min(max(x, 0.0), 6.0); }
        default: { y = sigmoid(x); }
    }
    return select(y, x, is_nan(x));
}

// ReLU passes the gradient where x is not ≤ 0, NaN included (PyTorch's threshold_backward).
fn act_grad(x: f32) -> f32 {
    switch p.op {
        case 0u: { return select(0.0, 1.0, x > 0.0 || is_nan(x)); }
        case 1u: { return select(p.alpha, 1.0, x > 0.0); }
        case 2u: { return select(p.alpha * exp(min(x, 0.0)), 1.0, x > 0.0); }
        case 3u: { let t = tanh_stable(x); return 1.0 - t * t; }
        case 5u: { return select(0.0, 1.0, (x > 0.0 && x < 6.0) || is_nan(x)); }
        default: { let s = sigmoid(x); return s * (1.0 - s); }
    }
}

@compute @workgroup_size(WG)
fn activation_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        dst[i] = act(a[i]);
    }
}

@compute @workgroup_size(WG)
fn activation_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        dst[i] = b[i] * act_grad(a[i]);
    }
}

fn act_grad_from_output(y: f32) -> f32 {
    switch p.op {
        case 0u: { return select(0.0, 1.0, y > 0.0 || is_nan(y)); }
        case 1u: { return select(p.alpha, 1.0, y > 0.0); }
        case 2u: { return select(y + p.alpha, 1.0, y > 0.0); }
        case 3u: { return 1.0 - y * y; }
        case 5u: { return select(0.0, 1.0, (y > 0.0 && y < 6.0) || is_nan(y)); }
        default: { return y * (1.0 - y); }
    }
}

@compute @workgroup_size(WG)
fn activation_backward_output(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        dst[i] = b[i] * act_grad_from_output(a[i]);
    }
}

@compute @workgroup_size(WG)
fn binary(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        if (p.op == 0u) {
            dst[i] = p.alpha * a[i] + p.beta * b[i];
        } else if (p.op == 1u) {
            dst[i] = p.alpha * a[i];
        } else {
            let v = p.alpha * a[i] + p.beta * b[i];
            dst[i] = select(max(v, 0.0), v, is_nan(v));
        }
    }
}

@compute @workgroup_size(WG)
fn bias_add(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        dst[i] = a[i] + b[(i / p.inner) % p.channels];
    }
}

@compute @workgroup_size(WG)
fn copy_channels(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i >= p.len) {
        return;
    }
    // i runs over the smaller tensor, [n, channels, inner].
    let pix = i % p.inner;
    let c = (i / p.inner) % p.channels;
    let n = i / (p.inner * p.channels);
    let wide = (n * p.channels_b + p.offset + c) * p.inner + pix;
    if (p.op == 0u) {
        dst[wide] = a[i];
    } else {
        dst[i] = a[wide];
    }
}

@compute @workgroup_size(WG)
fn accumulate(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        let v = dst[i] + a[i];
        dst[i] = select(v, act(v), p.activate != 0u);
    }
}

@compute @workgroup_size(WG)
fn track_nonfinite(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (linear(wid, nwg, lid, WG) != 0u) {
        return;
    }
    let steps = dst[0] + 1.0;
    dst[0] = steps;
    let v = a[0];
    if (dst[1] == 0.0 && (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) {
        dst[1] = steps;
        dst[2] = v;
    }
}
