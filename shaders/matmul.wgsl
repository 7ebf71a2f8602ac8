// C = A·B (+ bias) with any strides, register-blocked: dense layers and their gradients.
//
//   C[m·c_m + n·c_n] = Σ_k A[m·a_m + k·a_k] · B[k·b_k + n·b_n] (+ bias[m·bias_m + n·bias_n]
//   when has_bias = 1). Transposes are only other strides, so no branch reads them; the host
//   also solves Cᵀ = Bᵀ·Aᵀ through the strides when that puts the longer side across the
//   invocations. `batch` independent products run in one dispatch, the b-th offset by
//   b·a_b, b·b_b and b·c_b (Winograd's T² products; batch = 1 for a plain product).
//
// Bindings: 0 Params; 1 a; 2 b; 3 bias (read when has_bias = 1); 4 c [M, N].
// Overrides: WG invocations per workgroup; MR × NR register tile (rows WG apart × consecutive
//            columns), chosen per adapter like conv2d's (≤ MR_MAX × NR_MAX).
// No workgroup memory (fast on software adapters; a shared-memory variant is open work).
// Grid: x·y (folded) = ceil(M / (WG·MR)), z = batch · ceil(N / NR).

struct Params {
    m: u32, n: u32, k: u32, has_bias: u32,
    a_m: u32, a_k: u32, b_k: u32, b_n: u32,
    c_m: u32, c_n: u32, bias_m: u32, bias_n: u32,
    batch: u32, a_b: u32, b_b: u32, c_b: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

override WG: u32 = 64u;
override MR: u32 = 4u;
override NR: u32 = 8u;
const MR_MAX: u32 = 16u;
const NR_MAX: u32 = 16u;

@compute @workgroup_size(WG)
fn matmul(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    if (m0 >= p.m) {
        return;
    }
    let n_tiles = (p.n + NR - 1u) / NR;
    let bat = wid.z / n_tiles;
    let n0 = (wid.z % n_tiles) * NR;
    // Rows and columns past the edge are clamped: computed, not stored.
    var arow: array<u32, MR_MAX>;
    for (var i = 0u; i < MR; i++) {
        arow[i] = bat * p.a_b + min(m0 + i * WG, p.m - 1u) * p.a_m;
    }
    var bcol: array<u32, NR_MAX>;
    for (var j = 0u; j < NR; j++) {
        bcol[j] = bat * p.b_b + min(n0 + j, p.n - 1u) * p.b_n;
    }
    var acc: array<f32, MR_MAX * NR_MAX>;
    for (var k = 0u; k < p.k; k++) {
        var av: array<f32, MR_MAX>;
        for (var i = 0u; i < MR; i++) {
            av[i] = a[arow[i] + k * p.a_k];
        }
        let bk = k * p.b_k;
        for (var j = 0u; j < NR; j++) {
            let bv = b[bk + bcol[j]];
            for (var i = 0u; i < MR; i++) {
                acc[i * NR + j] = fma(av[i], bv, acc[i * NR + j]);
            }
        }
    }
    for (var i = 0u; i < MR; i++) {
        let row = m0 + i * WG;
        if (row < p.m) {
            for (var j = 0u; j < NR; j++) {
                let col = n0 + j;
                if (col < p.n) {
                    var v = acc[i * NR + j];
                    if (p.has_bias != 0u) {
                        v += bias[row * p.bias_m + col * p.bias_n];
                    }
                    c[bat * p.c_b + row * p.c_m + col * p.c_n] = v;
                }
            }
        }
    }
}
