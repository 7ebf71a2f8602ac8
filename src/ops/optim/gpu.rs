//! GPU side of the optimisers (`shaders/optim.wgsl`).

use super::cpu::StepScalars;
use super::{Optimizer, OptimizerState};
use crate::error::{Error, Result};
use crate::gpu::loops::slices;
use crate::gpu::per_step::StepSlot;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in optim.wgsl: what stays fixed from step to step.
pub(crate) struct OptimUniforms {
    /// Parameters to update, one invocation each.
    pub len: u32,
    /// Bits: 2 Nesterov, 4 decoupled weight decay (AdamW), 8 centered RMSprop.
    pub flags: u32,
    /// Weight decay.
    pub wd: f32,
    /// Momentum factor (SGD, RMSprop).
    pub momentum: f32,
    /// SGD's dampening.
    pub dampening: f32,
    /// First-moment decay rate (Adam, NAdam).
    pub beta1: f32,
    /// Second-moment decay rate (Adam, NAdam).
    pub beta2: f32,
    /// Added to the denominator after the square root.
    pub eps: f32,
    /// RMSprop's smoothing constant.
    pub alpha: f32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

uniform_block! {
/// Mirror of `struct Step` in optim.wgsl: the values of one step, in the plan's per-step
/// buffer (a schedule changes the learning rate; the corrections follow the step count).
pub(crate) struct OptimStep {
    /// Learning rate (unused by NAdam, whose `c_grad` and `c_avg` include it).
    pub lr: f32,
    /// First-moment bias correction `1 − β1ᵗ` (Adam).
    pub bc1: f32,
    /// Second-moment bias correction `1 − β2ᵗ` (Adam, NAdam).
    pub bc2: f32,
    /// NAdam's coefficient of `g / denom` for this step.
    pub c_grad: f32,
    /// NAdam's coefficient of `m / denom` for this step.
    pub c_avg: f32,
    /// 1 on the first step (SGD's momentum buffer starts at `d`).
    pub first: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
}
}

const WG: u32 = 64;
const NESTEROV: u32 = 2;
const DECOUPLED: u32 = 4;
const CENTERED: u32 = 8;

/// `shaders/optim.wgsl`: grad, param, s1, s2, s3, then the step's values.
pub static SHADER: ShaderDef = ShaderDef {
    name: "optim",
    source: include_str!("../../../shaders/optim.wgsl"),
    entry_points: &["sgd", "adam", "nadam", "rmsprop"],
    storage_read_only: &[true, false, false, false, false],
    uniform: UniformLayout::of::<OptimUniforms>(),
    per_step: Some(UniformLayout::of::<OptimStep>()),
    needs_subgroups: false,
    textures: &[],
};

fn key(entry: &'static str) -> PipelineKey {
    PipelineKey {
        shader: &SHADER,
        entry,
        overrides: Overrides::new(&[("WG", WG)]),
    }
}

/// Every pipeline this module dispatches: each optimiser's entry point with the one workgroup
/// size.
pub fn pipelines() -> Vec<PipelineKey> {
    SHADER.entry_points.iter().map(|e| key(e)).collect()
}

/// The entry point, the fixed uniforms and the step's values of `state`'s next step over
/// `len` parameters.
pub(crate) fn uniforms(
    state: &OptimizerState,
    len: usize,
    sc: &StepScalars,
) -> Result<(&'static str, OptimUniforms, OptimStep)> {
    let len = u32::try_from(len).map_err(|_| Error::TooLarge {
        what: format!("optimiser over {len} parameters"),
        bytes: len as u64 * 4,
        limit: u64::from(u32::MAX),
    })?;
    let base = OptimUniforms {
        len,
        ..OptimUniforms::default()
    };
    let values = OptimStep {
        lr: state.optimizer.lr(),
        bc1: sc.bc1 as f32,
        bc2: sc.bc2 as f32,
        c_grad: sc.c_grad as f32,
        c_avg: sc.c_avg as f32,
        first: u32::from(state.step == 0),
        ..OptimStep::default()
    };
    let (entry, u) = match state.optimizer {
        Optimizer::Sgd {
            momentum,
            dampening,
            weight_decay,
            nesterov,
            ..
        } => (
            entry_point!(SHADER, "sgd"),
            OptimUniforms {
                flags: if nesterov { NESTEROV } else { 0 },
                wd: weight_decay,
                momentum,
                dampening,
                ..base
            },
        ),
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            ..
        } => (
            entry_point!(SHADER, "adam"),
            OptimUniforms {
                flags: if decoupled { DECOUPLED } else { 0 },
                wd: weight_decay,
                beta1,
                beta2,
                eps,
                ..base
            },
        ),
        Optimizer::Nadam {
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } => (
            entry_point!(SHADER, "nadam"),
            OptimUniforms {
                wd: weight_decay,
                beta1,
                beta2,
                eps,
                ..base
            },
        ),
        Optimizer::RmsProp {
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
            ..
        } => (
            entry_point!(SHADER, "rmsprop"),
            OptimUniforms {
                flags: if centered { CENTERED } else { 0 },
                wd: weight_decay,
                alpha,
                eps,
                momentum,
                ..base
            },
        ),
    };
    Ok((entry, u, values))
}

/// One step of `state` over `param`, its step values in per-step slot `slot` (a plan's bank).
pub(crate) fn step(
    state: &OptimizerState,
    param: &Tensor,
    grad: &Tensor,
    sc: &StepScalars,
    slot: StepSlot,
) -> Result<()> {
    let gpu = param.gpu();
    let (entry, whole, values) = uniforms(state, param.numel(), sc)?;
    let per_step = gpu.per_step(slot, bytemuck::bytes_of(&values))?;
    // A bank past the storage binding limit (one large parameter) is updated in chunks that
    // each bind within it, starting at the offset alignment.
    let align = gpu.offset_alignment();
    let binding = gpu.limits().max_storage_buffer_binding_size / 4;
    let chunk = (binding.min(u64::from(u32::MAX)) as usize) / align * align;
    for range in slices(param.numel(), chunk.max(align)) {
        let part = |t: &Tensor| t.view(range.start, Shape::new([range.len()]));
        let [g, p, s1, s2, s3] = [grad, param, &state.s1, &state.s2, &state.s3].map(part);
        let bufs = [g?, p?, s1?, s2?, s3?];
        let bindings = bufs.each_ref().map(|t| t.binding());
        // `chunk` fits u32.
        let len = range.len() as u32;
        let u = OptimUniforms { len, ..whole };
        gpu.dispatch(
            &key(entry),
            &u,
            &bindings,
            Some(&per_step),
            &[],
            (len.div_ceil(WG), 1),
        )?;
    }
    Ok(())
}
