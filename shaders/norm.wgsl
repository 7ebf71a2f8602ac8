// Batch normalisation over NCHW, per channel c with M = n·h·w values (hw = h·w).
//
// stats_forward   one workgroup per channel: mean = Σx/M, var = Σ(x − mean)²/M (two passes,
//                 biased; used to normalise); chan_out = [mean | var | running_mean_out |
//                 running_var_out] with running = (1 − momentum)·running + momentum·new and the
//                 UNBIASED variance var·M/(M − 1) (PyTorch). stats = [running_mean | running_var].
//                 For channels one workgroup can walk within the loop budget (one chunk).
// stats_partial   the same in chunks (longer channels): one workgroup per (channel, chunk),
//                 chan_out[chunk·c + ch] = Σ x (flag 0) or Σ (x − stats[ch]/M)² (flag 1, stats =
//                 the channel sums) over the chunk; the host adds the chunks (reduce.wgsl).
// stats_finalize  one invocation per channel: chan_out as stats_forward's from aux = Σ x,
//                 dy = Σ (x − mean)², stats = [running_mean | running_var].
// normalize       y = (x − mean)·gamma/√(var + eps) + beta with stats = [mean | var] (batch
//                 or running); aux = beta. Walks channel planes (below).
// backward_reduce one workgroup per (channel, chunk): chan_out[chunk·2c ..] = [dgamma | dbeta]
//                 over the chunk, dbeta = Σ dy, dgamma = Σ dy·x̂ with x̂ from stats =
//                 [mean | var]; the host adds the chunks when there are several.
// backward_data   dx, walking channel planes; aux = [dgamma | dbeta]. Training (flag 1):
//                 dx = gamma/√(var + eps)/M · (M·dy − dbeta − x̂·dgamma); evaluation (flag 0,
//                 running statistics are constants): dx = dy·gamma/√(var + eps).
// fold_conv       batch norm (evaluation) folded into the conv before it, for inference:
//                 x = the conv's weight [c_out, per] (per = hw), dy = its bias (read when
//                 flag = 1), gamma, aux = beta, stats = [running_mean | running_var]:
//                 out = w·s, chan_out = beta + (b − mean)·s with s = gamma/√(var + eps) per
//                 output channel. One invocation per weight, then per channel (n = 1).
//
// Sums run in a fixed order (each invocation a fixed stride of every image's plane, then a
// fixed tree): bit-reproducible. The loops walk images and planes so no value's position needs
// an integer division (slow on SIMD CPUs).
// Chunks (the loop budget, gpu/loops.rs): chunk z of a channel covers images
// [(z / segs)·imgs, + imgs) × plane positions [(z mod segs)·seg, + seg); one walk over it costs
// imgs·(⌈seg / WG⌉ + 2) + 1 loop passes per invocation (stats_forward walks twice).
// Bindings: 0 Params; 1 x; 2 dy; 3 gamma; 4 aux; 5 stats; 6 out; 7 chan_out.
// Overrides: WG (a power of two). Grid x·y (folded) = c for the per-channel entries (z =
// chunks for stats_partial and backward_reduce), n·c·ceil(hw / (WG·PER)) for normalize and
// backward_data walking planes, else ceil(elements / WG).

struct Params {
    n: u32, c: u32, hw: u32, flag: u32,
    eps: f32, momentum: f32, planes: u32, imgs: u32,
    seg: u32, segs: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> chan_out: array<f32>;

override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<f32, WG>;

// #include common/rolled.wgsl (tests/shaders.rs keeps this copy equal to that file)
// n, in a form the driver's compiler cannot fold to a constant (nwg.x ≥ 1 in any dispatch),
// for the bound of a loop that should stay rolled. Lavapipe unrolls every loop of constant
// trip count, and each memory access in the copies becomes a loop over the SIMD lanes, so
// compile time at the first dispatch grows with the copies: a 256-invocation tree reduction
// unrolled into its 8 levels took 0.8 s to compile, rolled 0.15 s (Mesa 25), and unrolling
// buys nothing there, each level ending at a barrier.
fn rolled(n: u32, nwg: vec3<u32>) -> u32 {
    return min(n, n * nwg.x);
}
// #end common/rolled.wgsl

// Fixed-tree sum of `partial` (and `partial2`) across the workgroup; result in [0]. The
// levels stay rolled (common/rolled.wgsl).
fn tree(lid: u32, nwg: vec3<u32>) {
    workgroupBarrier();
    for (var half = rolled(WG / 2u, nwg); half > 0u; half /= 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
            partial2[lid] += partial2[lid + half];
        }
        workgroupBarrier();
    }
}

// The images and plane positions of chunk z (see above).
struct Chunk {
    img0: u32,
    img1: u32,
    q0: u32,
    q1: u32,
}

fn chunk_of(z: u32) -> Chunk {
    let img0 = (z / p.segs) * p.imgs;
    let q0 = (z % p.segs) * p.seg;
    return Chunk(img0, min(img0 + p.imgs, p.n), q0, min(q0 + p.seg, p.hw));
}

// This invocation's share of Σ x (centered = false) or Σ (x − mean)² over chunk k of channel c.
fn walk_sum(k: Chunk, c: u32, lid: u32, centered: bool, mean: f32) -> f32 {
    var s = 0.0;
    for (var img = k.img0; img < k.img1; img++) {
        let base = (img * p.c + c) * p.hw;
        for (var q = k.q0 + lid; q < k.q1; q += WG) {
            let v = x[base + q];
            let d = v - mean;
            s += select(v, d * d, centered);
        }
    }
    return s;
}

