//! GPU side of dropout (`shaders/dropout.wgsl`): the mask's step comes from the plan's
//! per-step buffer, so a replayed plan draws a new mask each step.

use super::cpu;
use crate::error::{Error, Result};
use crate::gpu::per_step::TrainingStep;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in dropout.wgsl.
pub(crate) struct DropoutUniforms {
    /// Elements to process, one invocation each.
    pub len: u32,
    /// Seed of the mask, hashed with the training step and the element index.
    pub seed: u32,
    /// An element is kept when its hash is at least this (`rate · 2³²`).
    pub threshold: u32,
    /// `1 / (1 − rate)`, the kept elements' factor.
    pub scale: f32,
    /// Elements per sample (the batch axis first): a data-parallel step's sample offset
    /// times this is the first element's index in the global batch.
    pub per_sample: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

const WG: u32 = 64;

/// `shaders/dropout.wgsl`: a, dst, then the training step.
pub static DROPOUT: ShaderDef = ShaderDef {
    name: "dropout",
    source: include_str!("../../../shaders/dropout.wgsl"),
    entry_points: &["dropout"],
    storage_read_only: &[true, false],
    uniform: UniformLayout::of::<DropoutUniforms>(),
    per_step: Some(UniformLayout::of::<TrainingStep>()),
    needs_subgroups: false,
    textures: &[],
};

fn key() -> PipelineKey {
    PipelineKey {
        shader: &DROPOUT,
        entry: entry_point!(DROPOUT, "dropout"),
        overrides: Overrides::new(&[("WG", WG)]),
    }
}

/// Every pipeline this module dispatches: `dropout` with the one workgroup size.
pub fn pipelines() -> Vec<PipelineKey> {
    vec![key()]
}

/// Inverted dropout of `x` at `rate` (checked by the caller) for `(seed, step)`.
pub(crate) fn dropout(x: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
    let len = u32::try_from(x.numel()).map_err(|_| Error::TooLarge {
        what: format!("dropout of {}", x.shape()),
        bytes: x.numel() as u64 * 4,
        limit: u64::from(u32::MAX),
    })?;
    let out = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = DropoutUniforms {
        len,
        seed,
        threshold: cpu::dropout_threshold(rate),
        scale: 1.0 / (1.0 - rate),
        per_sample: len / x.dims().first().map_or(1, |&n| n.max(1) as u32),
        ..DropoutUniforms::default()
    };
    let per_step = x.gpu().training_step(step)?;
    x.gpu().dispatch_tensors_per_step(
        &key(),
        &u,
        &[Some(x), Some(&out)],
        Some(&per_step),
        len.div_ceil(WG),
        1,
    )?;
    Ok(out)
}
