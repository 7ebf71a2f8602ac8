// Deterministic second passes of the conv2d gradients.
//
// sum_splits:    dst[i] = Σ_{s < splits} src[s·len + i], added in order s = 0, 1, …, in
//                K-slices of splits [k_begin, k_end) (common/conv2d_params.wgsl).
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

// #include common/conv2d_params.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The uniform block of every direct conv2d shader (conv2d_forward, _backward_data,
// _backward_filter, _depthwise, _reduce, _texture, _texture_pack).
//
// K-slices (the loop budget, gpu/loops.rs): a dispatch reduces only [k_begin, k_end) of its
// reduction, in the unit its kernel's header names. The kernels only write: the first slice
// writes the output (with the bias), later ones a temporary that elementwise.wgsl's
// accumulate adds in, applying the activation after the last (sum_splits, memory-bound,
// adds in place when accumulate = 1). act is set only when there is one slice.
// Windowed kernels count units of window-row segments: unit u = row·segs + g is segment g, the
// taps [g·seg, (g + 1)·seg) ∩ [0, kw), of its window row (one segment unless a row is longer
// than the budget allows).
// The filter gradients cut their reduction over output rows and columns into
// splits = row splits · col_splits chunks of rows_per_split rows × cols_per_split columns.
// The texture kernels place image i's padded window extent, cell_w × cell_h texels, at cell
// (i % cells, i / cells) of their input texture.
struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, groups: u32,
    kh: u32, kw: u32, stride_h: u32, stride_w: u32,
    dil_h: u32, dil_w: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, splits: u32, rows_per_split: u32, len: u32,
    act: u32, alpha: f32, k_begin: u32, k_end: u32,
    accumulate: u32, col_splits: u32, cols_per_split: u32, seg: u32,
    segs: u32, cells: u32, cell_w: u32, cell_h: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// #end common/conv2d_params.wgsl
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;

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
    // The levels stay rolled (common/rolled.wgsl).
    for (var half = rolled(WG / 2u, nwg); half > 0u; half /= 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[wid.z * p.c_out + c] = partial[0];
    }
}
