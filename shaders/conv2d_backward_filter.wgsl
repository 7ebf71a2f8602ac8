// conv2d backward filter (dW) as an implicit GEMM, register-blocked, split along K.
//
// GEMM view, per group (transposed so the long axis runs across invocations):
//   dWᵀ[m, co] = Σ_k A[m, k] · B[k, co] with
//   m  = (ci, r, s)                 M = c_in/groups·kh·kw
//   co = output channel in group    N = c_out/groups
//   k  = (img, oh, ow)              K = n·h_out·w_out
//   A[m, k] = x[img, grp·cg + ci, oh·sh − pt + r·dh, ow·sw − pl + s·dw]  (0 in the padding)
//   B[k, co] = dy[img, grp·cog + co, oh, ow]
// K is cut into `splits` chunks of `rows_per_split` output rows (img, oh) × `cols_per_split`
// output columns (chunk s: row block s / col_splits, column block s mod col_splits); each
// chunk writes its partial dW to its own slice of `parts`, and conv2d_reduce.wgsl::sum_splits
// adds the slices in a fixed order. No float atomics: two runs give the same bits.
// A chunk's rows run in K-slices [k_begin, k_end) (common/conv2d_params.wgsl); loop passes per
// invocation (every loop rolled, gpu/loops.rs): 2 + (MR + 1) + cols_per_split·(step + 1) per
// row, plus the set-up and epilogue of conv2d_forward.wgsl's register kernel (step as there).
//
// Bindings: 0 Params; 1 x [n, c_in, h_in, w_in]; 2 dy [n, c_out, h_out, w_out];
//           3 parts [splits, c_out, c_in/groups, kh, kw] (dw itself when splits = 1).
// Overrides: WG invocations per workgroup; MR × NR register tile (≤ MR_MAX × NR_MAX), chosen
//            per adapter.
// One invocation: MR taps (WG apart) × NR consecutive output channels, in registers.
// Grid: x·y (folded) = ceil(M / (WG·MR)), z = splits · groups · ceil(cog / NR).

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> parts: array<f32>;

override WG: u32 = 64u;
// The register tile: MR pixels × NR channels per invocation, chosen per adapter (the driver's
// compiler unrolls the loops once the values are fixed). Arrays are sized for the largest tile.
override MR: u32 = 4u;
override NR: u32 = 8u;
const MR_MAX: u32 = 16u;
const NR_MAX: u32 = 16u;

@compute @workgroup_size(WG)
fn backward_filter(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let khkw = p.kh * p.kw;
    let m_total = cg * khkw;
    let n_tiles = (cog + NR - 1u) / NR;
    let tile = wid.z % n_tiles;
    let grp = (wid.z / n_tiles) % p.groups;
    let split = wid.z / (n_tiles * p.groups);
    let co0 = tile * NR;
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    if (m0 >= m_total) {
        return;
    }
    // This dispatch's K-slice: rows [k_begin, k_end) of the chunk's rows_per_split.
    let rows = p.n * p.h_out;
    let chunk0 = (split / p.col_splits) * p.rows_per_split;
    let row0 = chunk0 + p.k_begin;
    let row1 = min(chunk0 + p.k_end, rows);
    let ow0 = (split % p.col_splits) * p.cols_per_split;
    let ow1 = min(ow0 + p.cols_per_split, p.w_out);

    // Per tap: its input channel's offset and its window offsets.
    var xoff: array<u32, MR_MAX>;
    var dr: array<i32, MR_MAX>;
    var ds: array<i32, MR_MAX>;
    for (var i = 0u; i < MR; i++) {
        let m = min(m0 + i * WG, m_total - 1u);
        let rs = m % khkw;
        xoff[i] = (grp * cg + m / khkw) * hw_in;
        dr[i] = i32((rs / p.kw) * p.dil_h) - i32(p.pad_top);
        ds[i] = i32((rs % p.kw) * p.dil_w) - i32(p.pad_left);
    }
    // Per channel: its dy plane (clamped channels are computed, not stored).
    var dycol: array<u32, NR_MAX>;
    for (var j = 0u; j < NR; j++) {
        dycol[j] = (grp * cog + min(co0 + j, cog - 1u)) * hw_out;
    }

    var acc: array<f32, MR_MAX * NR_MAX>;
    for (var row = row0; row < row1; row++) {
        let img = row / p.h_out;
        let oh = row % p.h_out;
        var xrow: array<u32, MR_MAX>;
        var row_ok: array<bool, MR_MAX>;
        for (var i = 0u; i < MR; i++) {
            let ih = u32(i32(oh * p.stride_h) + dr[i]);
            row_ok[i] = ih < p.h_in;
            xrow[i] = img * p.c_in * hw_in + xoff[i] + ih * p.w_in;
        }
        let dyrow = img * p.c_out * hw_out + oh * p.w_out;
        for (var ow = ow0; ow < ow1; ow++) {
            var a: array<f32, MR_MAX>;
            for (var i = 0u; i < MR; i++) {
                let iw = u32(i32(ow * p.stride_w) + ds[i]);
                if (row_ok[i] && iw < p.w_in) {
                    a[i] = x[xrow[i] + iw];
                }
            }
            for (var j = 0u; j < NR; j++) {
                let b = dy[dyrow + dycol[j] + ow];
                for (var i = 0u; i < MR; i++) {
                    acc[i * NR + j] = fma(a[i], b, acc[i * NR + j]);
                }
            }
        }
    }

    let slice = split * p.c_out * m_total;
    for (var i = 0u; i < MR; i++) {
        let m = m0 + i * WG;
        if (m < m_total) {
            for (var j = 0u; j < NR; j++) {
                let co = co0 + j;
                if (co < cog) {
                    parts[slice + (grp * cog + co) * m_total + m] = acc[i * NR + j];
                }
            }
        }
    }
}
