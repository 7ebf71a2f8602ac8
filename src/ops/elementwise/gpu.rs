//! GPU side of the elementwise ops (`shaders/elementwise.wgsl`).

use super::Activation;
use crate::error::{Error, Result};
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{ElementwiseBackend, GpuBackend};
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in elementwise.wgsl.
pub(crate) struct EwUniforms {
    /// Elements to process, one invocation each.
    pub len: u32,
    /// The entry point's variant: the activation code (0 ReLU, 1 LeakyReLU, 2 ELU, 3 tanh,
    /// 4 sigmoid), `binary`'s form (0 `alpha·a + beta·b`, 1 `alpha·a`, 2 `max(a + b, 0)`), or
    /// `copy_channels`' direction (0 into the wide tensor, 1 out of it).
    pub op: u32,
    /// LeakyReLU's or ELU's alpha, or `binary`'s factor of `a`.
    pub alpha: f32,
    /// `binary`'s factor of `b`.
    pub beta: f32,
    /// Elements per channel (`h·w` for NCHW, 1 for `[n, features]`).
    pub inner: u32,
    /// Channels of the bias (`bias_add`) or of the narrow tensor (`copy_channels`).
    pub channels: u32,
    /// Channels of the wide tensor (`copy_channels`).
    pub channels_b: u32,
    /// The narrow tensor's first channel within the wide one (`copy_channels`).
    pub offset: u32,
    /// `accumulate`: 1 applies the activation `op` to the sum.
    pub activate: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

const WG: u32 = 64;

/// `shaders/elementwise.wgsl`: a, b, dst.
pub static SHADER: ShaderDef = ShaderDef {
    name: "elementwise",
    source: include_str!("../../../shaders/elementwise.wgsl"),
    entry_points: &[
        "activation_forward",
        "activation_backward",
        "activation_backward_output",
        "binary",
        "bias_add",
        "copy_channels",
        "accumulate",
        "track_nonfinite",
    ],
    storage_read_only: &[true, true, false],
    uniform: UniformLayout::of::<EwUniforms>(),
    per_step: None,
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

/// Every pipeline this module dispatches: each entry point with the one workgroup size.
pub fn pipelines() -> Vec<PipelineKey> {
    SHADER.entry_points.iter().map(|e| key(e)).collect()
}

fn len_u32(t: &Tensor) -> Result<u32> {
    u32::try_from(t.numel()).map_err(|_| Error::TooLarge {
        what: format!("elementwise op on {}", t.shape()),
        bytes: t.numel() as u64 * 4,
        limit: u64::from(u32::MAX),
    })
}

/// One invocation per element of `u.len`.
fn run(
    entry: &'static str,
    u: EwUniforms,
    a: &Tensor,
    b: Option<&Tensor>,
    dst: &Tensor,
) -> Result<()> {
    let blocks = u.len.div_ceil(WG);
    a.gpu()
        .dispatch_tensors(&key(entry), &u, &[Some(a), b, Some(dst)], blocks, 1)
}

pub(crate) fn activation_forward(x: &Tensor, f: Activation) -> Result<Tensor> {
    let (op, alpha) = f.code();
    let y = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = EwUniforms {
        len: len_u32(x)?,
        op,
        alpha,
        ..EwUniforms::default()
    };
    run(entry_point!(SHADER, "activation_forward"), u, x, None, &y)?;
    Ok(y)
}

pub(crate) fn activation_backward(dy: &Tensor, x: &Tensor, f: Activation) -> Result<Tensor> {
    let (op, alpha) = f.code();
    let dx = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = EwUniforms {
        len: len_u32(x)?,
        op,
        alpha,
        ..EwUniforms::default()
    };
    run(
        entry_point!(SHADER, "activation_backward"),
        u,
        x,
        Some(dy),
        &dx,
    )?;
    Ok(dx)
}

pub(crate) fn activation_backward_output(dy: &Tensor, y: &Tensor, f: Activation) -> Result<Tensor> {
    let (op, alpha) = f.code();
    let dx = Tensor::uninit(y.gpu(), y.shape().clone())?;
    let u = EwUniforms {
        len: len_u32(y)?,
        op,
        alpha,
        ..EwUniforms::default()
    };
    run(
        entry_point!(SHADER, "activation_backward_output"),
        u,
        y,
        Some(dy),
        &dx,
    )?;
    Ok(dx)
}

pub(crate) fn binary(a: &Tensor, b: Option<&Tensor>, alpha: f32, beta: f32) -> Result<Tensor> {
    binary_op(a, b, alpha, beta, if b.is_some() { 0 } else { 1 })
}

/// `max(a + b, 0)` in one pass.
pub(crate) fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary_op(a, Some(b), 1.0, 1.0, 2)
}

fn binary_op(a: &Tensor, b: Option<&Tensor>, alpha: f32, beta: f32, op: u32) -> Result<Tensor> {
    let out = Tensor::uninit(a.gpu(), a.shape().clone())?;
    let u = EwUniforms {
        len: len_u32(a)?,
        op,
        alpha,
        beta,
        ..EwUniforms::default()
    };
    run(entry_point!(SHADER, "binary"), u, a, b, &out)?;
    Ok(out)
}

pub(crate) fn bias_add(x: &Tensor, b: &Tensor, channels: usize) -> Result<Tensor> {
    let out = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let inner: usize = x.dims()[2..].iter().product();
    let u = EwUniforms {
        len: len_u32(x)?,
        inner: inner as u32,
        channels: channels as u32,
        ..EwUniforms::default()
    };
    run(entry_point!(SHADER, "bias_add"), u, x, Some(b), &out)?;
    Ok(out)
}

/// Copies `narrow` into (`into_wide`) or out of the channels `offset..` of `wide`; shapes are
/// checked by the caller. The dispatch runs over `narrow`'s elements.
pub(crate) fn copy_channels(
    src: &Tensor,
    dst: &Tensor,
    offset: usize,
    into_wide: bool,
) -> Result<()> {
    let (narrow, wide) = if into_wide { (src, dst) } else { (dst, src) };
    let d = narrow.dims();
    let u = EwUniforms {
        len: len_u32(narrow)?,
        op: u32::from(!into_wide),
        inner: (d[2] * d[3]) as u32,
        channels: d[1] as u32,
        channels_b: wide.dims()[1] as u32,
        offset: offset as u32,
        ..EwUniforms::default()
    };
    run(entry_point!(SHADER, "copy_channels"), u, src, None, dst)
}

/// Counts a step in `watch` = [steps, first, value] and notes the first step whose `loss`
/// (one value) is not finite (elementwise.wgsl).
pub(crate) fn track_nonfinite(loss: &Tensor, watch: &Tensor) -> Result<()> {
    if loss.numel() != 1 || watch.numel() != 3 {
        return Err(Error::ShapeMismatch {
            op: "track_nonfinite",
            what: "loss and watch",
            expected: "1 and 3 values".into(),
            got: format!("{} and {}", loss.numel(), watch.numel()),
        });
    }
    let u = EwUniforms {
        len: 1,
        ..EwUniforms::default()
    };
    run(
        entry_point!(SHADER, "track_nonfinite"),
        u,
        loss,
        None,
        watch,
    )
}

/// `dst += src`, then `f` of the sum where given: how the K-slices of a long reduction add up
/// (`gpu::loops`), the activation applied after the last.
pub(crate) fn accumulate(dst: &Tensor, src: &Tensor, f: Option<Activation>) -> Result<()> {
    if dst.numel() != src.numel() {
        return Err(Error::ShapeMismatch {
            op: "accumulate",
            what: "src",
            expected: dst.shape().to_string(),
            got: src.shape().to_string(),
        });
    }
    let (op, alpha) = f.map_or((0, 0.0), Activation::code);
    let u = EwUniforms {
        len: len_u32(dst)?,
        op,
        alpha,
        activate: u32::from(f.is_some()),
        ..EwUniforms::default()
    };
    run(entry_point!(SHADER, "accumulate"), u, src, None, dst)
}

impl ElementwiseBackend for GpuBackend {
    fn activation(&self, x: &Tensor, f: Activation) -> Result<Tensor> {
        super::activation(x, f)
    }
    fn activation_backward(&self, dy: &Tensor, x: &Tensor, f: Activation) -> Result<Tensor> {
        super::activation_backward(dy, x, f)
    }
    fn activation_backward_from_output(
        &self,
        dy: &Tensor,
        y: &Tensor,
        f: Activation,
    ) -> Result<Tensor> {
        super::activation_backward_from_output(dy, y, f)
    }
    fn dropout(&self, x: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
        super::dropout(x, rate, seed, step)
    }
    fn axpby(&self, alpha: f32, a: &Tensor, beta: f32, b: &Tensor) -> Result<Tensor> {
        super::axpby(alpha, a, beta, b)
    }
    fn add_relu(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        super::add_relu(a, b)
    }
    fn concat(&self, parts: &[&Tensor]) -> Result<Tensor> {
        super::concat_channels(parts)
    }
    fn split(&self, x: &Tensor, sizes: &[usize]) -> Result<Vec<Tensor>> {
        super::split_channels(x, sizes)
    }
}
