// conv2d forward as an implicit GEMM over texels: the direct conv for software adapters.
//
// Lavapipe turns every storage-buffer load in a loop into a loop over the SIMD lanes (~96
// instructions a load), and a texel fetch into one vectorised call (~70 for 4 floats):
// matmul_texture.wgsl's finding. Here x and w are packed once into rgba32float textures
// (conv2d_texture_pack.wgsl), 4 input channels to a texel, and the K loop reads only texels.
// The padding is part of x's texture (zeros), so the loop has no bounds test: stride and
// dilation are only the coordinates fetched.
//
// dX runs this kernel too, as the stride-1 conv of dy spread by the strides with the filter
// flipped (gpu/texture.rs, backward_data_conv): its Params are that conv's.
//
// GEMM view, per group: C[m, co] = Σ_k A[m, k] · B[k, co], m = (img, oh, ow), co in the group,
// k = (r, s, c): channel c of tap (r, s), channels innermost so that 4 of them are one texel.
//
// forward  an 8 × 16 tile per invocation: pixels m0 + 64·i (i < 8), 16 consecutive output
//          channels from co_t. Per step (4 channels at one tap): 8 fetches of x, 16 of w (4
//          channels each), 512 multiply-adds into 32 vec4 variables (kept in registers across
//          the step, matmul_texture.wgsl). No early return: pixels past M and channels past
//          the group are clamped (computed, not stored); only the stores are guarded.
//          Grid: x·y (folded) = ⌈M / 512⌉, z = groups · ⌈cog / 16⌉.
// K-slices (common/conv2d_params.wgsl): unit u = (r·kw + s)·cg4 + c4, one step; loop passes
// per invocation, every loop counted rolled (gpu/loops.rs): (k_end − k_begin) + 1 in the K
// loop, 9 + 8·17 in the epilogue.
//
// Bindings: 0 Params; 1 bias [c_out] (read when has_bias = 1); 2 y [n, c_out, h_out, w_out];
//           3 x's texture; 4 w's texture (conv2d_texture_pack.wgsl).

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

@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var tx: texture_2d_array<f32>;
@group(0) @binding(4) var tw: texture_2d_array<f32>;

const WG: u32 = 64u;
const MR: u32 = 8u;
const NR: u32 = 16u;

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

// The texel of x's texture under the top-left tap of pixel m's window.
fn corner(m: u32, cells_x: u32) -> vec2<u32> {
    let hw_out = p.h_out * p.w_out;
    let img = m / hw_out;
    let pix = m % hw_out;
    let cx = (img % cells_x) * p.cell_w;
    let cy = (img / cells_x) * p.cell_h;
    return vec2<u32>(cx + (pix % p.w_out) * p.stride_w, cy + (pix / p.w_out) * p.stride_h);
}

