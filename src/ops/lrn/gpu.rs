//! GPU side of LRN (`shaders/lrn.wgsl`).

use super::LrnParams;
use crate::error::Result;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{GpuBackend, LrnBackend};
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in lrn.wgsl.
pub(crate) struct LrnUniforms {
    /// Batch size.
    pub n: u32,
    /// Channels.
    pub c: u32,
    /// Pixels per channel (`h·w`).
    pub hw: u32,
    /// Channels each side of the window's centre: `min(size / 2, c)`.
    pub half: u32,
    /// Additive constant of the denominator.
    pub k: f32,
    /// Scale of the window's sum of squares.
    pub alpha: f32,
    /// Exponent of the denominator.
    pub beta: f32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad: u32,
}
}

const WG: u32 = 64;

/// `shaders/lrn.wgsl`: a, b, t, out.
pub static SHADER: ShaderDef = ShaderDef {
    name: "lrn",
    source: include_str!("../../../shaders/lrn.wgsl"),
    entry_points: &["forward", "backward_terms", "backward_data"],
    storage_read_only: &[true, true, true, false],
    uniform: UniformLayout::of::<LrnUniforms>(),
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

/// Bounded by u32 in `check`.
fn uniforms((n, c, hw): (usize, usize, usize), p: &LrnParams) -> LrnUniforms {
    LrnUniforms {
        n: n as u32,
        c: c as u32,
        hw: hw as u32,
        half: (p.size / 2).min(c) as u32,
        k: p.k,
        alpha: p.alpha,
        beta: p.beta,
        _pad: 0,
    }
}

/// Bindings a (= x, always present), b, t, out.
fn run(entry: &'static str, u: &LrnUniforms, x: &Tensor, rest: [Option<&Tensor>; 3]) -> Result<()> {
    let blocks = (u.n * u.c * u.hw).div_ceil(WG);
    let [b, t, out] = rest;
    x.gpu()
        .dispatch_tensors(&key(entry), u, &[Some(x), b, t, out], blocks, 1)
}

pub(crate) fn forward(x: &Tensor, p: &LrnParams, dims: (usize, usize, usize)) -> Result<Tensor> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape().clone())?;
    run(
        entry_point!(SHADER, "forward"),
        &uniforms(dims, p),
        x,
        [None, None, Some(&y)],
    )?;
    Ok(y)
}

pub(crate) fn backward(
    dy: &Tensor,
    x: &Tensor,
    p: &LrnParams,
    dims: (usize, usize, usize),
) -> Result<Tensor> {
    let gpu = x.gpu();
    let u = uniforms(dims, p);
    let terms = Tensor::uninit(gpu, x.shape().clone())?;
    run(
        entry_point!(SHADER, "backward_terms"),
        &u,
        x,
        [Some(dy), None, Some(&terms)],
    )?;
    let dx = Tensor::uninit(gpu, x.shape().clone())?;
    run(
        entry_point!(SHADER, "backward_data"),
        &u,
        x,
        [Some(dy), Some(&terms), Some(&dx)],
    )?;
    Ok(dx)
}

impl LrnBackend for GpuBackend {
    fn lrn(&self, x: &Tensor, p: &LrnParams) -> Result<Tensor> {
        super::lrn(x, p)
    }
    fn lrn_backward(&self, dy: &Tensor, x: &Tensor, p: &LrnParams) -> Result<Tensor> {
        super::lrn_backward(dy, x, p)
    }
}
