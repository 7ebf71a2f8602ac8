// conv2d forward as an implicit GEMM, register-blocked.
//
// GEMM view, per group: C[m, co] = Σ_k A[m, k] · B[k, co] with
//   m  = (img, oh, ow)              M = n·h_out·w_out
//   co = output channel in group    N = c_out/groups
//   k  = (c, r, s)                  K = c_in/groups·kh·kw
//   A[m, k] = x[img, grp·cg + c, oh·sh − pt + r·dh, ow·sw − pl + s·dw]  (0 in the padding)
//   B[k, co] = w[grp·cog + co, c, r, s]
// No im2col buffer: A is read straight from x.
//
// K-slices (common/conv2d_params.wgsl) and loop passes per invocation, every loop counted rolled
// (gpu/loops.rs), with step = (MR + 1) + (NR + 1) + NR·(MR + 1) per multiply-accumulate step:
//   forward        unit: segments of window rows (c, r), 2 + seg·(step + 1) passes each
//                  (POINTWISE: channels, step + 1 each); (MR + 1) + (NR + 1) set-up,
//                  (MR + 1) + MR·(NR + 1) epilogue, 1 exit
//   forward_tiled  unit: taps k; 508 passes per BK = 16 of them (1 + 2·5 staging + 17 + 16·30),
//                  37 outside
//
// Bindings: 0 Params (uniform); 1 x [n, c_in, h_in, w_in]; 2 w [c_out, c_in/groups, kh, kw];
//           3 bias [c_out] (read only when has_bias = 1); 4 y [n, c_out, h_out, w_out].
//
// Two entry points, for the two kinds of adapter:
// forward        register-blocked. One invocation computes MR output pixels (WG apart, so
//                neighbouring invocations touch neighbouring pixels) × NR consecutive output
//                channels, all in registers, with no workgroup memory: on software adapters
//                (lavapipe) barriers cost more than they save.
//                Overrides: WG invocations per workgroup; POINTWISE 1 for 1×1 / stride 1 / no
//                padding (A is x itself, no window arithmetic); MR × NR register tile
//                (≤ MR_MAX × NR_MAX), chosen per adapter.
//                Grid: x·y (folded) = ceil(M / (WG·MR)) blocks, z = groups · ceil(cog / NR).
// forward_tiled  workgroup-memory tiles for hardware GPUs. A workgroup of 16×16 invocations
//                computes a BM×BN = 64×64 tile of C; per step of BK along K it stages A[BM×BK]
//                and B[BK×BN] in workgroup memory (each invocation loads BM·BK/256 elements
//                of each), then each invocation accumulates a TM×TN = 4×4 micro-tile in
//                registers (pixels 16 apart, channels 16 apart, so stores stay coalesced).
//                Overrides: BK (depth of a staged step).
//                Grid: x·y (folded) = ceil(M / BM), z = groups · ceil(cog / BN).

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
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
override POINTWISE: u32 = 0u;
// The register tile: MR pixels × NR channels per invocation, chosen per adapter (the driver's
// compiler unrolls the loops once the values are fixed). Arrays are sized for the largest tile.
override MR: u32 = 4u;
override NR: u32 = 8u;
const MR_MAX: u32 = 16u;
const NR_MAX: u32 = 16u;

