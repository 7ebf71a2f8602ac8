// C = A·B (+ bias) with any strides: dense layers and their gradients, Winograd's GEMMs.
//
//   C[m·c_m + n·c_n] = Σ_{k < K} A[m·a_m + k·a_k] · B[k·b_k + n·b_n] (+ bias[m·bias_m + n·bias_n]
//   when has_bias = 1). Transposes are only other strides, so no branch reads them; the host
//   also solves Cᵀ = Bᵀ·Aᵀ through the strides when that puts the longer side across the
//   invocations.
//   K-slices (loop budget, gpu/loops.rs): one dispatch sums k in [k_begin, k_end) only. The
//   GEMM kernels only write (a read of C in the epilogue slowed Mesa 22's register tiles by
//   1.3-1.6×): the first slice writes C with the bias, later ones write a dense temporary
//   [batch, M, N] that `accumulate` adds into C. Loop passes per invocation, every loop counted rolled (gpu/loops.rs):
//   matmul (MR + 1) + (NR + 1) set-up, (k_end − k_begin)·(step + 1) + 1 with
//   step = (MR + 1) + (NR + 1) + NR·(MR + 1), and (MR + 1) + MR·(NR + 1) in the epilogue;
//   matmul_tiled 508 per step of 16 (1 + 5 + 17 + 16·30 + 5) and 36 outside them. `batch` independent products run in one dispatch, the b-th offset by
//   b·a_b, b·b_b and b·c_b (Winograd's T² products; batch = 1 for a plain product).
//   a_off, b_off, c_off and bias_off are element offsets into the bound ranges: a product
//   past the storage binding limit runs as blocks, each binding a range that starts at the
//   adapter's offset alignment at or below its block's first element (ops/matmul/blocks.rs).
//
// Bindings: 0 Params; 1 a; 2 b; 3 bias (read when has_bias = 1); 4 c [M, N].
//
// Two entry points, for the two kinds of adapter:
// matmul        register-blocked, no workgroup memory (software adapters, where barriers cost
//               more than they save). Overrides: WG invocations per workgroup; MR × NR
//               register tile (rows WG apart × consecutive columns), chosen per adapter like
//               conv2d's (≤ MR_MAX × NR_MAX).
//               Grid: x·y (folded) = ceil(M / (WG·MR)), z = batch · ceil(N / NR).
// matmul_tiled  double-buffered workgroup-memory tiles (hardware GPUs), below.
// accumulate    C[b, m, n] += a[(b·M + m)·N + n] for every element of the batch's products
//               (a = a K-slice's dense temporary), one invocation each.

struct Params {
    m: u32, n: u32, k_end: u32, has_bias: u32,
    a_m: u32, a_k: u32, b_k: u32, b_n: u32,
    c_m: u32, c_n: u32, bias_m: u32, bias_n: u32,
    batch: u32, a_b: u32, b_b: u32, c_b: u32,
    k_begin: u32, a_off: u32, b_off: u32, c_off: u32,
    bias_off: u32, _pad0: u32, _pad1: u32, _pad2: u32,
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
        arow[i] = p.a_off + bat * p.a_b + min(m0 + i * WG, p.m - 1u) * p.a_m;
    }
    var bcol: array<u32, NR_MAX>;
    for (var j = 0u; j < NR; j++) {
        bcol[j] = p.b_off + bat * p.b_b + min(n0 + j, p.n - 1u) * p.b_n;
    }
    var acc: array<f32, MR_MAX * NR_MAX>;
    for (var k = p.k_begin; k < p.k_end; k++) {
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
                        v += bias[p.bias_off + row * p.bias_m + col * p.bias_n];
                    }
                    c[p.c_off + bat * p.c_b + row * p.c_m + col * p.c_n] = v;
                }
            }
        }
    }
}

// matmul_tiled: workgroup-memory tiles for hardware GPUs. A workgroup of 16×16 invocations
// computes a TBM×TBN = 64×64 tile of C, stepping TBK = 16 along K: each invocation stages 4
// elements of A's 64×16 block and 4 of B's 16×64 block in workgroup memory, then accumulates a
// 4×4 micro-tile (rows and columns 16 apart, so neighbouring invocations touch neighbouring
// elements). Double-buffered: the next step's elements are loaded into registers before the
// current step's arithmetic and stored into the other buffer after it, so global loads overlap
// the multiply-adds and one barrier per step suffices (a buffer is rewritten only after every
// invocation has passed the barrier that ended its last use).
// Grid: x·y (folded) = ceil(M / 64), z = batch · ceil(N / 64).
const TBM: u32 = 64u;
const TBN: u32 = 64u;
const TBK: u32 = 16u;
var<workgroup> a_tile: array<f32, 2048>; // 2 buffers × [TBK][TBM]
var<workgroup> b_tile: array<f32, 2048>; // 2 buffers × [TBK][TBN]

