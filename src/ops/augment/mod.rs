//! Random image augmentation on the GPU (Keras's RandomFlip, RandomTranslation,
//! RandomRotation, RandomContrast in one pass): draws keyed by (seed, step, image), so a
//! training step is reproducible and needs no host randomness. See `shaders/augment.wgsl`.

pub mod backend;
pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

const OP: &str = "augment";

/// What to randomise, per image.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct AugmentParams {
    /// Mirror left–right with probability 1/2.
    pub flip: bool,
    /// Translate by up to this many pixels each way, filling with zeros (the "pad and random
    /// crop" of CIFAR training).
    pub max_shift: usize,
    /// Rotate by up to this many radians either way about the centre (bilinear).
    pub max_angle: f32,
    /// Scale the deviation from each channel's mean by a factor in [1 − c, 1 + c].
    pub contrast: f32,
}

impl AugmentParams {
    /// Checks the ranges: `max_angle` in `[0, π]`, `contrast` in `[0, 1]` and `max_shift` at
    /// most 65,536; the error names the first field outside its range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=std::f32::consts::PI).contains(&self.max_angle) {
            return Err(Error::invalid(
                OP,
                "max_angle",
                self.max_angle,
                "must be in [0, π]",
            ));
        }
        if !(0.0..=1.0).contains(&self.contrast) {
            return Err(Error::invalid(
                OP,
                "contrast",
                self.contrast,
                "must be in [0, 1]",
            ));
        }
        if self.max_shift > 1 << 16 {
            return Err(Error::invalid(
                OP,
                "max_shift",
                self.max_shift,
                "at most 65,536",
            ));
        }
        Ok(())
    }
}

/// `x` `[n, c, h, w]` augmented with the draws of (seed, step).
pub fn augment(x: &Tensor, p: &AugmentParams, seed: u32, step: u32) -> Result<Tensor> {
    p.validate()?;
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "input",
            expected: "rank 4 [n, c, h, w]".into(),
            got: x.shape().to_string(),
        });
    };
    gpu::forward(x, [n, c, h, w], p, seed, step)
}
