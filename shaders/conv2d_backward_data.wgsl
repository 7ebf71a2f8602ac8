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
//
// Bindings: 0 Params; 1 dy [n, c_out, h_out, w_out]; 2 w [c_out, c_in/groups, kh, kw];
//           3 dx [n, c_in, h_in, w_in].
// Overrides: WG invocations per workgroup.
// One invocation: MR input pixels (WG apart) × NR consecutive input channels, in registers.
// Grid: x·y (folded) = ceil(M / (WG·MR)), z = groups · ceil(cg / NR).

struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, groups: u32,
    kh: u32, kw: u32, stride_h: u32, stride_w: u32,
    dil_h: u32, dil_w: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, splits: u32, rows_per_split: u32, len: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;
const MR: u32 = 8u;
const NR: u32 = 16u;

@compute @workgroup_size(WG)
fn backward_data(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let m_total = p.n * hw_in;
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let khkw = p.kh * p.kw;
    let n_tiles = (cg + NR - 1u) / NR;
    let grp = wid.z / n_tiles;
    let ci0 = (wid.z % n_tiles) * NR;
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    if (m0 >= m_total) {
        return;
    }

    // Per pixel: its padded coordinates and its image's dy base for this group.
    var th: array<i32, MR>;
    var tw: array<i32, MR>;
    var dybase: array<u32, MR>;
    for (var i = 0u; i < MR; i++) {
        let m = min(m0 + i * WG, m_total - 1u);
        let img = m / hw_in;
        let pix = m % hw_in;
        th[i] = i32(pix / p.w_in + p.pad_top);
        tw[i] = i32(pix % p.w_in + p.pad_left);
        dybase[i] = (img * p.c_out + grp * cog) * hw_out;
    }
    // Per channel: its weight column base (clamped channels are computed, not stored).
    var wcol: array<u32, NR>;
    for (var j = 0u; j < NR; j++) {
        wcol[j] = (grp * cog * cg + min(ci0 + j, cg - 1u)) * khkw;
    }

    var acc: array<f32, MR * NR>;
    for (var co = 0u; co < cog; co++) {
        let dyc = co * hw_out;
        let wco = co * cg * khkw;
        for (var r = 0u; r < p.kh; r++) {
            // Output row each pixel reads through tap r, or -1 when it falls between rows.
            var orow: array<i32, MR>;
            for (var i = 0u; i < MR; i++) {
                let t = th[i] - i32(r * p.dil_h);
                let oh = u32(t) / p.stride_h;
                orow[i] = select(-1, i32(oh * p.w_out), t >= 0 && u32(t) % p.stride_h == 0u && oh < p.h_out);
            }
            for (var s = 0u; s < p.kw; s++) {
                var a: array<f32, MR>;
                for (var i = 0u; i < MR; i++) {
                    let t = tw[i] - i32(s * p.dil_w);
                    let ow = u32(t) / p.stride_w;
                    if (orow[i] >= 0 && t >= 0 && u32(t) % p.stride_w == 0u && ow < p.w_out) {
                        a[i] = dy[dybase[i] + dyc + u32(orow[i]) + ow];
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
    }

    for (var i = 0u; i < MR; i++) {
        let m = m0 + i * WG;
        if (m < m_total) {
            let img = m / hw_in;
            let pix = m % hw_in;
            for (var j = 0u; j < NR; j++) {
                let ci = ci0 + j;
                if (ci < cg) {
                    dx[(img * p.c_in + grp * cg + ci) * hw_in + pix] = acc[i * NR + j];
                }
            }
        }
    }
}
