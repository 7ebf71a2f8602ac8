//! GPU side of the reductions and losses (`shaders/reduce.wgsl`).

use super::{PointwiseLoss, ReduceOp};
use crate::error::{Error, Result};
use crate::gpu::{uniform_block, Overrides, PipelineKey, Shader};
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in reduce.wgsl.
pub struct ReduceUniforms {
    pub rows: u32,
    pub cols: u32,
    pub outer: u32,
    pub len: u32,
    pub inner: u32,
    pub op: u32,
    pub k: u32,
    pub _pad: u32,
    pub scale: f32,
    pub _pad1: u32,
    pub _pad2: u32,
    pub _pad3: u32,
}
}

const WG: u32 = 64;
/// Workgroup of `sum_all` (a power of two).
const WG_SUM: u32 = 256;

fn key(entry: &'static str) -> PipelineKey {
    // The workgroup-tree entries use the wide workgroup.
    let wg = if entry.starts_with("sum_all") || entry == "reduce_axis_tree" {
        WG_SUM
    } else {
        WG
    };
    let shader = if entry == "sum_all_subgroup" {
        Shader::ReduceSubgroup
    } else {
        Shader::Reduce
    };
    PipelineKey {
        shader,
        entry,
        overrides: Overrides::new(&[("WG", wg)]),
    }
}

pub fn pipelines() -> Vec<PipelineKey> {
    let entries = Shader::Reduce
        .entry_points()
        .iter()
        .chain(Shader::ReduceSubgroup.entry_points());
    entries.map(|e| key(e)).collect()
}

fn u32_of(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: "reduction".into(),
        bytes: v as u64 * 4,
        limit: u64::from(u32::MAX),
    })
}

/// One invocation per `count` (or one workgroup for the sums); bindings src, aux, dst, dst2.
fn run(
    entry: &'static str,
    u: &ReduceUniforms,
    src: &Tensor,
    bufs: [Option<&Tensor>; 3],
    count: usize,
) -> Result<()> {
    let [aux, dst, dst2] = bufs;
    let blocks = if entry.starts_with("sum_all") {
        1
    } else {
        u32_of(count.div_ceil(WG as usize))?
    };
    src.gpu()
        .dispatch_tensors(&key(entry), u, &[Some(src), aux, dst, dst2], blocks, 1)
}

/// `scale · Σ x`, with subgroup operations when the device has SUBGROUP.
pub(crate) fn sum_all(x: &Tensor, scale: f32) -> Result<Tensor> {
    sum_all_with(
        x,
        scale,
        x.gpu().features().contains(wgpu::Features::SUBGROUP),
    )
}

/// `scale · Σ x`, forcing the subgroup kernel or the workgroup-tree fallback (tests prove both).
pub fn sum_all_with(x: &Tensor, scale: f32, subgroups: bool) -> Result<Tensor> {
    if subgroups && !x.gpu().features().contains(wgpu::Features::SUBGROUP) {
        return Err(Error::invalid(
            "reduce",
            "subgroups",
            true,
            "this device was opened without the SUBGROUP feature",
        ));
    }
    let out = Tensor::zeros(x.gpu(), Shape::new([1]))?;
    let u = ReduceUniforms {
        len: u32_of(x.numel())?,
        scale,
        ..ReduceUniforms::default()
    };
    let entry = if subgroups {
        "sum_all_subgroup"
    } else {
        "sum_all"
    };
    run(entry, &u, x, [None, Some(&out), None], 1)?;
    Ok(out)
}

/// Whether an axis reduction takes the workgroup-tree kernel: long axes with few outputs,
/// where one invocation per output would leave the device idle.
pub fn tree_fits(outputs: usize, len: usize) -> bool {
    len >= 512 && outputs <= 16384
}

