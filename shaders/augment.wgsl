// Random image augmentation of a batch, one invocation per output element, keyed by
// (seed, step, image) so a training step's draws are reproducible and need no host RNG.
//
// forward   dst[n, c, y, x] = clip(contrast(sample(src[n, c], inverse_map(y, x))) + delta)
//           per image n, uniform draws u_k = hash(seed, step, n + sample_offset, k) in [0, 1):
//             hflip  = flip_on and u0 < 0.5, vflip = vflip_on and u5 < 0.5
//             shift  = floor(u1·(2s+1)) − s + (2·u8 − 1)·th·h, the same with u2, tw·w (rows,
//                      cols; s = max_shift pixels, th / tw = translation fractions)
//             angle  = (2·u3 − 1)·max_angle             (radians, about the image centre)
//             zoom   = 1 + zoom_lo + u6·(zoom_hi − zoom_lo)   (> 1 zooms out, as Keras)
//             shear  = (2·u7 − 1)·max_shear             (radians)
//             factor = 1 + (2·u4 − 1)·contrast          (about the image's channel mean)
//             delta  = (2·u10 − 1)·brightness·(hi − lo), clipped to [lo, hi] (value range)
//           inverse_map, Keras's order (the flips mirror the output; then the affine map of
//           ImageDataGenerator, input = R·T·S·Z·out about the centre): mirror → centre →
//           zoom → shear (r, c) → (r − sin(s)·c, cos(s)·c) → shift → rotate by −angle.
//           sample: bilinear; a tap outside the image follows the fill mode: 0 constant
//           (fill_value), 1 nearest, 2 reflect (d c b a | a b c d | d c b a), 3 wrap
//           (a b c d | a b c d), 4 mirror (d c b | a b c d | c b a).
//
// Bindings: 0 Params; 1 src [n, c, h, w]; 2 means [n, c] (channel means of src; read only
// when contrast > 0); 3 dst [n, c, h, w]; 4 TrainingStep (the plan's per-step buffer).
// Overrides: WG, FILL, FULL_SET (below). Grid x·y (folded) = ceil(len / WG).

// #include common/step.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The training step, from the plan's per-step buffer (Rust mirror: gpu::per_step::TrainingStep):
// with a seed it keys dropout masks and augmentation draws, and a replayed plan rewrites it
// before each step, so no kernel's own uniforms change between steps. sample_offset: where this
// process's batch starts in a data-parallel step's global batch (0 alone), so each sample draws
// what it would in one process.
struct TrainingStep {
    step: u32, sample_offset: u32, _pad1: u32, _pad2: u32,
}
// #end common/step.wgsl

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    len: u32, flip: u32, max_shift: u32, seed: u32,
    max_angle: f32, contrast: f32, vflip: u32, _pad3: u32,
    zoom_lo: f32, zoom_hi: f32, max_shear: f32, translate_h: f32,
    translate_w: f32, brightness: f32, fill_value: f32, range_lo: f32,
    range_hi: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> means: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> training: TrainingStep;

override WG: u32 = 64u;
// The fill mode (0 constant, 1 nearest, 2 reflect, 3 wrap, 4 mirror) and whether any of
// vflip / zoom / shear / translation / brightness is on: pipeline constants, so a variant
// compiles only its own arithmetic (lavapipe runs both sides of every branch under a lane
// mask, uniform ones included).
override FILL: u32 = 0u;
override FULL_SET: u32 = 1u;
override FULL: bool = FULL_SET != 0u;

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
    let h = pcg(pcg(pcg(p.seed ^ pcg(training.step)) ^ (img + training.sample_offset)) ^ k);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

// a mod n in [0, n) for whole numbers a, n (|a|, n < 2^22, so a / n rounds to within one
// of the true quotient and the clamp absorbs it): f32 arithmetic vectorises on lavapipe, where
// an integer % is one division per lane.
fn wrap_to(a: f32, n: f32) -> f32 {
    return clamp(a - n * floor(a / n), 0.0, n - 1.0);
}