// A[row, k] and B[k, col] of product `bat`, 0 past the edges and the K-slice.
fn a_at(bat: u32, row: u32, k: u32) -> f32 {
    if (row >= p.m || k >= p.k_end) {
        return 0.0;
    }
    return a[p.a_off + bat * p.a_b + row * p.a_m + k * p.a_k];
}
fn b_at(bat: u32, k: u32, col: u32) -> f32 {
    if (k >= p.k_end || col >= p.n) {
        return 0.0;
    }
    return b[p.b_off + bat * p.b_b + k * p.b_k + col * p.b_n];
}

@compute @workgroup_size(256)
fn matmul_tiled(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n_tiles = (p.n + TBN - 1u) / TBN;
    let bat = wid.z / n_tiles;
    let n_base = (wid.z % n_tiles) * TBN;
    let m_base = (wid.x + wid.y * nwg.x) * TBM;
    // Uniform for the whole workgroup, so the barriers below stay in uniform control flow.
    if (m_base >= p.m) {
        return;
    }
    let tx = lid % 16u;
    let ty = lid / 16u;
    // Staged element q of this invocation: e = lid + 256·q, step row e / 64, column e % 64.
    var ra: array<f32, 4>;
    var rb: array<f32, 4>;
    for (var q = 0u; q < 4u; q++) {
        let e = lid + 256u * q;
        ra[q] = a_at(bat, m_base + e % TBM, p.k_begin + e / TBM);
        rb[q] = b_at(bat, p.k_begin + e / TBN, n_base + e % TBN);
    }
    for (var q = 0u; q < 4u; q++) {
        a_tile[lid + 256u * q] = ra[q];
        b_tile[lid + 256u * q] = rb[q];
    }
    workgroupBarrier();
    var acc: array<f32, 16>;
    let steps = (p.k_end - p.k_begin + TBK - 1u) / TBK;
    for (var s = 0u; s < steps; s++) {
        let cur = (s % 2u) * 1024u;
        let next = 1024u - cur;
        let more = s + 1u < steps;
        if (more) {
            let k0 = p.k_begin + (s + 1u) * TBK;
            for (var q = 0u; q < 4u; q++) {
                let e = lid + 256u * q;
                ra[q] = a_at(bat, m_base + e % TBM, k0 + e / TBM);
                rb[q] = b_at(bat, k0 + e / TBN, n_base + e % TBN);
            }
        }
        for (var k = 0u; k < TBK; k++) {
            var av: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a_tile[cur + k * TBM + ty + 16u * i];
            }
            for (var j = 0u; j < 4u; j++) {
                let bv = b_tile[cur + k * TBN + tx + 16u * j];
                for (var i = 0u; i < 4u; i++) {
                    acc[i * 4u + j] = fma(av[i], bv, acc[i * 4u + j]);
                }
            }
        }
        if (more) {
            for (var q = 0u; q < 4u; q++) {
                a_tile[next + lid + 256u * q] = ra[q];
                b_tile[next + lid + 256u * q] = rb[q];
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = m_base + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = n_base + tx + 16u * j;
            if (row < p.m && col < p.n) {
                var v = acc[i * 4u + j];
                if (p.has_bias != 0u) {
                    v += bias[p.bias_off + row * p.bias_m + col * p.bias_n];
                }
                c[p.c_off + bat * p.c_b + row * p.c_m + col * p.c_n] = v;
            }
        }
    }
}

@compute @workgroup_size(64)
fn accumulate(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = (wid.x + wid.y * nwg.x) * 64u + lid;
    let per = p.m * p.n;
    if (e >= p.batch * per) {
        return;
    }
    let bat = e / per;
    let rest = e - bat * per;
    let row = rest / p.n;
    let col = rest - row * p.n;
    let at = p.c_off + bat * p.c_b + row * p.c_m + col * p.c_n;
    c[at] = c[at] + a[e];
}
