// The operands of matmul_texture.wgsl, packed into rgba32float texture arrays.
//
// pack  texel (x, y, layer) = src[off + layer·s_b + y·s_r + (4x + e)·s_c] for e < 4, 0 where
//       y ≥ rows or 4x + e ≥ cols: A as (rows M, columns K), B as (rows K, columns N), any
//       strides (transposes, the Cᵀ swap, a batch of products). One invocation per texel,
//       neighbours along the source's closer axis.
//       Grid: x·y (folded) = ceil(width · height / 64), z = layers. Loop passes per
//       invocation: 5.
//
// Bindings: 0 Params; 1 src; 2 the texture (write).

struct Params {
    rows: u32, cols: u32, s_r: u32, s_c: u32,
    s_b: u32, off: u32, width: u32, height: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

@compute @workgroup_size(64)
fn pack(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = linear(wid, nwg, lid, 64u);
    if (e >= p.width * p.height) {
        return;
    }
    // Neighbouring invocations take neighbouring elements of the source: along the texture
    // rows where the source's columns are the closer ones (s_c ≤ s_r), else down its columns.
    // Otherwise a transposed operand's neighbours lie a row of the source apart (Mesa 22.3:
    // 64×4096×1024, A read 16 KiB apart, 1.2-1.3× faster this way).
    var x = e % p.width;
    var y = e / p.width;
    if (p.s_r < p.s_c) {
        x = e / p.height;
        y = e % p.height;
    }
    var v = vec4<f32>();
    if (y < p.rows) {
        let base = p.off + wid.z * p.s_b + y * p.s_r;
        for (var i = 0u; i < 4u; i++) {
            let col = 4u * x + i;
            if (col < p.cols) {
                v[i] = src[base + col * p.s_c];
            }
        }
    }
    textureStore(dst, vec2<u32>(x, y), wid.z, v);
}
