// conv2d 3×3, stride 1, one group, by Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015): each m×m block of outputs is
//   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
// with d_c the T×T input patch (T = m + 2) of channel c and g_c its 3×3 filter. The sum over
// channels is T² independent GEMMs, run by matmul.wgsl in batched form; this file holds the
// three transforms around it. m = 2 (T = 4) multiplies 2.25× less than direct convolution,
// m = 4 (T = 6) 4× less, at the cost of larger transform constants (see winograd.rs for the
// error bound the tests hold the kernels to).
//
// The same kernels compute the input gradient of a stride-1 3×3 convolution: dX is the
// convolution of dY with the filters rotated by 180° and in/out channels swapped (flip = 1),
// padded by 2 − pad (negative padding is a crop: pad_top/pad_left are signed).
//
// The filter gradient comes from the same identity read the other way (Σ_i dy_i·d_(i+r) is
// the same trilinear form as the forward's): per tile, dW = Gᵀ [(A dy Aᵀ) ⊙ (Bᵀ d B)] G
// with dy the m×m output-gradient block and d the forward's T×T input patch, summed over all
// tiles: T² GEMMs whose reduction runs over the tiles, split into `splits` chunks of `chunk`
// tiles (more GEMMs to spread over the device; the chunks are added in a fixed order).
//
// Layouts (this convolution's in/out channels I = c_in, O = c_out; P = n·tiles_h·tiles_w;
// a tile index t is (chunk s, position pc) with t = s·chunk + pc, S = splits, S·chunk ≥ P;
// forward and dX use one chunk of P):
//   filter_transform  w [O, I, 3, 3] (flip = 0) or [I, O, 3, 3] (flip = 1) → U [T², O, I]
//   input_transform   x [n, I, h_in, w_in]                      → V [T², S, I, chunk] (0 past P)
//   (matmul)          M[a] = U[a] · V[a]                                    → M [T², O, P]
//   output_transform  M → y [n, O, h_out, w_out], + bias, fused activation
//   dy_transform      dy [n, O, h_out, w_out]                   → D [T², S, O, chunk] (0 past P)
//   (matmul)          F[a, s] = V[a, s] · D[a, s]ᵀ                          → F [T², S, I, O]
//   filter_output     Σ_s F → dW [O, I, 3, 3]
// Bindings: 0 Params; 1 src; 2 bias (read when has_bias = 1); 3 dst.
// Overrides: WG invocations per workgroup; T = m + 2, 4 or 6. With T fixed the driver unrolls
// the transforms and the zero coefficients drop out (the `!= 0.0` tests fold away).
// Grid: x·y (folded) = ceil(invocations / WG); one invocation per (o, i) filter, (i, tile)
// input patch, or (o, tile) output block.

struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, tiles_h: u32,
    tiles_w: u32, pad_top: i32, pad_left: i32, flip: u32,
    has_bias: u32, act: u32, alpha: f32, chunk: u32,
    splits: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 64u;
override T: u32 = 4u;
const T_MAX: u32 = 6u;

// F(2×2, 3×3): interpolation points 0, 1, −1, ∞.
const BT2 = array<f32, 16>(
    1.0, 0.0, -1.0, 0.0,
    0.0, 1.0, 1.0, 0.0,
    0.0, -1.0, 1.0, 0.0,
    0.0, 1.0, 0.0, -1.0,
);
const G2 = array<f32, 12>(
    1.0, 0.0, 0.0,
    0.5, 0.5, 0.5,
    0.5, -0.5, 0.5,
    0.0, 0.0, 1.0,
);
const AT2 = array<f32, 8>(
    1.0, 1.0, 1.0, 0.0,
    0.0, 1.0, -1.0, -1.0,
);
// F(4×4, 3×3): interpolation points 0, ±1, ±2, ∞.
const BT4 = array<f32, 36>(
    4.0, 0.0, -5.0, 0.0, 1.0, 0.0,
    0.0, -4.0, -4.0, 1.0, 1.0, 0.0,
    0.0, 4.0, -4.0, -1.0, 1.0, 0.0,
    0.0, -2.0, -1.0, 2.0, 1.0, 0.0,
    0.0, 2.0, -1.0, -2.0, 1.0, 0.0,
    0.0, 4.0, 0.0, -5.0, 0.0, 1.0,
);
const G4 = array<f32, 18>(
    0.25, 0.0, 0.0,
    -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
    -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
    1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
    1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
    0.0, 0.0, 1.0,
);
const AT4 = array<f32, 24>(
    1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
    0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
    0.0, 1.0, 1.0, 4.0, 4.0, 0.0,
    0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
);