@compute @workgroup_size(WG)
fn forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let m_total = p.n * hw_out;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let k_len = cg * p.kh * p.kw;
    let n_tiles = (cog + NR - 1u) / NR;
    let grp = wid.z / n_tiles;
    let co0 = grp * cog + (wid.z % n_tiles) * NR;
    let co_end = (grp + 1u) * cog;
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    if (m0 >= m_total) {
        return;
    }

    // Per pixel: top-left of its window in x and its image's channel-group base.
    var ih0: array<i32, MR_MAX>;
    var iw0: array<i32, MR_MAX>;
    var xbase: array<u32, MR_MAX>;
    for (var i = 0u; i < MR; i++) {
        let m = min(m0 + i * WG, m_total - 1u);
        let img = m / hw_out;
        let pix = m % hw_out;
        ih0[i] = i32((pix / p.w_out) * p.stride_h) - i32(p.pad_top);
        iw0[i] = i32((pix % p.w_out) * p.stride_w) - i32(p.pad_left);
        xbase[i] = (img * p.c_in + grp * cg) * hw_in + select(0u, pix, POINTWISE != 0u);
    }
    // Per channel: its weight row. Channels past the group are clamped, computed, not stored.
    var wrow: array<u32, NR_MAX>;
    for (var j = 0u; j < NR; j++) {
        wrow[j] = min(co0 + j, co_end - 1u) * k_len;
    }

    var acc: array<f32, MR_MAX * NR_MAX>;
    if (POINTWISE != 0u) {
        for (var c = p.k_begin; c < p.k_end; c++) {
            var a: array<f32, MR_MAX>;
            for (var i = 0u; i < MR; i++) {
                a[i] = x[xbase[i] + c * hw_in];
            }
            for (var j = 0u; j < NR; j++) {
                let b = w[wrow[j] + c];
                for (var i = 0u; i < MR; i++) {
                    acc[i * NR + j] = fma(a[i], b, acc[i * NR + j]);
                }
            }
        }
    } else {
        // Units u = (c·kh + r)·segs + g: segment g of window row (c, r) (common/conv2d_params.wgsl);
        // k = (c·kh + r)·kw + s indexes the weight row.
        var g = p.k_begin % p.segs;
        let row = p.k_begin / p.segs;
        var c = row / p.kh;
        var r = row % p.kh;
        for (var u = p.k_begin; u < p.k_end; u++) {
            let xc = c * hw_in;
            let dr = i32(r * p.dil_h);
            let s0 = g * p.seg;
            let s1 = min(s0 + p.seg, p.kw);
            var k = (c * p.kh + r) * p.kw + s0;
            for (var s = s0; s < s1; s++) {
                let ds = i32(s * p.dil_w);
                var a: array<f32, MR_MAX>;
                for (var i = 0u; i < MR; i++) {
                    // Negative coordinates wrap to huge u32 and fail the bound too.
                    let ih = u32(ih0[i] + dr);
                    let iw = u32(iw0[i] + ds);
                    if (ih < p.h_in && iw < p.w_in) {
                        a[i] = x[xbase[i] + xc + ih * p.w_in + iw];
                    }
                }
                for (var j = 0u; j < NR; j++) {
                    let b = w[wrow[j] + k];
                    for (var i = 0u; i < MR; i++) {
                        acc[i * NR + j] = fma(a[i], b, acc[i * NR + j]);
                    }
                }
                k++;
            }
            g++;
            if (g == p.segs) {
                g = 0u;
                r++;
                if (r == p.kh) {
                    r = 0u;
                    c++;
                }
            }
        }
    }

    for (var i = 0u; i < MR; i++) {
        let m = m0 + i * WG;
        if (m < m_total) {
            let img = m / hw_out;
            let pix = m % hw_out;
            for (var j = 0u; j < NR; j++) {
                let co = co0 + j;
                if (co < co_end) {
                    var v = acc[i * NR + j];
                    if (p.has_bias != 0u) {
                        v += bias[co];
                    }
                    y[(img * p.c_out + co) * hw_out + pix] = activate(v, p.act, p.alpha);
                }
            }
        }
    }
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const TILE_THREADS: u32 = 256u; // (BM / 4) · (BN / 4)
override BK: u32 = 16u;

var<workgroup> a_tile: array<f32, BK * BM>; // [k][m]
var<workgroup> b_tile: array<f32, BK * BN>; // [k][co]