@compute @workgroup_size(64)
fn forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_out = p.h_out * p.w_out;
    let m_total = p.n * hw_out;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let cg4 = (cg + 3u) / 4u;
    let b_width = (cog + 3u) / 4u;
    let n_tiles = (cog + NR - 1u) / NR;
    let grp = wid.z / n_tiles;
    let co_t = (wid.z % n_tiles) * NR;
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    let last = m_total - 1u;
    let cells_x = p.cells;
    let q0 = corner(min(m0 + 0u * WG, last), cells_x);
    let q1 = corner(min(m0 + 1u * WG, last), cells_x);
    let q2 = corner(min(m0 + 2u * WG, last), cells_x);
    let q3 = corner(min(m0 + 3u * WG, last), cells_x);
    let q4 = corner(min(m0 + 4u * WG, last), cells_x);
    let q5 = corner(min(m0 + 5u * WG, last), cells_x);
    let q6 = corner(min(m0 + 6u * WG, last), cells_x);
    let q7 = corner(min(m0 + 7u * WG, last), cells_x);
    let x0 = min(co_t / 4u + 0u, b_width - 1u);
    let x1 = min(co_t / 4u + 1u, b_width - 1u);
    let x2 = min(co_t / 4u + 2u, b_width - 1u);
    let x3 = min(co_t / 4u + 3u, b_width - 1u);
    var c00 = vec4<f32>(); var c01 = vec4<f32>(); var c02 = vec4<f32>(); var c03 = vec4<f32>();
    var c10 = vec4<f32>(); var c11 = vec4<f32>(); var c12 = vec4<f32>(); var c13 = vec4<f32>();
    var c20 = vec4<f32>(); var c21 = vec4<f32>(); var c22 = vec4<f32>(); var c23 = vec4<f32>();
    var c30 = vec4<f32>(); var c31 = vec4<f32>(); var c32 = vec4<f32>(); var c33 = vec4<f32>();
    var c40 = vec4<f32>(); var c41 = vec4<f32>(); var c42 = vec4<f32>(); var c43 = vec4<f32>();
    var c50 = vec4<f32>(); var c51 = vec4<f32>(); var c52 = vec4<f32>(); var c53 = vec4<f32>();
    var c60 = vec4<f32>(); var c61 = vec4<f32>(); var c62 = vec4<f32>(); var c63 = vec4<f32>();
    var c70 = vec4<f32>(); var c71 = vec4<f32>(); var c72 = vec4<f32>(); var c73 = vec4<f32>();
    var c4 = p.k_begin % cg4;
    let tap = p.k_begin / cg4;
    var r = tap / p.kw;
    var s = tap % p.kw;
    for (var u = p.k_begin; u < p.k_end; u++) {
        let off = vec2<u32>(s * p.dil_w, r * p.dil_h);
        let layer = grp * cg4 + c4;
        let a0 = textureLoad(tx, q0 + off, layer, 0);
        let a1 = textureLoad(tx, q1 + off, layer, 0);
        let a2 = textureLoad(tx, q2 + off, layer, 0);
        let a3 = textureLoad(tx, q3 + off, layer, 0);
        let a4 = textureLoad(tx, q4 + off, layer, 0);
        let a5 = textureLoad(tx, q5 + off, layer, 0);
        let a6 = textureLoad(tx, q6 + off, layer, 0);
        let a7 = textureLoad(tx, q7 + off, layer, 0);
        let k = 4u * u;
        let b00 = textureLoad(tw, vec2<u32>(x0, k + 0u), grp, 0);
        let b01 = textureLoad(tw, vec2<u32>(x1, k + 0u), grp, 0);
        let b02 = textureLoad(tw, vec2<u32>(x2, k + 0u), grp, 0);
        let b03 = textureLoad(tw, vec2<u32>(x3, k + 0u), grp, 0);
        let b10 = textureLoad(tw, vec2<u32>(x0, k + 1u), grp, 0);
        let b11 = textureLoad(tw, vec2<u32>(x1, k + 1u), grp, 0);
        let b12 = textureLoad(tw, vec2<u32>(x2, k + 1u), grp, 0);
        let b13 = textureLoad(tw, vec2<u32>(x3, k + 1u), grp, 0);
        let b20 = textureLoad(tw, vec2<u32>(x0, k + 2u), grp, 0);
        let b21 = textureLoad(tw, vec2<u32>(x1, k + 2u), grp, 0);
        let b22 = textureLoad(tw, vec2<u32>(x2, k + 2u), grp, 0);
        let b23 = textureLoad(tw, vec2<u32>(x3, k + 2u), grp, 0);
        let b30 = textureLoad(tw, vec2<u32>(x0, k + 3u), grp, 0);
        let b31 = textureLoad(tw, vec2<u32>(x1, k + 3u), grp, 0);
        let b32 = textureLoad(tw, vec2<u32>(x2, k + 3u), grp, 0);
        let b33 = textureLoad(tw, vec2<u32>(x3, k + 3u), grp, 0);
        c00 = fma(vec4(a0.w), b30, fma(vec4(a0.z), b20, fma(vec4(a0.y), b10, fma(vec4(a0.x), b00, c00))));
        c01 = fma(vec4(a0.w), b31, fma(vec4(a0.z), b21, fma(vec4(a0.y), b11, fma(vec4(a0.x), b01, c01))));
        c02 = fma(vec4(a0.w), b32, fma(vec4(a0.z), b22, fma(vec4(a0.y), b12, fma(vec4(a0.x), b02, c02))));
        c03 = fma(vec4(a0.w), b33, fma(vec4(a0.z), b23, fma(vec4(a0.y), b13, fma(vec4(a0.x), b03, c03))));
        c10 = fma(vec4(a1.w), b30, fma(vec4(a1.z), b20, fma(vec4(a1.y), b10, fma(vec4(a1.x), b00, c10))));
        c11 = fma(vec4(a1.w), b31, fma(vec4(a1.z), b21, fma(vec4(a1.y), b11, fma(vec4(a1.x), b01, c11))));
        c12 = fma(vec4(a1.w), b32, fma(vec4(a1.z), b22, fma(vec4(a1.y), b12, fma(vec4(a1.x), b02, c12))));
        c13 = fma(vec4(a1.w), b33, fma(vec4(a1.z), b23, fma(vec4(a1.y), b13, fma(vec4(a1.x), b03, c13))));
        c20 = fma(vec4(a2.w), b30, fma(vec4(a2.z), b20, fma(vec4(a2.y), b10, fma(vec4(a2.x), b00, c20))));
        c21 = fma(vec4(a2.w), b31, fma(vec4(a2.z), b21, fma(vec4(a2.y), b11, fma(vec4(a2.x), b01, c21))));
        c22 = fma(vec4(a2.w), b32, fma(vec4(a2.z), b22, fma(vec4(a2.y), b12, fma(vec4(a2.x), b02, c22))));
        c23 = fma(vec4(a2.w), b33, fma(vec4(a2.z), b23, fma(vec4(a2.y), b13, fma(vec4(a2.x), b03, c23))));
        c30 = fma(vec4(a3.w), b30, fma(vec4(a3.z), b20, fma(vec4(a3.y), b10, fma(vec4(a3.x), b00, c30))));
        c31 = fma(vec4(a3.w), b31, fma(vec4(a3.z), b21, fma(vec4(a3.y), b11, fma(vec4(a3.x), b01, c31))));
        c32 = fma(vec4(a3.w), b32, fma(vec4(a3.z), b22, fma(vec4(a3.y), b12, fma(vec4(a3.x), b02, c32))));
        c33 = fma(vec4(a3.w), b33, fma(vec4(a3.z), b23, fma(vec4(a3.y), b13, fma(vec4(a3.x), b03, c33))));
        c40 = fma(vec4(a4.w), b30, fma(vec4(a4.z), b20, fma(vec4(a4.y), b10, fma(vec4(a4.x), b00, c40))));
        c41 = fma(vec4(a4.w), b31, fma(vec4(a4.z), b21, fma(vec4(a4.y), b11, fma(vec4(a4.x), b01, c41))));
        c42 = fma(vec4(a4.w), b32, fma(vec4(a4.z), b22, fma(vec4(a4.y), b12, fma(vec4(a4.x), b02, c42))));
        c43 = fma(vec4(a4.w), b33, fma(vec4(a4.z), b23, fma(vec4(a4.y), b13, fma(vec4(a4.x), b03, c43))));
        c50 = fma(vec4(a5.w), b30, fma(vec4(a5.z), b20, fma(vec4(a5.y), b10, fma(vec4(a5.x), b00, c50))));
        c51 = fma(vec4(a5.w), b31, fma(vec4(a5.z), b21, fma(vec4(a5.y), b11, fma(vec4(a5.x), b01, c51))));
        c52 = fma(vec4(a5.w), b32, fma(vec4(a5.z), b22, fma(vec4(a5.y), b12, fma(vec4(a5.x), b02, c52))));
        c53 = fma(vec4(a5.w), b33, fma(vec4(a5.z), b23, fma(vec4(a5.y), b13, fma(vec4(a5.x), b03, c53))));
        c60 = fma(vec4(a6.w), b30, fma(vec4(a6.z), b20, fma(vec4(a6.y), b10, fma(vec4(a6.x), b00, c60))));
        c61 = fma(vec4(a6.w), b31, fma(vec4(a6.z), b21, fma(vec4(a6.y), b11, fma(vec4(a6.x), b01, c61))));
        c62 = fma(vec4(a6.w), b32, fma(vec4(a6.z), b22, fma(vec4(a6.y), b12, fma(vec4(a6.x), b02, c62))));
        c63 = fma(vec4(a6.w), b33, fma(vec4(a6.z), b23, fma(vec4(a6.y), b13, fma(vec4(a6.x), b03, c63))));
        c70 = fma(vec4(a7.w), b30, fma(vec4(a7.z), b20, fma(vec4(a7.y), b10, fma(vec4(a7.x), b00, c70))));
        c71 = fma(vec4(a7.w), b31, fma(vec4(a7.z), b21, fma(vec4(a7.y), b11, fma(vec4(a7.x), b01, c71))));
        c72 = fma(vec4(a7.w), b32, fma(vec4(a7.z), b22, fma(vec4(a7.y), b12, fma(vec4(a7.x), b02, c72))));
        c73 = fma(vec4(a7.w), b33, fma(vec4(a7.z), b23, fma(vec4(a7.y), b13, fma(vec4(a7.x), b03, c73))));
        c4++;
        if (c4 == cg4) {
            c4 = 0u;
            s++;
            if (s == p.kw) {
                s = 0u;
                r++;
            }
        }
    }
    // Rolled: 128 guarded stores unrolled would triple the compile time.
    var sums = array<vec4<f32>, 32>(
        c00, c01, c02, c03,
        c10, c11, c12, c13,
        c20, c21, c22, c23,
        c30, c31, c32, c33,
        c40, c41, c42, c43,
        c50, c51, c52, c53,
        c60, c61, c62, c63,
        c70, c71, c72, c73,
    );
    for (var i = 0u; i < rolled(MR, nwg); i++) {
        let m = m0 + i * WG;
        if (m < m_total) {
            let img = m / hw_out;
            let pix = m % hw_out;
            for (var j = 0u; j < rolled(NR, nwg); j++) {
                let co = co_t + j;
                if (co < cog) {
                    let ch = grp * cog + co;
                    var v = sums[i * 4u + j / 4u][j % 4u];
                    if (p.has_bias != 0u) {
                        v += bias[ch];
                    }
                    y[(img * p.c_out + ch) * hw_out + pix] = activate(v, p.act, p.alpha);
                }
            }
        }
    }
}