// Bᵀ[i][j] (T×T), G[i][j] (T×3), Aᵀ[i][j] (m×T) of the variant T selects.
fn bt(i: u32, j: u32) -> f32 {
    if (T == 4u) { return BT2[i * 4u + j]; }
    return BT4[i * 6u + j];
}
fn gm(i: u32, j: u32) -> f32 {
    if (T == 4u) { return G2[i * 3u + j]; }
    return G4[i * 3u + j];
}
fn at(i: u32, j: u32) -> f32 {
    if (T == 4u) { return AT2[i * 4u + j]; }
    return AT4[i * 6u + j];
}

fn invocation(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Where invocation `id` of a transform into the chunked layout [T²][S][channels][chunk] writes:
// its channel, its tile t (t ≥ P past the last tile: zeros), the offset of its element within
// each of the T² planes, and the plane's size.
struct Slot {
    channel: u32,
    t: u32,
    at: u32,
    plane: u32,
}

fn slot(id: u32, channels: u32) -> Slot {
    let padded = p.splits * p.chunk;
    let channel = id / padded;
    let t = id % padded;
    let s = t / p.chunk;
    return Slot(channel, t, (s * channels + channel) * p.chunk + t - s * p.chunk, channels * padded);
}

// Matrix `which` (0 Bᵀ, 1 G, 2 Aᵀ) at [i][j], or at [j][i] when `transposed`.
fn coef(which: u32, transposed: bool, i: u32, j: u32) -> f32 {
    let r = select(i, j, transposed);
    let c = select(j, i, transposed);
    switch which {
        case 0u: { return bt(r, c); }
        case 1u: { return gm(r, c); }
        default: { return at(r, c); }
    }
}

// L·X for the rows×k matrix L = coef(which, transposed) and X (k×cols, row-major). Tiles are
// at most 6×6; every call site passes constants, so the loops unroll and zero terms vanish.
fn left(which: u32, transposed: bool, rows: u32, k: u32, cols: u32, x: ptr<function, array<f32, 36>>) -> array<f32, 36> {
    var out: array<f32, 36>;
    for (var i = 0u; i < rows; i++) {
        for (var j = 0u; j < cols; j++) {
            var v = 0.0;
            for (var q = 0u; q < k; q++) {
                let w = coef(which, transposed, i, q);
                if (w != 0.0) { v = fma(w, (*x)[q * cols + j], v); }
            }
            out[i * cols + j] = v;
        }
    }
    return out;
}

// X·Rᵀ for X (rows×k, row-major) and the cols×k matrix R = coef(which, transposed).
fn right(x: ptr<function, array<f32, 36>>, which: u32, transposed: bool, rows: u32, k: u32, cols: u32) -> array<f32, 36> {
    var out: array<f32, 36>;
    for (var i = 0u; i < rows; i++) {
        for (var j = 0u; j < cols; j++) {
            var v = 0.0;
            for (var q = 0u; q < k; q++) {
                let w = coef(which, transposed, j, q);
                if (w != 0.0) { v = fma((*x)[i * k + q], w, v); }
            }
            out[i * cols + j] = v;
        }
    }
    return out;
}

// U[a][o][i] = (G g Gᵀ)[a] for the filter of output channel o, input channel i.
@compute @workgroup_size(WG)
fn filter_transform(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let id = invocation(lid, wid, nwg);
    if (id >= p.c_out * p.c_in) {
        return;
    }
    let o = id / p.c_in;
    let i = id % p.c_in;
    var g: array<f32, 36>; // 3×3
    for (var r = 0u; r < 3u; r++) {
        for (var s = 0u; s < 3u; s++) {
            if (p.flip == 0u) {
                g[r * 3u + s] = src[id * 9u + r * 3u + s];
            } else {
                g[r * 3u + s] = src[(i * p.c_out + o) * 9u + (2u - r) * 3u + (2u - s)];
            }
        }
    }
    var gg = left(1u, false, T, 3u, 3u, &g); // G·g
    var u = right(&gg, 1u, false, T, 3u, T); // ·Gᵀ
    let plane = p.c_out * p.c_in;
    for (var a = 0u; a < T * T; a++) {
        dst[a * plane + id] = u[a];
    }
}

// V[a][i][tile] = (Bᵀ d B)[a] for the T×T patch of input channel i under the tile.
@compute @workgroup_size(WG)
fn input_transform(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tiles = p.tiles_h * p.tiles_w;
    let p_total = p.n * tiles;
    let id = invocation(lid, wid, nwg);
    if (id >= p.c_in * p.splits * p.chunk) {
        return;
    }
    let sl = slot(id, p.c_in);
    let c = sl.channel;
    let t = sl.t;
    if (t >= p_total) {
        for (var a = 0u; a < T * T; a++) {
            dst[a * sl.plane + sl.at] = 0.0;
        }
        return;
    }
    let img = t / tiles;
    let tt = t % tiles;
    let m = T - 2u;
    let ih0 = i32((tt / p.tiles_w) * m) - p.pad_top;
    let iw0 = i32((tt % p.tiles_w) * m) - p.pad_left;
    let base = (img * p.c_in + c) * p.h_in * p.w_in;
    var d: array<f32, 36>; // T×T, zero in the padding
    for (var r = 0u; r < T; r++) {
        // Negative coordinates wrap to huge u32 and fail the bound too.
        let ih = u32(ih0 + i32(r));
        for (var s = 0u; s < T; s++) {
            let iw = u32(iw0 + i32(s));
            if (ih < p.h_in && iw < p.w_in) {
                d[r * T + s] = src[base + ih * p.w_in + iw];
            }
        }
    }
    var bd = left(0u, false, T, T, T, &d); // Bᵀ·d
    var v = right(&bd, 0u, false, T, T, T); // ·B
    for (var a = 0u; a < T * T; a++) {
        dst[a * sl.plane + sl.at] = v[a];
    }
}

// y block = Aᵀ M A (+ bias, activation) for output channel o under the tile.
@compute @workgroup_size(WG)
fn output_transform(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tiles = p.tiles_h * p.tiles_w;
    let p_total = p.n * tiles;
    let id = invocation(lid, wid, nwg);
    if (id >= p.c_out * p_total) {
        return;
    }
    let o = id / p_total;
    let t = id % p_total;
    let img = t / tiles;
    let tt = t % tiles;
    let m = T - 2u;
    let plane = p.c_out * p_total;
    var mm: array<f32, 36>;
    for (var a = 0u; a < T * T; a++) {
        mm[a] = src[a * plane + id];
    }
    var am = left(2u, false, m, T, T, &mm); // Aᵀ·M, m×T
    var y = right(&am, 2u, false, m, T, m); // ·A, m×m
    var b0 = 0.0;
    if (p.has_bias != 0u) {
        b0 = bias[o];
    }
    let oh0 = (tt / p.tiles_w) * m;
    let ow0 = (tt % p.tiles_w) * m;
    let base = (img * p.c_out + o) * p.h_out * p.w_out;
    for (var i = 0u; i < m; i++) {
        let oh = oh0 + i;
        for (var j = 0u; j < m; j++) {
            let ow = ow0 + j;
            if (oh < p.h_out && ow < p.w_out) {
                dst[base + oh * p.w_out + ow] = activate(y[i * m + j] + b0, p.act, p.alpha);
            }
        }
    }
}

// D[a][s][o][pc] = (A dy Aᵀ)[a] for the m×m block of output-gradient channel o under tile t.
@compute @workgroup_size(WG)
fn dy_transform(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tiles = p.tiles_h * p.tiles_w;
    let p_total = p.n * tiles;
    let id = invocation(lid, wid, nwg);
    if (id >= p.c_out * p.splits * p.chunk) {
        return;
    }
    let sl = slot(id, p.c_out);
    let o = sl.channel;
    let t = sl.t;
    let m = T - 2u;
    var g: array<f32, 36>; // m×m, zero past the output's edge and past P
    if (t < p_total) {
        let img = t / tiles;
        let tt = t % tiles;
        let oh0 = (tt / p.tiles_w) * m;
        let ow0 = (tt % p.tiles_w) * m;
        let base = (img * p.c_out + o) * p.h_out * p.w_out;
        for (var i = 0u; i < m; i++) {
            for (var j = 0u; j < m; j++) {
                if (oh0 + i < p.h_out && ow0 + j < p.w_out) {
                    g[i * m + j] = src[base + (oh0 + i) * p.w_out + ow0 + j];
                }
            }
        }
    }
    var ag = left(2u, true, T, m, m, &g); // A·g, T×m
    var v = right(&ag, 2u, true, T, m, T); // ·Aᵀ
    for (var a = 0u; a < T * T; a++) {
        dst[a * sl.plane + sl.at] = v[a];
    }
}

// dW[o][i] = Gᵀ (Σ_s F[a][s][i][o]) G, the chunks added in order.
@compute @workgroup_size(WG)
fn filter_output(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let id = invocation(lid, wid, nwg);
    if (id >= p.c_out * p.c_in) {
        return;
    }
    let o = id / p.c_in;
    let i = id % p.c_in;
    let pair = p.c_in * p.c_out;
    var f: array<f32, 36>;
    for (var a = 0u; a < T * T; a++) {
        var v = 0.0;
        for (var s = 0u; s < p.splits; s++) {
            v += src[(a * p.splits + s) * pair + i * p.c_out + o];
        }
        f[a] = v;
    }
    var gf = left(1u, true, 3u, T, T, &f); // Gᵀ·F, 3×T
    var w = right(&gf, 1u, true, 3u, T, 3u); // ·G
    for (var k = 0u; k < 9u; k++) {
        dst[id * 9u + k] = w[k];
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