/// `reduce` along an axis of x viewed as `[outer, len, inner]`, with the kernel forced
/// (`tree`: one workgroup per output) — tests prove both.
pub fn reduce_axis_with(
    x: &Tensor,
    [outer, len, inner]: [usize; 3],
    op: ReduceOp,
    out: Shape,
    tree: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    if outer.checked_mul(len).and_then(|v| v.checked_mul(inner)) != Some(x.numel())
        || out.numel() != outer * inner
        || len == 0
    {
        return Err(crate::error::Error::invalid(
            "reduce",
            "axis view",
            format!("[{outer}, {len}, {inner}]"),
            format!("does not cover x {}", x.shape()),
        ));
    }
    let y = Tensor::zeros(x.gpu(), out.clone())?;
    let idx = (op == ReduceOp::Max)
        .then(|| Tensor::zeros(x.gpu(), out))
        .transpose()?;
    let code = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Mean => 1,
        ReduceOp::Max => 2,
    };
    let u = ReduceUniforms {
        outer: u32_of(outer)?,
        len: u32_of(len)?,
        inner: u32_of(inner)?,
        op: code,
        ..ReduceUniforms::default()
    };
    let bufs = [None, Some(&y), idx.as_ref()];
    if tree {
        // One workgroup per output.
        let blocks = u32_of(outer * inner)?;
        x.gpu().dispatch_tensors(
            &key("reduce_axis_tree"),
            &u,
            &[Some(x), bufs[0], bufs[1], bufs[2]],
            blocks,
            1,
        )?;
    } else {
        run("reduce_axis", &u, x, bufs, outer * inner)?;
    }
    Ok((y, idx))
}

fn rows_uniforms(rows: usize, cols: usize) -> Result<ReduceUniforms> {
    Ok(ReduceUniforms {
        rows: u32_of(rows)?,
        cols: u32_of(cols)?,
        ..ReduceUniforms::default()
    })
}

pub(crate) fn softmax(x: &Tensor, rows: usize, cols: usize, log: bool) -> Result<Tensor> {
    let y = Tensor::zeros(x.gpu(), x.shape().clone())?;
    let u = ReduceUniforms {
        op: u32::from(log),
        ..rows_uniforms(rows, cols)?
    };
    run("softmax", &u, x, [None, Some(&y), None], rows)?;
    Ok(y)
}

pub(crate) fn softmax_xent(
    x: &Tensor,
    targets: &Tensor,
    rows: usize,
    cols: usize,
) -> Result<(Tensor, Tensor)> {
    let grad = Tensor::zeros(x.gpu(), x.shape().clone())?;
    let per_row = Tensor::zeros(x.gpu(), Shape::new([rows]))?;
    run(
        "softmax_xent",
        &rows_uniforms(rows, cols)?,
        x,
        [Some(targets), Some(&grad), Some(&per_row)],
        rows,
    )?;
    let loss = sum_all(&per_row, 1.0 / rows as f32)?;
    Ok((loss, grad))
}

pub(crate) fn topk_hits(
    x: &Tensor,
    targets: &Tensor,
    rows: usize,
    cols: usize,
    k: usize,
) -> Result<Tensor> {
    let hits = Tensor::zeros(x.gpu(), Shape::new([rows]))?;
    let u = ReduceUniforms {
        k: u32_of(k.min(cols))?,
        ..rows_uniforms(rows, cols)?
    };
    run("topk_hits", &u, x, [Some(targets), None, Some(&hits)], rows)?;
    sum_all(&hits, 1.0)
}

pub(crate) fn pointwise_loss(
    pred: &Tensor,
    target: &Tensor,
    loss: PointwiseLoss,
) -> Result<(Tensor, Tensor)> {
    let grad = Tensor::zeros(pred.gpu(), pred.shape().clone())?;
    let terms = Tensor::zeros(pred.gpu(), pred.shape().clone())?;
    let op = match loss {
        PointwiseLoss::Mse => 0,
        PointwiseLoss::BceWithLogits => 1,
    };
    let n = pred.numel();
    let u = ReduceUniforms {
        len: u32_of(n)?,
        op,
        ..ReduceUniforms::default()
    };
    run(
        "pointwise_loss",
        &u,
        pred,
        [Some(target), Some(&grad), Some(&terms)],
        n,
    )?;
    Ok((sum_all(&terms, 1.0 / n as f32)?, grad))
}
