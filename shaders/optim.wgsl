// Optimiser updates, one fused pass over a flat parameter buffer (one invocation per element),
// following torch.optim step for step. Scalars that depend only on the step count (bias
// corrections, NAdam's momentum schedule) are computed on the host in f64 and passed in, with
// the learning rate, through the plan's per-step buffer (`Step`), so a replayed plan changes
// only that slot between steps.
//
// sgd      d = g + wd·p; buf = first ? d : momentum·buf + (1 − dampening)·d;
//          p −= lr · (nesterov ? d + momentum·buf : buf)        (momentum = 0: p −= lr·d)
// adam     AdamW (decoupled = 1): p ·= 1 − lr·wd, g unchanged; Adam: g += wd·p.
//          m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²;
//          p −= (lr / bc1) · m / (√v / √bc2 + eps)
// nadam    g += wd·p; m, v as Adam; denom = √(v / bc2) + eps;
//          p −= c_grad · g / denom + c_avg · m / denom    (c_* from the momentum schedule)
// rmsprop  g += wd·p; sq = α·sq + (1 − α)·g²; centered: ga = α·ga + (1 − α)·g, avg = √(sq − ga²) + eps,
//          else avg = √sq + eps; momentum > 0: buf = momentum·buf + g / avg, p −= lr·buf;
//          else p −= lr · g / avg
//
// Bindings: 0 Params; 1 grad; 2 param; 3 s1 (momentum buffer / m / square average);
//           4 s2 (v / centered gradient average); 5 s3 (RMSprop momentum buffer); 6 Step.
// Loop passes per invocation: 0.
// Overrides: WG. Grid x·y (folded) = ceil(len / WG).

struct Params {
    len: u32, flags: u32, wd: f32, momentum: f32,
    dampening: f32, beta1: f32, beta2: f32, eps: f32,
    alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// The values of this step: first = 1 on the first (SGD's momentum buffer starts at d).
struct Step {
    lr: f32, bc1: f32, bc2: f32, c_grad: f32,
    c_avg: f32, first: u32, _pad0: u32, _pad1: u32,
}

// flags bits
const NESTEROV: u32 = 2u;
const DECOUPLED: u32 = 4u;
const CENTERED: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
@group(0) @binding(4) var<storage, read_write> s2: array<f32>;
@group(0) @binding(5) var<storage, read_write> s3: array<f32>;
@group(0) @binding(6) var<uniform> t: Step;

override WG: u32 = 64u;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn sgd(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i >= p.len) {
        return;
    }
    let d = grad[i] + p.wd * param[i];
    if (p.momentum == 0.0) {
        param[i] -= t.lr * d;
        return;
    }
    var buf = d;
    if (t.first == 0u) {
        buf = p.momentum * s1[i] + (1.0 - p.dampening) * d;
    }
    s1[i] = buf;
    let step = select(buf, d + p.momentum * buf, (p.flags & NESTEROV) != 0u);
    param[i] -= t.lr * step;
}

@compute @workgroup_size(WG)
fn adam(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i >= p.len) {
        return;
    }
    var w = param[i];
    var g = grad[i];
    if ((p.flags & DECOUPLED) != 0u) {
        w *= 1.0 - t.lr * p.wd;
    } else {
        g += p.wd * w;
    }
    let m = p.beta1 * s1[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * s2[i] + (1.0 - p.beta2) * g * g;
    s1[i] = m;
    s2[i] = v;
    param[i] = w - (t.lr / t.bc1) * m / (sqrt(v) / sqrt(t.bc2) + p.eps);
}

@compute @workgroup_size(WG)
fn nadam(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i >= p.len) {
        return;
    }
    let w = param[i];
    let g = grad[i] + p.wd * w;
    let m = p.beta1 * s1[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * s2[i] + (1.0 - p.beta2) * g * g;
    s1[i] = m;
    s2[i] = v;
    let denom = sqrt(v / t.bc2) + p.eps;
    param[i] = w - t.c_grad * g / denom - t.c_avg * m / denom;
}

@compute @workgroup_size(WG)
fn rmsprop(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i >= p.len) {
        return;
    }
    let w = param[i];
    let g = grad[i] + p.wd * w;
    let sq = p.alpha * s1[i] + (1.0 - p.alpha) * g * g;
    s1[i] = sq;
    var avg: f32;
    if ((p.flags & CENTERED) != 0u) {
        let ga = p.alpha * s2[i] + (1.0 - p.alpha) * g;
        s2[i] = ga;
        avg = sqrt(sq - ga * ga) + p.eps;
    } else {
        avg = sqrt(sq) + p.eps;
    }
    if (p.momentum > 0.0) {
        let buf = p.momentum * s3[i] + g / avg;
        s3[i] = buf;
        param[i] = w - t.lr * buf;
    } else {
        param[i] = w - t.lr * g / avg;
    }
}
