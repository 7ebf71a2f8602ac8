//! GPU side of batch normalisation (`shaders/norm.wgsl`).

use super::{BatchNormGrads, BatchNormParams, BatchNormTrain};
use crate::error::Result;
use crate::gpu::exchange::Exchange;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Gpu, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{GpuBackend, NormBackend};
use crate::ops::reduce::ReduceOp;
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in norm.wgsl.
pub(crate) struct NormUniforms {
    /// Batch size (1 for `fold_conv`).
    pub n: u32,
    /// Channels.
    pub c: u32,
    /// Pixels per channel plane, `h·w` (`fold_conv`: weights per output channel).
    pub hw: u32,
    /// The entry's switch: `stats_partial` sums x (0) or squared deviations (1);
    /// `backward_data` uses batch statistics (1, training) or running ones (0, evaluation);
    /// `fold_conv` reads the conv's bias (1).
    pub flag: u32,
    /// Added to the variance under the square root.
    pub eps: f32,
    /// Weight of the new batch statistic in the running averages.
    pub momentum: f32,
    /// 1: normalize / backward_data walk channel planes (set by `run` for planes ≥ WG).
    pub planes: u32,
    /// A chunk of a channel: `imgs` images × `seg` plane positions, `segs` segments a plane.
    pub imgs: u32,
    /// Plane positions per segment of a chunk.
    pub seg: u32,
    /// Segments per channel plane.
    pub segs: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
}
}

/// Workgroup size (a power of two for the per-channel trees).
const WG: u32 = 256;
/// Elements per invocation of the plane-walking entries (`const PER` in norm.wgsl).
const PER: u32 = 8;

/// `shaders/norm.wgsl`: x, dy, gamma, aux, stats, out, chan_out.
pub static SHADER: ShaderDef = ShaderDef {
    name: "norm",
    source: include_str!("../../../shaders/norm.wgsl"),
    entry_points: &[
        "stats_forward",
        "stats_partial",
        "stats_finalize",
        "normalize",
        "backward_reduce",
        "backward_data",
        "fold_conv",
    ],
    storage_read_only: &[true, true, true, true, true, false, false],
    uniform: UniformLayout::of::<NormUniforms>(),
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

pub(super) type Dims = (usize, usize, usize);

/// Chunks of a channel's n·hw values whose walks stay within the loop budget, two walks
/// (stats_forward's) per dispatch: (images per chunk, plane positions per segment,
/// segments per plane, chunks).
fn chunking(gpu: &Gpu, n: usize, hw: usize) -> (usize, usize, usize, usize) {
    // stats_forward: two walks and two trees of log₂ WG + 1 passes.
    let trees = 2 * (WG.ilog2() as usize + 1);
    let walk = (gpu.loop_budget().saturating_sub(trees) / 2).max(4);
    let wg = WG as usize;
    let steps = hw.div_ceil(wg).clamp(1, walk - 3);
    let seg = steps * wg;
    let segs = hw.div_ceil(seg);
    let imgs = ((walk - 1) / (steps + 2)).clamp(1, n);
    (imgs, seg, segs, n.div_ceil(imgs) * segs)
}

/// `check` in mod.rs bounded every count by u32. Returns the uniforms and the chunk count.
fn uniforms(
    gpu: &Gpu,
    (n, c, hw): Dims,
    eps: f32,
    momentum: f32,
    flag: u32,
) -> (NormUniforms, u32) {
    let (imgs, seg, segs, chunks) = chunking(gpu, n, hw);
    let u = NormUniforms {
        n: n as u32,
        c: c as u32,
        hw: hw as u32,
        flag,
        eps,
        momentum,
        imgs: imgs as u32,
        seg: seg as u32,
        segs: segs as u32,
        ..NormUniforms::default()
    };
    (u, chunks as u32)
}

/// Σ over the `chunks` rows of `width` values of `parts`, in order.
fn add_chunks(parts: &Tensor, chunks: u32, width: usize) -> Result<Tensor> {
    let view = [1, chunks as usize, width];
    let out = Shape::new([width]);
    Ok(crate::ops::reduce::gpu::reduce_axis_with(parts, view, ReduceOp::Sum, out, false)?.0)
}

/// Bindings x, dy, gamma, aux, stats, out, chan_out. `per_channel`: one workgroup per
/// (channel, chunk) of `chunks`.
fn run(
    gpu: &Gpu,
    entry: &'static str,
    u: &NormUniforms,
    bufs: [Option<&Tensor>; 7],
    per_channel: Option<u32>,
) -> Result<()> {
    let mut u = *u;
    let mut z = 1;
    let blocks = if let Some(chunks) = per_channel {
        z = chunks;
        u.c
    } else if u.hw >= WG {
        // Planes of at least a workgroup: one workgroup per PER·WG elements of a plane.
        u.planes = 1;
        u.n * u.c * u.hw.div_ceil(WG * PER)
    } else {
        (u.n * u.c * u.hw).div_ceil(WG)
    };
    gpu.dispatch_tensors(&key(entry), &u, &bufs, blocks, z)
}

/// `[a | b]` as one `[2c]` buffer.
fn pack(gpu: &Gpu, a: &Tensor, b: &Tensor, c: usize) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, Shape::new([2 * c]))?;
    gpu.copy(a, 0, &out, 0, c)?;
    gpu.copy(b, 0, &out, c, c)?;
    Ok(out)
}

