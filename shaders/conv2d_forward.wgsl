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
// Bindings: 0 Params (uniform); 1 x [n, c_in, h_in, w_in]; 2 w [c_out, c_in/groups, kh, kw];
//           3 bias [c_out] (read only when has_bias = 1); 4 y [n, c_out, h_out, w_out].
// Overrides: WG        invocations per workgroup;
//            POINTWISE 1 for 1×1 / stride 1 / no padding: A is x itself, no window arithmetic.
// One invocation computes MR output pixels (WG apart, so neighbouring invocations touch
// neighbouring pixels) × NR consecutive output channels, all in registers. No workgroup
// memory: on software adapters (lavapipe) barriers cost more than they save.
// Grid: x·y (folded) = ceil(M / (WG·MR)) blocks, z = groups · ceil(cog / NR).

struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, groups: u32,
    kh: u32, kw: u32, stride_h: u32, stride_w: u32,
    dil_h: u32, dil_w: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, splits: u32, rows_per_split: u32, len: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
override POINTWISE: u32 = 0u;
const MR: u32 = 8u;
const NR: u32 = 16u;

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
    var ih0: array<i32, MR>;
    var iw0: array<i32, MR>;
    var xbase: array<u32, MR>;
    for (var i = 0u; i < MR; i++) {
        let m = min(m0 + i * WG, m_total - 1u);
        let img = m / hw_out;
        let pix = m % hw_out;
        ih0[i] = i32((pix / p.w_out) * p.stride_h) - i32(p.pad_top);
        iw0[i] = i32((pix % p.w_out) * p.stride_w) - i32(p.pad_left);
        xbase[i] = (img * p.c_in + grp * cg) * hw_in + select(0u, pix, POINTWISE != 0u);
    }
    // Per channel: its weight row. Channels past the group are clamped, computed, not stored.
    var wrow: array<u32, NR>;
    for (var j = 0u; j < NR; j++) {
        wrow[j] = min(co0 + j, co_end - 1u) * k_len;
    }

    var acc: array<f32, MR * NR>;
    if (POINTWISE != 0u) {
        for (var c = 0u; c < cg; c++) {
            var a: array<f32, MR>;
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
        var k = 0u;
        for (var c = 0u; c < cg; c++) {
            let xc = c * hw_in;
            for (var r = 0u; r < p.kh; r++) {
                let dr = i32(r * p.dil_h);
                for (var s = 0u; s < p.kw; s++) {
                    let ds = i32(s * p.dil_w);
                    var a: array<f32, MR>;
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
                    y[(img * p.c_out + co) * hw_out + pix] = v;
                }
            }
        }
    }
}
