// Inverted dropout over a flat f32 array, one invocation per element. The mask is a hash of
// (seed, training step, index), so the backward pass recomputes it instead of storing it.
//
// dropout   dst = keep(i) ? a · scale : 0;  keep(i) = pcg(g ^ pcg(seed ^ pcg(step))) ≥ threshold,
//           g = i + sample_offset · per_sample (the element's index in the global batch of a
//           data-parallel step; i alone), scale = 1 / (1 − rate), threshold = rate · 2³²
//
// Bindings: 0 Params; 1 a; 2 dst; 3 TrainingStep (the plan's per-step buffer).
// Overrides: WG. Grid x·y (folded) = ceil(len / WG). Loop passes per invocation: 0.

struct Params {
    len: u32, seed: u32, threshold: u32, scale: f32,
    per_sample: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> training: TrainingStep;

override WG: u32 = 64u;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

// #include common/hash.wgsl (tests/shaders.rs keeps this copy equal to that file)
// PCG hash (O'Neill), one 32-bit state step: the counter-based random numbers of dropout
// and augmentation (the CPU references hash the same way).
fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}
// #end common/hash.wgsl

@compute @workgroup_size(WG)
fn dropout(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i < p.len) {
        let g = i + training.sample_offset * p.per_sample;
        let keep = pcg(g ^ pcg(p.seed ^ pcg(training.step))) >= p.threshold;
        dst[i] = select(0.0, a[i] * p.scale, keep);
    }
}