/// Part `k` (of `c` values) of a packed buffer as its own tensor.
pub(super) fn unpack(gpu: &Gpu, packed: &Tensor, k: usize, c: usize) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, Shape::new([c]))?;
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
    let (u, chan) = batch_stats(x, rm, rv, p, dims)?;
    // normalize reads stats[0..2c] = mean | var from the front of `chan`.
    let y = normalize(x, gamma, beta, &chan, &u)?;
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

/// The batch's `[mean | biased variance | running mean | running variance]` (the running
/// ones updated from `rm`, `rv`, not written back), with the uniforms it ran with.
pub(super) fn batch_stats(
    x: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    p: &BatchNormParams,
    dims: Dims,
) -> Result<(NormUniforms, Tensor)> {
    let gpu = x.gpu();
    let c = dims.1;
    let running = pack(gpu, rm, rv, c)?;
    let chan = Tensor::uninit(gpu, Shape::new([4 * c]))?; // mean | var | running mean | running var
    let (u, chunks) = uniforms(gpu, dims, p.eps, p.momentum, 1);
    if chunks == 1 {
        let bufs = [Some(x), None, None, None, Some(&running), None, Some(&chan)];
        run(
            gpu,
            entry_point!(SHADER, "stats_forward"),
            &u,
            bufs,
            Some(1),
        )?;
    } else {
        // Σ x by chunks, then Σ (x − mean)² by chunks, then the statistics.
        let parts = Tensor::uninit(gpu, Shape::new([chunks as usize * c]))?;
        let first = NormUniforms { flag: 0, ..u };
        let bufs = [Some(x), None, None, None, None, None, Some(&parts)];
        run(
            gpu,
            entry_point!(SHADER, "stats_partial"),
            &first,
            bufs,
            Some(chunks),
        )?;
        let sums = add_chunks(&parts, chunks, c)?;
        let bufs = [Some(x), None, None, None, Some(&sums), None, Some(&parts)];
        run(
            gpu,
            entry_point!(SHADER, "stats_partial"),
            &u,
            bufs,
            Some(chunks),
        )?;
        let squares = add_chunks(&parts, chunks, c)?;
        let bufs = [
            None,
            Some(&squares),
            None,
            Some(&sums),
            Some(&running),
            None,
            Some(&chan),
        ];
        let blocks = u.c.div_ceil(WG);
        gpu.dispatch_tensors(
            &key(entry_point!(SHADER, "stats_finalize")),
            &u,
            &bufs,
            blocks,
            1,
        )?;
    }
    Ok((u, chan))
}

