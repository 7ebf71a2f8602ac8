// Random image augmentation of a batch, one invocation per output element, keyed by
// (seed, step, image) so a training step's draws are reproducible and need no host RNG.
//
// forward   dst[n, c, y, x] = contrast(bilinear(src[n, c], inverse_map(y, x)))
//           per image n, five uniform draws u0..u4 = hash(seed, step, n, k) in [0, 1):
//             flip   = flip_on and u0 < 0.5           (horizontal)
//             shift  = floor(u1·(2s+1)) − s, floor(u2·(2s+1)) − s   (s = max_shift; rows, cols)
//             angle  = (2·u3 − 1)·max_angle           (radians, about the image centre)
//             factor = 1 + (2·u4 − 1)·contrast        (about the image's channel mean)
//           inverse_map: (y − shift_y, x − shift_x) → rotate by −angle about the centre →
//           mirror x when flipped; bilinear taps outside the image read 0 (zero padding).
//
// Bindings: 0 Params; 1 src [n, c, h, w]; 2 means [n, c] (channel means of src; read only
// when contrast > 0); 3 dst [n, c, h, w]; 4 TrainingStep (the plan's per-step buffer).
// Overrides: WG. Grid x·y (folded) = ceil(len / WG).

// #include common/step.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The training step, from the plan's per-step buffer (Rust mirror: gpu::per_step::TrainingStep):
// with a seed it keys dropout masks and augmentation draws, and a replayed plan rewrites it
// before each step, so no kernel's own uniforms change between steps.
struct TrainingStep {
    step: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
// #end common/step.wgsl

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    len: u32, flip: u32, max_shift: u32, seed: u32,
    max_angle: f32, contrast: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> means: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> training: TrainingStep;

override WG: u32 = 64u;

// #include common/hash.wgsl (tests/shaders.rs keeps this copy equal to that file)
// PCG hash (O'Neill), one 32-bit state step: the counter-based random numbers of dropout
// and augmentation (the CPU references hash the same way).
fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}
// #end common/hash.wgsl

// Uniform in [0, 1) with 24 bits, exact in f32.
fn draw(img: u32, k: u32) -> f32 {
    let h = pcg(pcg(pcg(p.seed ^ pcg(training.step)) ^ img) ^ k);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

fn tap(plane: u32, y: i32, x: i32) -> f32 {
    if (y < 0 || x < 0 || y >= i32(p.h) || x >= i32(p.w)) {
        return 0.0;
    }
    return src[plane + u32(y) * p.w + u32(x)];
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.len) {
        return;
    }
    let hw = p.h * p.w;
    let nc = i / hw;
    let img = nc / p.c;
    let oy = f32((i % hw) / p.w);
    let ox = f32(i % p.w);
    let span = f32(2u * p.max_shift + 1u);
    let sy = floor(draw(img, 1u) * span) - f32(p.max_shift);
    let sx = floor(draw(img, 2u) * span) - f32(p.max_shift);
    let angle = (2.0 * draw(img, 3u) - 1.0) * p.max_angle;
    let cy = 0.5 * f32(p.h - 1u);
    let cx = 0.5 * f32(p.w - 1u);
    let dy = oy - sy - cy;
    let dx = ox - sx - cx;
    let cs = cos(angle);
    let sn = sin(angle);
    let ys = cy + dy * cs - dx * sn;
    var xs = cx + dy * sn + dx * cs;
    if (p.flip != 0u && draw(img, 0u) < 0.5) {
        xs = f32(p.w - 1u) - xs;
    }
    let y0 = floor(ys);
    let x0 = floor(xs);
    let fy = ys - y0;
    let fx = xs - x0;
    let plane = nc * hw;
    let iy = i32(y0);
    let ix = i32(x0);
    let top = tap(plane, iy, ix) * (1.0 - fx) + tap(plane, iy, ix + 1) * fx;
    let bottom = tap(plane, iy + 1, ix) * (1.0 - fx) + tap(plane, iy + 1, ix + 1) * fx;
    var v = top * (1.0 - fy) + bottom * fy;
    if (p.contrast > 0.0) {
        let factor = 1.0 + (2.0 * draw(img, 4u) - 1.0) * p.contrast;
        let m = means[nc];
        v = (v - m) * factor + m;
    }
    dst[i] = v;
}
