// Deterministic second passes of the conv2d gradients.
//
// sum_splits:    dst[i] = Σ_{s < splits} src[s·len + i], added in order s = 0, 1, …, in
//                K-slices of splits [k_begin, k_end) (conv2d_params.wgsl).
//                One invocation per element; grid x·y (folded) = ceil(len / WG).
//                Loop passes per invocation: k_end − k_begin + 1.
// backward_bias: dst[chunk·c_out + c] = Σ src[(img·c_out + c)·hw + pix] over the chunk's
//                positions t = img·hw + pix in [chunk·len, (chunk + 1)·len) for dy
//                [n, c_out, h, w] (h·w = h_out·w_out; len a multiple of WG). One workgroup
//                per (channel, chunk): each invocation sums a fixed stride of the chunk, then
//                a fixed tree in workgroup memory; sum_splits adds the chunks when there are
//                several. Grid x·y (folded) = c_out, z = chunks (= splits).
//                Loop passes per invocation: len / WG + 1 (the tree's are constant).
//
// Bindings: 0 Params; 1 src; 2 dst.
// Overrides: WG invocations per workgroup (a power of two for the tree).

// Params and p: conv2d_params.wgsl, put before this source.
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
    for (var s = p.k_begin; s < p.k_end; s++) {
        sum += src[s * p.len + i];
    }
    dst[i] = sum + select(0.0, dst[i], p.accumulate != 0u);
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
    let t1 = min((wid.z + 1u) * p.len, p.n * hw);
    var sum = 0.0;
    for (var t = wid.z * p.len + lid; t < t1; t += WG) {
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
        dst[wid.z * p.c_out + c] = partial[0];
    }
}