/// `(x − mean)·gamma/√(var + eps) + beta` per channel, `stats` = `[mean | var | …]`.
pub(super) fn normalize(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stats: &Tensor,
    u: &NormUniforms,
) -> Result<Tensor> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape().clone())?;
    let bufs = [
        Some(x),
        None,
        Some(gamma),
        Some(beta),
        Some(stats),
        Some(&y),
        None,
    ];
    run(gpu, entry_point!(SHADER, "normalize"), u, bufs, None)?;
    Ok(y)
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
    let stats = pack(x.gpu(), rm, rv, dims.1)?;
    let (u, _) = uniforms(x.gpu(), dims, eps, 0.0, 0);
    normalize(x, gamma, beta, &stats, &u)
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
    synced: bool,
    dims: Dims,
) -> Result<BatchNormGrads> {
    let gpu = x.gpu();
    let c = dims.1;
    let stats = pack(gpu, mean, var, c)?;
    let (u, chunks) = uniforms(gpu, dims, eps, 0.0, u32::from(training));
    // dgamma | dbeta, per chunk when there are several.
    let parts = Tensor::uninit(gpu, Shape::new([chunks as usize * 2 * c]))?;
    let bufs = [
        Some(x),
        Some(dy),
        None,
        None,
        Some(&stats),
        None,
        Some(&parts),
    ];
    run(
        gpu,
        entry_point!(SHADER, "backward_reduce"),
        &u,
        bufs,
        Some(chunks),
    )?;
    let sums = if chunks == 1 {
        parts
    } else {
        add_chunks(&parts, chunks, 2 * c)?
    };
    // Synchronised: Σ dy·x̂ and Σ dy over every process's batch, in this one's units.
    if synced {
        gpu.exchange_point(&sums, 2 * c, Exchange::WeightedSum)?;
    }
    let dx = Tensor::uninit(gpu, x.shape().clone())?;
    run(
        gpu,
        entry_point!(SHADER, "backward_data"),
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
        None,
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
    let wf = Tensor::uninit(gpu, w.shape().clone())?;
    let bf = Tensor::uninit(gpu, Shape::new([c]))?;
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
    gpu.dispatch_tensors(
        &key(entry_point!(SHADER, "fold_conv")),
        &u,
        &bufs,
        blocks,
        1,
    )?;
    Ok((wf, bf))
}

fn too_large(w: &Tensor) -> crate::error::Error {
    crate::error::Error::TooLarge {
        what: format!("batch-norm fold of {}", w.shape()),
        bytes: w.numel() as u64 * 4,
        limit: u64::from(u32::MAX),
    }
}

impl NormBackend for GpuBackend {
    fn batch_norm_train(
        &self,
        x: &Tensor,
        [g, b]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        p: &BatchNormParams,
    ) -> Result<[Tensor; 3]> {
        let t = super::batch_norm_train(x, g, b, rm, rv, p)?;
        Ok([t.y, t.batch_mean, t.batch_var])
    }
    fn batch_norm_eval(
        &self,
        x: &Tensor,
        [g, b]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        eps: f32,
    ) -> Result<Tensor> {
        super::batch_norm_eval(x, g, b, rm, rv, eps)
    }
    fn batch_norm_backward(
        &self,
        dy: &Tensor,
        x: &Tensor,
        gamma: &Tensor,
        [mean, var]: [&Tensor; 2],
        eps: f32,
        training: bool,
    ) -> Result<[Tensor; 3]> {
        let g = if training {
            super::batch_norm_backward_train(dy, x, gamma, mean, var, eps)?
        } else {
            super::batch_norm_backward_eval(dy, x, gamma, mean, var, eps)?
        };
        Ok([g.dx, g.dgamma, g.dbeta])
    }
    fn batch_norm_backward_synced(
        &self,
        dy: &Tensor,
        x: &Tensor,
        gamma: &Tensor,
        [mean, var]: [&Tensor; 2],
        eps: f32,
    ) -> Result<[Tensor; 3]> {
        let g = super::batch_norm_backward_synced(dy, x, gamma, mean, var, eps)?;
        Ok([g.dx, g.dgamma, g.dbeta])
    }
    fn fold_batch_norm(
        &self,
        w: &Tensor,
        b: Option<&Tensor>,
        [g, be]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        eps: f32,
    ) -> Result<(Tensor, Tensor)> {
        super::fold_into_conv(w, b, g, be, rm, rv, eps)
    }
}
