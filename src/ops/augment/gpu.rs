//! GPU side of augmentation (`shaders/augment.wgsl`).

use super::AugmentParams;
use crate::error::{Error, Result};
use crate::gpu::per_step::TrainingStep;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{AugmentBackend, GpuBackend};
use crate::ops::reduce::{self, ReduceOp};
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in augment.wgsl.
pub(crate) struct AugmentUniforms {
    /// Batch size.
    pub n: u32,
    /// Channels per image.
    pub c: u32,
    /// Image height.
    pub h: u32,
    /// Image width.
    pub w: u32,
    /// Elements of the batch (`n·c·h·w`), one invocation each.
    pub len: u32,
    /// 1 mirrors each image left–right with probability 1/2.
    pub flip: u32,
    /// Largest translation each way, in pixels.
    pub max_shift: u32,
    /// Seed of the draws, hashed with the training step and the image index.
    pub seed: u32,
    /// Largest rotation either way, in radians.
    pub max_angle: f32,
    /// Contrast factors are drawn from `[1 − contrast, 1 + contrast]`; 0 leaves `means` unread.
    pub contrast: f32,
    /// 1 mirrors each image top–bottom with probability 1/2.
    pub vflip: u32,
    /// Pads the block to a multiple of 16 bytes; unused (the fill mode is a pipeline
    /// constant).
    pub _pad3: u32,
    /// Lower bound of the zoom draw (the factor is 1 + z).
    pub zoom_lo: f32,
    /// Upper bound of the zoom draw.
    pub zoom_hi: f32,
    /// Largest shear either way, in radians.
    pub max_shear: f32,
    /// Largest translation each way, as a fraction of the height.
    pub translate_h: f32,
    /// Largest translation each way, as a fraction of the width.
    pub translate_w: f32,
    /// Largest brightness change, as a fraction of the value range.
    pub brightness: f32,
    /// The constant of constant fill.
    pub fill_value: f32,
    /// Lower end of the value range the brightness change clips to.
    pub range_lo: f32,
    /// Upper end of that range.
    pub range_hi: f32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

const WG: u32 = 64;

/// `shaders/augment.wgsl`: src, means, dst, then the training step.
pub static SHADER: ShaderDef = ShaderDef {
    name: "augment",
    source: include_str!("../../../shaders/augment.wgsl"),
    entry_points: &["forward"],
    storage_read_only: &[true, true, false],
    uniform: UniformLayout::of::<AugmentUniforms>(),
    per_step: Some(UniformLayout::of::<TrainingStep>()),
    needs_subgroups: false,
    textures: &[],
};

/// The variant for fill mode `fill` (its code), with the arithmetic of vflip, zoom, shear,
/// translation and brightness compiled in when `full`.
fn key(fill: u32, full: bool) -> PipelineKey {
    PipelineKey {
        shader: &SHADER,
        entry: entry_point!(SHADER, "forward"),
        overrides: Overrides::new(&[("WG", WG), ("FILL", fill), ("FULL_SET", u32::from(full))]),
    }
}

/// Every pipeline this module dispatches: each fill mode, with and without the full set.
pub fn pipelines() -> Vec<PipelineKey> {
    (0..5)
        .flat_map(|fill| [key(fill, false), key(fill, true)])
        .collect()
}

pub(crate) fn forward(
    x: &Tensor,
    [n, c, h, w]: [usize; 4],
    p: &AugmentParams,
    seed: u32,
    step: u32,
) -> Result<Tensor> {
    let len = u32::try_from(x.numel()).map_err(|_| Error::TooLarge {
        what: format!("augment of {}", x.shape()),
        bytes: x.numel() as u64 * 4,
        limit: u64::from(u32::MAX),
    })?;
    let u32_of = |v: usize| v as u32;
    let means = match p.contrast > 0.0 {
        true => {
            let flat = x.reshape(Shape::new([n, c, h * w]))?;
            Some(reduce::reduce(&flat, Some(2), ReduceOp::Mean)?.0)
        }
        false => None,
    };
    let out = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = AugmentUniforms {
        n: u32_of(n),
        c: u32_of(c),
        h: u32_of(h),
        w: u32_of(w),
        len,
        flip: u32::from(p.flip),
        max_shift: u32_of(p.max_shift),
        seed,
        max_angle: p.max_angle,
        contrast: p.contrast,
        vflip: u32::from(p.vflip),
        zoom_lo: p.zoom.0,
        zoom_hi: p.zoom.1,
        max_shear: p.max_shear,
        translate_h: p.translate.0,
        translate_w: p.translate.1,
        brightness: p.brightness,
        fill_value: p.fill.code().1,
        range_lo: p.value_range.0,
        range_hi: p.value_range.1,
        ..AugmentUniforms::default()
    };
    let per_step = x.gpu().training_step(step)?;
    let full = p.vflip
        || p.zoom != (0.0, 0.0)
        || p.max_shear > 0.0
        || p.translate != (0.0, 0.0)
        || p.brightness > 0.0;
    x.gpu().dispatch_tensors_per_step(
        &key(p.fill.code().0, full),
        &u,
        &[Some(x), means.as_ref(), Some(&out)],
        Some(&per_step),
        len.div_ceil(WG),
        1,
    )?;
    Ok(out)
}

impl AugmentBackend for GpuBackend {
    fn augment(&self, x: &Tensor, p: &AugmentParams, seed: u32, step: u32) -> Result<Tensor> {
        super::augment(x, p, seed, step)
    }
}
