//! GPU side of batch normalisation (`shaders/norm.wgsl`).

use super::{BatchNormGrads, BatchNormParams, BatchNormTrain};
use crate::error::Result;
use crate::gpu::{uniform_block, Gpu, Overrides, PipelineKey, Shader};
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in norm.wgsl.
pub struct NormUniforms {
    pub n: u32,
    pub c: u32,
    pub hw: u32,
    pub flag: u32,
    pub eps: f32,
    pub momentum: f32,
    /// 1: normalize / backward_data walk channel planes (set by `run` for planes ≥ WG).
    pub planes: u32,
    pub _pad1: u32,
}
}

/// Workgroup size (a power of two for the per-channel trees).
const WG: u32 = 256;
/// Elements per invocation of the plane-walking entries (`const PER` in norm.wgsl).
const PER: u32 = 8;

fn key(entry: &'static str) -> PipelineKey {
    PipelineKey {
        shader: Shader::Norm,
        entry,
        overrides: Overrides::new(&[("WG", WG)]),
    }
}

pub fn pipelines() -> Vec<PipelineKey> {
    Shader::Norm.entry_points().iter().map(|e| key(e)).collect()
}

type Dims = (usize, usize, usize);

/// `check` in mod.rs bounded every count by u32.
fn uniforms((n, c, hw): Dims, eps: f32, momentum: f32, flag: u32) -> NormUniforms {
    NormUniforms {
        n: n as u32,
        c: c as u32,
        hw: hw as u32,
        flag,
        eps,
        momentum,
        ..NormUniforms::default()
    }
}

/// Bindings x, dy, gamma, aux, stats, out, chan_out.
fn run(
    gpu: &Gpu,
    entry: &'static str,
    u: &NormUniforms,
    bufs: [Option<&Tensor>; 7],
    per_channel: bool,
) -> Result<()> {
    let mut u = *u;
    let blocks = if per_channel {
        u.c
    } else if u.hw >= WG {
        // Planes of at least a workgroup: one workgroup per PER·WG elements of a plane.
        u.planes = 1;
        u.n * u.c * u.hw.div_ceil(WG * PER)
    } else {
        (u.n * u.c * u.hw).div_ceil(WG)
    };
    gpu.dispatch_tensors(&key(entry), &u, &bufs, blocks, 1)
}

/// `[a | b]` as one `[2c]` buffer.
fn pack(gpu: &Gpu, a: &Tensor, b: &Tensor, c: usize) -> Result<Tensor> {
    let out = Tensor::zeros(gpu, Shape::new([2 * c]))?;
    gpu.copy(a, 0, &out, 0, c)?;
    gpu.copy(b, 0, &out, c, c)?;
    Ok(out)
}

/// Part `k` (of `c` values) of a packed buffer as its own tensor.
fn unpack(gpu: &Gpu, packed: &Tensor, k: usize, c: usize) -> Result<Tensor> {
    let out = Tensor::zeros(gpu, Shape::new([c]))?;
    gpu.copy(packed, k * c, &out, 0, c)?;
    Ok(out)
}

pub(crate) fn train_forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    p: &BatchNormParams,
    dims: Dims,
) -> Result<BatchNormTrain> {
    let gpu = x.gpu();
    let c = dims.1;
    let running = pack(gpu, rm, rv, c)?;
    let chan = Tensor::zeros(gpu, Shape::new([4 * c]))?; // mean | var | running mean | running var
    let u = uniforms(dims, p.eps, p.momentum, 1);
    run(
        gpu,
        "stats_forward",
        &u,
        [Some(x), None, None, None, Some(&running), None, Some(&chan)],
        true,
    )?;
    let y = Tensor::zeros(gpu, x.shape().clone())?;
    // normalize reads stats[0..2c] = mean | var from the front of `chan`.
    run(
        gpu,
        "normalize",
        &u,
        [
            Some(x),
            None,
            Some(gamma),
            Some(beta),
            Some(&chan),
            Some(&y),
            None,
        ],
        false,
    )?;
    // The running statistics are updated in place (the kernel read the packed copy).
    gpu.copy(&chan, 2 * c, rm, 0, c)?;
    gpu.copy(&chan, 3 * c, rv, 0, c)?;
    Ok(BatchNormTrain {
        y,
        batch_mean: unpack(gpu, &chan, 0, c)?,
        batch_var: unpack(gpu, &chan, 1, c)?,
        running_mean: rm.clone(),
        running_var: rv.clone(),
    })
}

