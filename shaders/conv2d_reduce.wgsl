// Deterministic second passes of the conv2d gradients.
//
// sum_splits:    dst[i] = Σ_{s < splits} src[s·len + i], added in order s = 0, 1, …
//                One invocation per element; grid x·y (folded) = ceil(len / WG).
// backward_bias: dst[c] = Σ_{img, pix} src[(img·c_out + c)·hw + pix] for dy [n, c_out, h, w]
//                (h·w = h_out·w_out). One workgroup per channel: each invocation sums a
//                fixed stride of the channel, then a fixed tree in workgroup memory.
//                Grid x·y (folded) = c_out.
//
// Bindings: 0 Params; 1 src; 2 dst.
// Overrides: WG invocations per workgroup (a power of two for the tree).

struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, groups: u32,
    kh: u32, kw: u32, stride_h: u32, stride_w: u32,
    dil_h: u32, dil_w: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, splits: u32, rows_per_split: u32, len: u32,
    act: u32, alpha: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_splits(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.len) {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        sum += src[s * p.len + i];
    }
    dst[i] = sum;
}

@compute @workgroup_size(WG)
fn backward_bias(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Uniform across the workgroup, so the early exit keeps the barriers below uniform.
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.c_out) {
        return;
    }
    let hw = p.h_out * p.w_out;
    let per_channel = p.n * hw;
    var sum = 0.0;
    for (var t = lid; t < per_channel; t += WG) {
        let img = t / hw;
        sum += src[(img * p.c_out + c) * hw + t % hw];
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
        dst[c] = partial[0];
    }
}