@compute @workgroup_size(256)
fn forward_tiled(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let m_total = p.n * hw_out;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let khkw = p.kh * p.kw;
    let k_len = cg * khkw;
    let n_tiles = (cog + BN - 1u) / BN;
    let grp = wid.z / n_tiles;
    let co_base = grp * cog + (wid.z % n_tiles) * BN;
    let co_end = (grp + 1u) * cog;
    let m_base = (wid.x + wid.y * nwg.x) * BM;
    // Uniform for the whole workgroup, so the barriers below stay in uniform control flow.
    if (m_base >= m_total) {
        return;
    }

    // The pixel this invocation stages into a_tile, and the rows of K it stages.
    let m_load = m_base + lid % BM;
    let m_ok = m_load < m_total;
    let mc = min(m_load, m_total - 1u);
    let pix_l = mc % hw_out;
    let ih0 = i32((pix_l / p.w_out) * p.stride_h) - i32(p.pad_top);
    let iw0 = i32((pix_l % p.w_out) * p.stride_w) - i32(p.pad_left);
    let xbase = (mc / hw_out * p.c_in + grp * cg) * hw_in;
    let k_row = lid / BM;                 // 0 .. TILE_THREADS / BM
    const rows_per_pass = TILE_THREADS / BM;
    // The channel this invocation stages into b_tile, and its first K column.
    let co_load = co_base + lid % BN;
    let co_ok = co_load < co_end;
    let k_col = lid / BN;
    const cols_per_pass = TILE_THREADS / BN;

    let tx = lid % 16u; // pixel direction
    let ty = lid / 16u; // channel direction
    var acc: array<f32, 16>; // [i · 4 + j]: pixel tx + 16·i, channel ty + 16·j

    // The staging loops run a constant BK / rows_per_pass (columns: BK / cols_per_pass) times,
    // so they unroll and cost no loop passes.
    for (var k0 = p.k_begin; k0 < p.k_end; k0 += BK) {
        for (var q = 0u; q < BK / rows_per_pass; q++) {
            let kr = k_row + q * rows_per_pass;
            let k = k0 + kr;
            var v = 0.0;
            if (m_ok && k < p.k_end) {
                let c = k / khkw;
                let rs = k % khkw;
                let ih = u32(ih0 + i32((rs / p.kw) * p.dil_h));
                let iw = u32(iw0 + i32((rs % p.kw) * p.dil_w));
                if (ih < p.h_in && iw < p.w_in) {
                    v = x[xbase + c * hw_in + ih * p.w_in + iw];
                }
            }
            a_tile[kr * BM + lid % BM] = v;
        }
        for (var q = 0u; q < BK / cols_per_pass; q++) {
            let kc = k_col + q * cols_per_pass;
            let k = k0 + kc;
            var v = 0.0;
            if (co_ok && k < p.k_end) {
                v = w[co_load * k_len + k];
            }
            b_tile[kc * BN + lid % BN] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = a_tile[kk * BM + tx + 16u * i];
                b[i] = b_tile[kk * BN + ty + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let m = m_base + tx + 16u * i;
        if (m < m_total) {
            let img = m / hw_out;
            let pix = m % hw_out;
            for (var j = 0u; j < 4u; j++) {
                let co = co_base + ty + 16u * j;
                if (co < co_end) {
                    var v = acc[i * 4u + j];
                    if (p.has_bias != 0u) {
                        v += bias[co];
                    }
                    y[(img * p.c_out + co) * hw_out + pix] = activate(v, p.act, p.alpha);
                }
            }
        }
    }
}

// #include common/activation.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The fused activation of the conv epilogues (act: 0 none, 1 ReLU, 2 LeakyReLU(alpha),
// 3 ELU(alpha), 4 tanh, 5 sigmoid, 6 ReLU6), in the same overflow-free forms as elementwise.wgsl.
// A NaN stays NaN for every activation (PyTorch); tested on the bits, since WGSL leaves NaN
// comparisons and max / min to the implementation, and chosen with a select (no per-lane
// branch in the epilogue).
fn activate(v: f32, act: u32, alpha: f32) -> f32 {
    var y = v;
    switch act {
        case 0u: { y = v; }
        case 1u: { y = max(v, 0.0); }
        case 2u: { y = select(alpha * v, v, v > 0.0); }
        case 3u: { y = select(alpha * (exp(min(v, 0.0)) - 1.0), v, v > 0.0); }
        case 4u: { let e = exp(-2.0 * abs(v)); y = sign(v) * (1.0 - e) / (1.0 + e); }
        case 6u: { y = min(max(v, 0.0), 6.0); }
        default: { let e = exp(-abs(v)); y = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0); }
    }
    return select(y, v, (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u);
}
// #end common/activation.wgsl
