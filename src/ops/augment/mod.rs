//! Random image augmentation on the GPU (Keras's RandomFlip, RandomTranslation,
//! RandomRotation, RandomZoom, RandomContrast, RandomBrightness and ImageDataGenerator's
//! shear and fill modes, in one pass): draws keyed by (seed, step, image), so a
//! training step is reproducible and needs no host randomness. See `shaders/augment.wgsl`.

pub mod backend;
pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

const OP: &str = "augment";

/// What fills the pixels an augmentation brings in from outside the image (Keras's
/// `fill_mode`), for input `a b c d`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum FillMode {
    /// A constant value (`k k k k | a b c d | k k k k`); zero is zero padding.
    Constant(f32),
    /// The nearest edge pixel (`a a a a | a b c d | d d d d`).
    Nearest,
    /// Reflected about the edge, the edge repeated (`d c b a | a b c d | d c b a`).
    Reflect,
    /// Wrapped around (`a b c d | a b c d | a b c d`).
    Wrap,
    /// Reflected about the edge pixel (`d c b | a b c d | c b a`).
    Mirror,
}

impl FillMode {
    /// The shader's code and constant.
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            FillMode::Constant(v) => (0, v),
            FillMode::Nearest => (1, 0.0),
            FillMode::Reflect => (2, 0.0),
            FillMode::Wrap => (3, 0.0),
            FillMode::Mirror => (4, 0.0),
        }
    }
}

/// What to randomise, per image, with Keras's factor semantics. Each field at its default
/// leaves the image as it is; the default fill is zeros.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct AugmentParams {
    /// Mirror left–right with probability 1/2 (`RandomFlip("horizontal")`).
    pub flip: bool,
    /// Mirror top–bottom with probability 1/2 (`RandomFlip("vertical")`).
    pub vflip: bool,
    /// Translate by a whole number of pixels, up to this many each way (the "pad and random
    /// crop" of CIFAR training).
    pub max_shift: usize,
    /// Translate by up to these fractions of the height and width each way
    /// (`RandomTranslation(height_factor, width_factor)`, bilinear).
    pub translate: (f32, f32),
    /// Rotate by up to this many radians either way about the centre (bilinear;
    /// `RandomRotation(factor)` is `factor · 2π`).
    pub max_angle: f32,
    /// Zoom by `1 + z`, `z` uniform in `[lower, upper]` (`RandomZoom(height_factor)` with
    /// the aspect ratio kept; `ImageDataGenerator(zoom_range = r)` is `(−r, r)`): positive
    /// zooms out, negative in.
    pub zoom: (f32, f32),
    /// Shear by up to this many radians either way (`ImageDataGenerator(shear_range)`, which
    /// is in degrees).
    pub max_shear: f32,
    /// Scale the deviation from each channel's mean by a factor in [1 − c, 1 + c]
    /// (`RandomContrast`).
    pub contrast: f32,
    /// Add up to `brightness · (hi − lo)` either way, then clip to `value_range`
    /// (`RandomBrightness(factor, value_range)`).
    pub brightness: f32,
    /// The range the brightness change clips to: `(0, 1)` by default, `(0, 255)` for raw
    /// bytes.
    pub value_range: (f32, f32),
    /// What fills pixels brought in from outside the image.
    pub fill: FillMode,
}

impl Default for AugmentParams {
    fn default() -> AugmentParams {
        AugmentParams {
            flip: false,
            vflip: false,
            max_shift: 0,
            translate: (0.0, 0.0),
            max_angle: 0.0,
            zoom: (0.0, 0.0),
            max_shear: 0.0,
            contrast: 0.0,
            brightness: 0.0,
            value_range: (0.0, 1.0),
            fill: FillMode::Constant(0.0),
        }
    }
}

impl AugmentParams {
    /// Checks the ranges: `max_angle` and `max_shear` in `[0, π]` (shear below π/2),
    /// `contrast` and `brightness` in `[0, 1]`, translation fractions in `[0, 1]`, zoom bounds
    /// ordered in `(−1, 10]`, a finite value range with `lo < hi`, a finite fill value and
    /// `max_shift` at most 65,536; the error names the first field outside its range.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, field: &'static str, v: String, want: &str| match ok {
            true => Ok(()),
            false => Err(Error::invalid(OP, field, v, want)),
        };
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        let pi = std::f32::consts::PI;
        check(
            (0.0..=pi).contains(&self.max_angle),
            "max_angle",
            self.max_angle.to_string(),
            "must be in [0, π]",
        )?;
        check(
            (0.0..pi / 2.0).contains(&self.max_shear),
            "max_shear",
            self.max_shear.to_string(),
            "must be in [0, π/2)",
        )?;
        check(
            unit(self.contrast),
            "contrast",
            self.contrast.to_string(),
            "must be in [0, 1]",
        )?;
        check(
            unit(self.brightness),
            "brightness",
            self.brightness.to_string(),
            "must be in [0, 1]",
        )?;
        check(
            unit(self.translate.0) && unit(self.translate.1),
            "translate",
            format!("{:?}", self.translate),
            "fractions must be in [0, 1]",
        )?;
        let (lo, hi) = self.zoom;
        check(
            lo > -1.0 && lo <= hi && hi <= 10.0,
            "zoom",
            format!("{:?}", self.zoom),
            "must be ordered bounds in (-1, 10]",
        )?;
        let (a, b) = self.value_range;
        check(
            a.is_finite() && b.is_finite() && a < b,
            "value_range",
            format!("{:?}", self.value_range),
            "must be finite with lower < upper",
        )?;
        check(
            self.fill.code().1.is_finite(),
            "fill",
            format!("{:?}", self.fill),
            "the constant must be finite",
        )?;
        check(
            self.max_shift <= 1 << 16,
            "max_shift",
            self.max_shift.to_string(),
            "at most 65,536",
        )
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