// chan_out[c], [C + c], [2C + c], [3C + c] from the channel's Σ x and Σ (x − mean)².
fn finalize(c: u32, sum: f32, sq: f32) {
    let m = f32(p.n * p.hw);
    let mean = sum / m;
    let var_b = sq / m;
    chan_out[c] = mean;
    chan_out[p.c + c] = var_b;
    chan_out[2u * p.c + c] = (1.0 - p.momentum) * stats[c] + p.momentum * mean;
    chan_out[3u * p.c + c] = (1.0 - p.momentum) * stats[p.c + c] + p.momentum * var_b * m / f32(p.n * p.hw - 1u);
}

@compute @workgroup_size(WG)
fn stats_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.c) {
        return;
    }
    let k = chunk_of(0u);
    partial[lid] = walk_sum(k, c, lid, false, 0.0);
    partial2[lid] = 0.0;
    tree(lid, nwg);
    let sum = partial[0];
    workgroupBarrier();
    partial[lid] = walk_sum(k, c, lid, true, sum / f32(p.n * p.hw));
    tree(lid, nwg);
    if (lid == 0u) {
        finalize(c, sum, partial[0]);
    }
}

@compute @workgroup_size(WG)
fn stats_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.c) {
        return;
    }
    let centered = p.flag != 0u;
    let mean = select(0.0, stats[c] / f32(p.n * p.hw), centered);
    partial[lid] = walk_sum(chunk_of(wid.z), c, lid, centered, mean);
    partial2[lid] = 0.0;
    tree(lid, nwg);
    if (lid == 0u) {
        chan_out[wid.z * p.c + c] = partial[0];
    }
}

@compute @workgroup_size(WG)
fn stats_finalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = (wid.x + wid.y * nwg.x) * WG + lid;
    if (c < p.c) {
        finalize(c, aux[c], dy[c]);
    }
}

// The elementwise entries (normalize, backward_data) run in one of two ways. With planes = 1
// (planes of at least WG elements) workgroup g walks PER·WG consecutive elements of channel
// plane g / segments, lane l every WG-th of them: the channel and its statistics are one per
// workgroup and no element's position needs a division (slow on SIMD CPUs). With planes = 0,
// one element per invocation: small planes would leave most of a plane walker's lanes idle.
const PER: u32 = 8u;

// The elements invocation `lid` of workgroup `wid` handles: `count` of them, the e-th at
// `first + e·step`, all of channel `c` (planes = 1), or one of any channel (planes = 0).
struct Segment {
    first: u32,
    step: u32,
    count: u32,
    c: u32,
}

fn segment(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> Segment {
    let g = wid.x + wid.y * nwg.x;
    if (p.planes == 0u) {
        let i = g * WG + lid;
        return Segment(i, 0u, select(0u, 1u, i < p.n * p.c * p.hw), (i / p.hw) % p.c);
    }
    let segments = (p.hw + WG * PER - 1u) / (WG * PER);
    let plane = g / segments;
    let start = (g - plane * segments) * WG * PER + lid;
    // Elements start, start + WG, … below hw.
    let count = select(0u, min(PER, (p.hw - start + WG - 1u) / WG), start < p.hw && plane < p.n * p.c);
    return Segment(plane * p.hw + start, WG, count, plane % p.c);
}

@compute @workgroup_size(WG)
fn normalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let sg = segment(lid, wid, nwg);
    if (sg.count == 0u) {
        return;
    }
    let mean = stats[sg.c];
    let scale = gamma[sg.c] / sqrt(stats[p.c + sg.c] + p.eps);
    let shift = aux[sg.c];
    for (var e = 0u; e < sg.count; e++) {
        let i = sg.first + e * sg.step;
        out[i] = (x[i] - mean) * scale + shift;
    }
}

@compute @workgroup_size(WG)
fn backward_reduce(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.c) {
        return;
    }
    let mean = stats[c];
    let inv = 1.0 / sqrt(stats[p.c + c] + p.eps);
    let k = chunk_of(wid.z);
    var sg = 0.0;
    var sb = 0.0;
    for (var img = k.img0; img < k.img1; img++) {
        let base = (img * p.c + c) * p.hw;
        for (var q = k.q0 + lid; q < k.q1; q += WG) {
            let k = base + q;
            sb += dy[k];
            sg += dy[k] * (x[k] - mean) * inv;
        }
    }
    partial[lid] = sg;
    partial2[lid] = sb;
    tree(lid, nwg);
    if (lid == 0u) {
        chan_out[wid.z * 2u * p.c + c] = partial[0];
        chan_out[wid.z * 2u * p.c + p.c + c] = partial2[0];
    }
}

@compute @workgroup_size(WG)
fn backward_data(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let sg = segment(lid, wid, nwg);
    if (sg.count == 0u) {
        return;
    }
    let c = sg.c;
    let inv = 1.0 / sqrt(stats[p.c + c] + p.eps);
    let m = f32(p.n * p.hw);
    let gi = gamma[c] * inv;
    let mean = stats[c];
    let dbeta = aux[p.c + c];
    let dgamma = aux[c];
    for (var e = 0u; e < sg.count; e++) {
        let i = sg.first + e * sg.step;
        if (p.flag == 0u) {
            out[i] = dy[i] * gi;
        } else {
            let xhat = (x[i] - mean) * inv;
            out[i] = gi / m * (m * dy[i] - dbeta - xhat * dgamma);
        }
    }
}

@compute @workgroup_size(WG)
fn fold_conv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    let weights = p.c * p.hw;
    if (i < weights) {
        let co = i / p.hw;
        out[i] = x[i] * (gamma[co] / sqrt(stats[p.c + co] + p.eps));
    } else if (i < weights + p.c) {
        let co = i - weights;
        let b = select(0.0, dy[co], p.flag != 0u);
        chan_out[co] = aux[co] + (b - stats[co]) * (gamma[co] / sqrt(stats[p.c + co] + p.eps));
    }
}
