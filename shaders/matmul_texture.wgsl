// C = A·B (+ bias) with A and B read from textures: the GEMM for software adapters.
//
// On lavapipe (Mesa 25.0.7) every storage-buffer load inside a loop becomes a loop over the
// SIMD lanes that tests each lane's mask bit, loads the buffer's size and bounds-checks the
// lane: ~12 instructions a lane, ~96 a load, and three quarters of the register-tile kernel's
// K loop (matmul.wgsl). A texel fetch is one call that computes the 8 lanes' addresses as
// vectors, clamps them and loads 16 bytes a lane with no branch: ~70 instructions for 4
// floats. So the host packs A and B into rgba32float textures (`matmul_pack.wgsl`) and this
// kernel reads only texels in its K loop.
//
//   A's texture: texel (x, y, layer) = A[row y, k 4x .. 4x+3] of product `layer`;
//   B's texture: texel (x, y, layer) = B[k y, columns 4x .. 4x+3] of product `layer`;
//   both zero past K (and past N), so a partial last texel adds nothing.
//
// matmul_texture  C[row, col] for an 8 × 16 tile per invocation: rows m0 + 64·i (i < 8), the
//                 16 consecutive columns from n0. Per step of 4 along K: 8 fetches of A (4 k
//                 each), 16 of B (4 columns each), 512 multiply-adds. The sums are 32 vec4
//                 variables, not an array: gallivm keeps a variable's value in registers
//                 across the unrolled step and blends it with the loop mask once per step,
//                 where an array element is loaded, blended and stored at every update
//                 (measured 2.3-3.5x the register-tile kernel on a scratch GEMM, 8192×64×256).
//                 No early return: rows past M and texel columns past B's width are clamped
//                 (computed, not stored); only the stores are guarded.
//                 Grid: x·y (folded) = ceil(M / 512), z = batch · ceil(N / 16).
//
// Bindings: 0 Params; 1 bias (read when has_bias = 1); 2 c; 3 A's texture; 4 B's texture.
// `batch` products run in one dispatch; a_layered / b_layered (0 or 1) say whether A's and
// B's textures have a layer per product or one shared by all. C and the bias as in
// matmul.wgsl (strides, offsets, the Cᵀ swap made by the host before packing).
// K-slices (loop budget, gpu/loops.rs): one dispatch sums texel columns [k4_begin, k4_end).
// Loop passes per invocation, every loop counted rolled (gpu/loops.rs):
//   (k4_end − k4_begin) + 1 in the K loop, and 9 + 8·17 in the epilogue.

