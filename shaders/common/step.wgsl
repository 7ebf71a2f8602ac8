// The training step, from the plan's per-step buffer (Rust mirror: gpu::per_step::TrainingStep):
// with a seed it keys dropout masks and augmentation draws, and a replayed plan rewrites it
// before each step, so no kernel's own uniforms change between steps. sample_offset: where this
// process's batch starts in a data-parallel step's global batch (0 alone), so each sample draws
// what it would in one process.
struct TrainingStep {
    step: u32, sample_offset: u32, _pad1: u32, _pad2: u32,
}
