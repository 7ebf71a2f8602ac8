// Reductions and losses. Every sum runs in a fixed order, so results are bit-reproducible.
//
// Rows: `rows` rows of `cols` values, row-major; per-row entries run one invocation per row.
// reduce_axis     x viewed as [outer, len, inner]: dst[o·inner + i] = sum / mean / max (op 0/1/2)
//                 over len of x[(o·len + l)·inner + i]; dst2 = arg-max index (first maximum)
//                 for op 2. One invocation per output, summing in index order.
// reduce_axis_tree the same for long axes with few outputs: one workgroup per output, each
//                 invocation a fixed stride of the axis, then a fixed tree (for max: the larger
//                 value, the smaller index on ties, so the first maximum wins).
// sum_all         dst[0] = scale · Σ src: one workgroup; each invocation sums a fixed stride,
//                 then a fixed tree in workgroup memory.
// softmax         dst = softmax(src) per row (op 0) or log_softmax (op 1), row max subtracted.
// softmax_xent    per row: dst2[r] = logsumexp(x_r) − x_r[t_r] (the row's loss), and
//                 dst[r, c] = (softmax(x_r)[c] − [c = t_r]) / rows (the mean loss's gradient);
//                 aux holds the targets as exact f32 class indices.
// topk_hits       dst2[r] = 1 if fewer than k classes rank before the target, else 0: a class
//                 ranks before it with a larger logit, or an equal one and a lower index (ties
//                 go to the lower index, as argmax does; k = 1 is accuracy).
// pointwise_loss  op 0 MSE: dst2[i] = (a − b)², dst[i] = 2(a − b)/len;
//                 op 1 BCE with logits: dst2[i] = max(a,0) − a·b + log(1 + e^−|a|),
//                 dst[i] = (σ(a) − b)/len. The mean comes from sum_all.
//
// Bindings: 0 Params; 1 src; 2 aux; 3 dst; 4 dst2. Overrides: WG (a power of two for the tree).
// Grid x·y (folded) = ceil(invocations / WG), one workgroup for sum_all.

struct Params {
    rows: u32, cols: u32, outer: u32, len: u32,
    inner: u32, op: u32, k: u32, _pad: u32,
    scale: f32, _pad1: u32, _pad2: u32, _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst2: array<f32>;

override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial_idx: array<u32, WG>;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn reduce_axis(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = linear(wid, nwg, lid);
    if (o >= p.outer * p.inner) {
        return;
    }
    let base = (o / p.inner) * p.len * p.inner + o % p.inner;
    if (p.op == 2u) {
        var best = src[base];
        var at = 0u;
        for (var l = 1u; l < p.len; l++) {
            let v = src[base + l * p.inner];
            if (v > best) {
                best = v;
                at = l;
            }
        }
        dst[o] = best;
        dst2[o] = f32(at);
        return;
    }
    var sum = 0.0;
    for (var l = 0u; l < p.len; l++) {
        sum += src[base + l * p.inner];
    }
    dst[o] = select(sum, sum / f32(p.len), p.op == 1u);
}

@compute @workgroup_size(WG)
fn reduce_axis_tree(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    let o = wid.x + wid.y * nwg.x;
    if (o >= p.outer * p.inner) {
        return;
    }
    let base = (o / p.inner) * p.len * p.inner + o % p.inner;
    let is_max = p.op == 2u;
    var acc = 0.0;
    var at = min(lid, p.len - 1u);
    if (is_max) {
        acc = src[base + at * p.inner];
        for (var l = lid + WG; l < p.len; l += WG) {
            let v = src[base + l * p.inner];
            if (v > acc) {
                acc = v;
                at = l;
            }
        }
    } else {
        for (var l = lid; l < p.len; l += WG) {
            acc += src[base + l * p.inner];
        }
    }
    partial[lid] = acc;
    partial_idx[lid] = at;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (lid < half) {
            let v = partial[lid + half];
            let i = partial_idx[lid + half];
            if (!is_max) {
                partial[lid] += v;
            } else if (v > partial[lid] || (v == partial[lid] && i < partial_idx[lid])) {
                partial[lid] = v;
                partial_idx[lid] = i;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[o] = select(partial[0], partial[0] / f32(p.len), p.op == 1u);
        if (is_max) {
            dst2[o] = f32(partial_idx[0]);
        }
    }
}

@compute @workgroup_size(WG)
fn sum_all(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < p.len; i += WG) {
        sum += src[i];
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[0] = partial[0] * p.scale;
    }
}

fn row_max(base: u32) -> f32 {
    var m = src[base];
    for (var c = 1u; c < p.cols; c++) {
        m = max(m, src[base + c]);
    }
    return m;
}

fn row_sum_exp(base: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        s += exp(src[base + c] - m);
    }
    return s;
}

@compute @workgroup_size(WG)
fn softmax(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let m = row_max(base);
    let s = row_sum_exp(base, m);
    let log_s = log(s);
    for (var c = 0u; c < p.cols; c++) {
        let z = src[base + c] - m;
        dst[base + c] = select(exp(z) / s, z - log_s, p.op == 1u);
    }
}

@compute @workgroup_size(WG)
fn softmax_xent(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let t = u32(aux[r]);
    let m = row_max(base);
    let s = row_sum_exp(base, m);
    dst2[r] = log(s) + m - src[base + t];
    let inv_rows = 1.0 / f32(p.rows);
    for (var c = 0u; c < p.cols; c++) {
        let sm = exp(src[base + c] - m) / s;
        dst[base + c] = (sm - select(0.0, 1.0, c == t)) * inv_rows;
    }
}

@compute @workgroup_size(WG)
fn topk_hits(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let t = u32(aux[r]);
    let target_logit = src[base + t];
    var above = 0u;
    for (var c = 0u; c < p.cols; c++) {
        let v = src[base + c];
        above += select(0u, 1u, v > target_logit || (v == target_logit && c < t));
    }
    dst2[r] = select(0.0, 1.0, above < p.k);
}

@compute @workgroup_size(WG)
fn pointwise_loss(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid);
    if (i >= p.len) {
        return;
    }
    let a = src[i];
    let b = aux[i];
    let inv = 1.0 / f32(p.len);
    if (p.op == 0u) {
        let d = a - b;
        dst2[i] = d * d;
        dst[i] = 2.0 * d * inv;
    } else {
        let e = exp(-abs(a));
        dst2[i] = max(a, 0.0) - a * b + log(1.0 + e);
        let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), a >= 0.0);
        dst[i] = (sig - b) * inv;
    }
}