pub(crate) fn eval_forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    eps: f32,
    dims: Dims,
) -> Result<Tensor> {
    let gpu = x.gpu();
    let stats = pack(gpu, rm, rv, dims.1)?;
    let y = Tensor::zeros(gpu, x.shape().clone())?;
    let u = uniforms(dims, eps, 0.0, 0);
    run(
        gpu,
        "normalize",
        &u,
        [
            Some(x),
            None,
            Some(gamma),
            Some(beta),
            Some(&stats),
            Some(&y),
            None,
        ],
        false,
    )?;
    Ok(y)
}

#[allow(clippy::too_many_arguments)] // the backward of an op with five inputs
pub(crate) fn backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
    training: bool,
    dims: Dims,
) -> Result<BatchNormGrads> {
    let gpu = x.gpu();
    let c = dims.1;
    let stats = pack(gpu, mean, var, c)?;
    let sums = Tensor::zeros(gpu, Shape::new([2 * c]))?; // dgamma | dbeta
    let u = uniforms(dims, eps, 0.0, u32::from(training));
    run(
        gpu,
        "backward_reduce",
        &u,
        [
            Some(x),
            Some(dy),
            None,
            None,
            Some(&stats),
            None,
            Some(&sums),
        ],
        true,
    )?;
    let dx = Tensor::zeros(gpu, x.shape().clone())?;
    run(
        gpu,
        "backward_data",
        &u,
        [
            Some(x),
            Some(dy),
            Some(gamma),
            Some(&sums),
            Some(&stats),
            Some(&dx),
            None,
        ],
        false,
    )?;
    Ok(BatchNormGrads {
        dx,
        dgamma: unpack(gpu, &sums, 0, c)?,
        dbeta: unpack(gpu, &sums, 1, c)?,
    })
}

/// (w·s, beta + (b − mean)·s) with s = gamma/√(var + eps) per output channel: a batch norm in
/// evaluation mode folded into the conv `w` `[c_out, …]` (bias `b`) before it.
pub(crate) fn fold_conv(
    w: &Tensor,
    b: Option<&Tensor>,
    gamma: &Tensor,
    beta: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor)> {
    let gpu = w.gpu();
    let c = w.dims()[0];
    let per = w.numel() / c.max(1);
    let stats = pack(gpu, rm, rv, c)?;
    let wf = Tensor::zeros(gpu, w.shape().clone())?;
    let bf = Tensor::zeros(gpu, Shape::new([c]))?;
    let u = NormUniforms {
        n: 1,
        c: u32::try_from(c).map_err(|_| too_large(w))?,
        hw: u32::try_from(per).map_err(|_| too_large(w))?,
        flag: u32::from(b.is_some()),
        eps,
        ..NormUniforms::default()
    };
    let blocks = u32::try_from((w.numel() + c).div_ceil(WG as usize)).map_err(|_| too_large(w))?;
    let bufs = [
        Some(w),
        b,
        Some(gamma),
        Some(beta),
        Some(&stats),
        Some(&wf),
        Some(&bf),
    ];
    gpu.dispatch_tensors(&key("fold_conv"), &u, &bufs, blocks, 1)?;
    Ok((wf, bf))
}

fn too_large(w: &Tensor) -> crate::error::Error {
    crate::error::Error::TooLarge {
        what: format!("batch-norm fold of {}", w.shape()),
        bytes: w.numel() as u64 * 4,
        limit: u64::from(u32::MAX),
    }
}