struct Params {
    m: u32, n: u32, k4_begin: u32, k4_end: u32,
    has_bias: u32, c_m: u32, c_n: u32, c_b: u32,
    c_off: u32, bias_m: u32, bias_n: u32, bias_off: u32,
    a_layered: u32, b_layered: u32, b_width: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var ta: texture_2d_array<f32>;
@group(0) @binding(4) var tb: texture_2d_array<f32>;

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

@compute @workgroup_size(64)
fn matmul_texture(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let m0 = (wid.x + wid.y * nwg.x) * WG * MR + lid;
    let n_tiles = (p.n + NR - 1u) / NR;
    let bat = wid.z / n_tiles;
    let n0 = (wid.z % n_tiles) * NR;
    let la = bat * p.a_layered;
    let lb = bat * p.b_layered;
    let last = p.m - 1u;
    let r0 = min(m0 + 0u * WG, last);
    let r1 = min(m0 + 1u * WG, last);
    let r2 = min(m0 + 2u * WG, last);
    let r3 = min(m0 + 3u * WG, last);
    let r4 = min(m0 + 4u * WG, last);
    let r5 = min(m0 + 5u * WG, last);
    let r6 = min(m0 + 6u * WG, last);
    let r7 = min(m0 + 7u * WG, last);
    let x0 = min(n0 / 4u + 0u, p.b_width - 1u);
    let x1 = min(n0 / 4u + 1u, p.b_width - 1u);
    let x2 = min(n0 / 4u + 2u, p.b_width - 1u);
    let x3 = min(n0 / 4u + 3u, p.b_width - 1u);
    var c00 = vec4<f32>(); var c01 = vec4<f32>(); var c02 = vec4<f32>(); var c03 = vec4<f32>();
    var c10 = vec4<f32>(); var c11 = vec4<f32>(); var c12 = vec4<f32>(); var c13 = vec4<f32>();
    var c20 = vec4<f32>(); var c21 = vec4<f32>(); var c22 = vec4<f32>(); var c23 = vec4<f32>();
    var c30 = vec4<f32>(); var c31 = vec4<f32>(); var c32 = vec4<f32>(); var c33 = vec4<f32>();
    var c40 = vec4<f32>(); var c41 = vec4<f32>(); var c42 = vec4<f32>(); var c43 = vec4<f32>();
    var c50 = vec4<f32>(); var c51 = vec4<f32>(); var c52 = vec4<f32>(); var c53 = vec4<f32>();
    var c60 = vec4<f32>(); var c61 = vec4<f32>(); var c62 = vec4<f32>(); var c63 = vec4<f32>();
    var c70 = vec4<f32>(); var c71 = vec4<f32>(); var c72 = vec4<f32>(); var c73 = vec4<f32>();
    for (var k4 = p.k4_begin; k4 < p.k4_end; k4++) {
        let a0 = textureLoad(ta, vec2<u32>(k4, r0), la, 0);
        let a1 = textureLoad(ta, vec2<u32>(k4, r1), la, 0);
        let a2 = textureLoad(ta, vec2<u32>(k4, r2), la, 0);
        let a3 = textureLoad(ta, vec2<u32>(k4, r3), la, 0);
        let a4 = textureLoad(ta, vec2<u32>(k4, r4), la, 0);
        let a5 = textureLoad(ta, vec2<u32>(k4, r5), la, 0);
        let a6 = textureLoad(ta, vec2<u32>(k4, r6), la, 0);
        let a7 = textureLoad(ta, vec2<u32>(k4, r7), la, 0);
        let k = 4u * k4;
        let b00 = textureLoad(tb, vec2<u32>(x0, k + 0u), lb, 0);
        let b01 = textureLoad(tb, vec2<u32>(x1, k + 0u), lb, 0);
        let b02 = textureLoad(tb, vec2<u32>(x2, k + 0u), lb, 0);
        let b03 = textureLoad(tb, vec2<u32>(x3, k + 0u), lb, 0);
        let b10 = textureLoad(tb, vec2<u32>(x0, k + 1u), lb, 0);
        let b11 = textureLoad(tb, vec2<u32>(x1, k + 1u), lb, 0);
        let b12 = textureLoad(tb, vec2<u32>(x2, k + 1u), lb, 0);
        let b13 = textureLoad(tb, vec2<u32>(x3, k + 1u), lb, 0);
        let b20 = textureLoad(tb, vec2<u32>(x0, k + 2u), lb, 0);
        let b21 = textureLoad(tb, vec2<u32>(x1, k + 2u), lb, 0);
        let b22 = textureLoad(tb, vec2<u32>(x2, k + 2u), lb, 0);
        let b23 = textureLoad(tb, vec2<u32>(x3, k + 2u), lb, 0);
        let b30 = textureLoad(tb, vec2<u32>(x0, k + 3u), lb, 0);
        let b31 = textureLoad(tb, vec2<u32>(x1, k + 3u), lb, 0);
        let b32 = textureLoad(tb, vec2<u32>(x2, k + 3u), lb, 0);
        let b33 = textureLoad(tb, vec2<u32>(x3, k + 3u), lb, 0);
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
        let row = m0 + i * WG;
        if (row < p.m) {
            for (var j = 0u; j < rolled(NR, nwg); j++) {
                let col = n0 + j;
                if (col < p.n) {
                    var v = sums[i * 4u + j / 4u][j % 4u];
                    if (p.has_bias != 0u) {
                        v += bias[p.bias_off + row * p.bias_m + col * p.bias_n];
                    }
                    c[p.c_off + bat * p.c_b + row * p.c_m + col * p.c_n] = v;
                }
            }
        }
    }
}
