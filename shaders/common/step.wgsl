// The training step, from the plan's per-step buffer (Rust mirror: gpu::per_step::TrainingStep):
// with a seed it keys dropout masks and augmentation draws, and a replayed plan rewrites it
// before each step, so no kernel's own uniforms change between steps.
struct TrainingStep {
    step: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