// Index i of an axis of n after the fill mode (i itself inside the axis, in every mode); −1
// where the constant fills in. Arithmetic only: the caller's one load follows.
fn fill_index(i: i32, n: i32) -> i32 {
    let fi = f32(i);
    let fn_ = f32(n);
    switch FILL {
        case 1u: {
            return clamp(i, 0, n - 1);
        }
        case 2u: {
            let m = wrap_to(fi, 2.0 * fn_);
            return i32(select(m, 2.0 * fn_ - 1.0 - m, m >= fn_));
        }
        case 3u: {
            return i32(wrap_to(fi, fn_));
        }
        case 4u: {
            let period = max(2.0 * (fn_ - 1.0), 1.0);
            let m = wrap_to(fi, period);
            return i32(select(m, period - m, m >= fn_));
        }
        default: {
            return select(-1, i, i >= 0 && i < n);
        }
    }
}

// One load per tap, its index clamped into the image, and the constant selected after: no
// load under a per-lane branch (lavapipe turns those into extra masked gathers).
fn tap(plane: u32, y: i32, x: i32) -> f32 {
    let fy = fill_index(y, i32(p.h));
    let fx = fill_index(x, i32(p.w));
    let v = src[plane + u32(max(fy, 0)) * p.w + u32(max(fx, 0))];
    return select(p.fill_value, v, fy >= 0 && fx >= 0);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // No early return: past it every branch below would run under a lane mask on lavapipe,
    // both sides of the uniform ones included; the index is clamped and only the store
    // guarded.
    let flat = (wid.x + wid.y * nwg.x) * WG + lid;
    let i = min(flat, p.len - 1u);
    let hw = p.h * p.w;
    let nc = i / hw;
    let img = nc / p.c;
    var oy = f32((i % hw) / p.w);
    var ox = f32(i % p.w);
    if (p.flip != 0u && draw(img, 0u) < 0.5) {
        ox = f32(p.w - 1u) - ox;
    }
    if (FULL && p.vflip != 0u && draw(img, 5u) < 0.5) {
        oy = f32(p.h - 1u) - oy;
    }
    let cy = 0.5 * f32(p.h - 1u);
    let cx = 0.5 * f32(p.w - 1u);
    // The uniform branches skip the draws and transcendentals of the options left off.
    var zoom = select(1.0, 1.0 + p.zoom_lo, FULL);
    if (FULL && p.zoom_hi > p.zoom_lo) {
        zoom += draw(img, 6u) * (p.zoom_hi - p.zoom_lo);
    }
    let zy = (oy - cy) * zoom;
    let zx = (ox - cx) * zoom;
    let span = f32(2u * p.max_shift + 1u);
    var sy = floor(draw(img, 1u) * span) - f32(p.max_shift);
    var sx = floor(draw(img, 2u) * span) - f32(p.max_shift);
    if (FULL && p.translate_h > 0.0) {
        sy += (2.0 * draw(img, 8u) - 1.0) * p.translate_h * f32(p.h);
    }
    if (FULL && p.translate_w > 0.0) {
        sx += (2.0 * draw(img, 9u) - 1.0) * p.translate_w * f32(p.w);
    }
    var dy = zy - sy;
    var dx = zx - sx;
    if (FULL && p.max_shear > 0.0) {
        let shear = (2.0 * draw(img, 7u) - 1.0) * p.max_shear;
        dy = zy - sin(shear) * zx - sy;
        dx = cos(shear) * zx - sx;
    }
    var ys = cy + dy;
    var xs = cx + dx;
    if (p.max_angle > 0.0) {
        let angle = (2.0 * draw(img, 3u) - 1.0) * p.max_angle;
        let cs = cos(angle);
        let sn = sin(angle);
        ys = cy + dy * cs - dx * sn;
        xs = cx + dy * sn + dx * cs;
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
    if (FULL && p.brightness > 0.0) {
        let delta = (2.0 * draw(img, 10u) - 1.0) * p.brightness * (p.range_hi - p.range_lo);
        v = clamp(v + delta, p.range_lo, p.range_hi);
    }
    if (flat < p.len) {
        dst[i] = v;
    }
}
