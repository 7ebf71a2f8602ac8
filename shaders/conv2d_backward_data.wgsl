// conv2d backward data (dX) as an implicit GEMM on the transposed problem, register-blocked.
//
// GEMM view, per group: dX[m, ci] = Σ_k A[m, k] · B[k, ci] with
//   m  = (img, ih, iw)             M = n·h_in·w_in
//   ci = input channel in group    N = c_in/groups
//   k  = (co, r, s)                K = c_out/groups·kh·kw
//   A[m, k] = dy[img, grp·cog + co, oh, ow] where ih + pt − r·dh = oh·sh and
//             iw + pl − s·dw = ow·sw land on the output grid, else 0
//   B[k, ci] = w[grp·cog + co, ci, r, s]
// No col2im buffer: every dX element gathers its own terms, so no atomics are needed.
// K-slices (common/conv2d_params.wgsl): units are segments of window rows (co, r); loop passes per
// invocation (every loop rolled, gpu/loops.rs) at most 2 + (MR + 1) + seg·(step + 1) per unit,
// plus the set-up and epilogue of conv2d_forward.wgsl's register kernel (step as there).
//
// Stride phases: with stride > 1 most taps miss the output grid. Pixels are grouped by
// phase (ph, pw) = ((ih + pt) mod sh, (iw + pl) mod sw); within one phase a tap either lands
// for every pixel or for none, so whole taps are skipped without divergence and no
// multiply-add is spent on the zeros. With t = ih + pt = q·sh + ph, tap r lands iff
// (ph − r·dh) mod sh = 0, at oh = q + (ph − r·dh) / sh.
//
// Bindings: 0 Params; 1 dy [n, c_out, h_out, w_out]; 2 w [c_out, c_in/groups, kh, kw];
//           3 dx [n, c_in, h_in, w_in].
// Overrides: WG invocations per workgroup; MR × NR register tile (≤ MR_MAX × NR_MAX), chosen
//            per adapter.
// One invocation: MR input pixels of one phase (WG apart) × NR consecutive input channels.
// Grid: x·y (folded) = ceil(n·QH·QW / (WG·MR)) with QH = ceil(h_in / sh), QW = ceil(w_in / sw);
//       z = sh·sw phases · groups · ceil(cg / NR).

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
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;
// The register tile: MR pixels × NR channels per invocation, chosen per adapter (the driver's
// compiler unrolls the loops once the values are fixed). Arrays are sized for the largest tile.
override MR: u32 = 4u;
override NR: u32 = 8u;
const MR_MAX: u32 = 16u;
const NR_MAX: u32 = 16u;

// First q of phase `ph` whose pixel lies inside the input (ih = q·stride + ph − pad ≥ 0).
fn first_q(ph: u32, pad: u32, stride: u32) -> u32 {
    return select(0u, (pad - ph + stride - 1u) / stride, pad > ph);
}

@compute @workgroup_size(WG)
fn backward_data(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let khkw = p.kh * p.kw;
    let n_tiles = (cg + NR - 1u) / NR;
    let tile = wid.z % n_tiles;
    let grp = (wid.z / n_tiles) % p.groups;
    let phase = wid.z / (n_tiles * p.groups);
    let ph = phase / p.stride_w;
    let pw = phase % p.stride_w;
    let ci0 = tile * NR;
    let qh_len = (p.h_in + p.stride_h - 1u) / p.stride_h;
    let qw_len = (p.w_in + p.stride_w - 1u) / p.stride_w;
    let m_total = p.n * qh_len * qw_len;
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    if (m0 >= m_total) {
        return;
    }
    let qh0 = first_q(ph, p.pad_top, p.stride_h);
    let qw0 = first_q(pw, p.pad_left, p.stride_w);

    // Per pixel: its (q_h, q_w) on the phase grid, its dx offset (or none) and dy base.
    var qh: array<i32, MR_MAX>;
    var qw: array<i32, MR_MAX>;
    var dst: array<i32, MR_MAX>;
    var dybase: array<u32, MR_MAX>;
    for (var i = 0u; i < MR; i++) {
        let m = min(m0 + i * WG, m_total - 1u);
        let img = m / (qh_len * qw_len);
        let rem = m % (qh_len * qw_len);
        let q_h = qh0 + rem / qw_len;
        let q_w = qw0 + rem % qw_len;
        qh[i] = i32(q_h);
        qw[i] = i32(q_w);
        let ih = q_h * p.stride_h + ph - p.pad_top;
        let iw = q_w * p.stride_w + pw - p.pad_left;
        let inside = m0 + i * WG < m_total && ih < p.h_in && iw < p.w_in;
        dst[i] = select(-1, i32(img * p.c_in * hw_in + ih * p.w_in + iw), inside);
        dybase[i] = (img * p.c_out + grp * cog) * hw_out;
    }
    // Per channel: its weight column base (clamped channels are computed, not stored).
    var wcol: array<u32, NR_MAX>;
    for (var j = 0u; j < NR; j++) {
        wcol[j] = (grp * cog * cg + min(ci0 + j, cg - 1u)) * khkw;
    }

    var acc: array<f32, MR_MAX * NR_MAX>;
    // Units u = (co·kh + r)·segs + g: segment g of window row (co, r) (common/conv2d_params.wgsl).
    var g = p.k_begin % p.segs;
    let row = p.k_begin / p.segs;
    var co = row / p.kh;
    var r = row % p.kh;
    for (var u = p.k_begin; u < p.k_end; u++) {
        // Tap r lands iff (ph − r·dh) mod sh = 0; reduce r·dh first so nothing overflows.
        if ((ph + p.stride_h - (r * p.dil_h) % p.stride_h) % p.stride_h == 0u) {
            let dyc = co * hw_out;
            let wco = co * cg * khkw;
            let off_h = (i32(ph) - i32(r * p.dil_h)) / i32(p.stride_h);
            var orow: array<i32, MR_MAX>;
            for (var i = 0u; i < MR; i++) {
                let oh = qh[i] + off_h;
                orow[i] = select(-1, oh * i32(p.w_out), oh >= 0 && oh < i32(p.h_out));
            }
            let s0 = g * p.seg;
            for (var s = s0; s < min(s0 + p.seg, p.kw); s++) {
                if ((pw + p.stride_w - (s * p.dil_w) % p.stride_w) % p.stride_w != 0u) {
                    continue;
                }
                let off_w = (i32(pw) - i32(s * p.dil_w)) / i32(p.stride_w);
                var a: array<f32, MR_MAX>;
                for (var i = 0u; i < MR; i++) {
                    let ow = qw[i] + off_w;
                    if (orow[i] >= 0 && ow >= 0 && ow < i32(p.w_out)) {
                        a[i] = dy[dybase[i] + dyc + u32(orow[i] + ow)];
                    }
                }
                let wk = wco + r * p.kw + s;
                for (var j = 0u; j < NR; j++) {
                    let b = w[wcol[j] + wk];
                    for (var i = 0u; i < MR; i++) {
                        acc[i * NR + j] = fma(a[i], b, acc[i * NR + j]);
                    }
                }
            }
        }
        g++;
        if (g == p.segs) {
            g = 0u;
            r++;
            if (r == p.kh) {
                r = 0u;
                co++;
            }
        }
    }

    for (var i = 0u; i < MR; i++) {
        if (dst[i] >= 0) {
            for (var j = 0u; j < NR; j++) {
                let ci = ci0 + j;
                if (ci < cg) {
                    dx[u32(dst[i]) + (grp * cg + ci) * hw_in] = acc[i * NR + j];
                }
            }
        }
    }
}
