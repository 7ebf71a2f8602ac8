//! GPU side of the reductions and losses (`shaders/reduce.wgsl`).

use super::ReduceOp;
use crate::error::{Error, Result};
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::shape::Shape;
use crate::tensor::Tensor;

mod losses;
pub(crate) use losses::{pointwise_loss, pointwise_metric, softmax_xent, topk_hits};

uniform_block! {
/// Mirror of `struct Params` in common/reduce_params.wgsl.
pub(crate) struct ReduceUniforms {
    /// Rows of the row-major `[rows, cols]` view of the per-row entries.
    pub rows: u32,
    /// Values per row (classes, for softmax, cross-entropy and top-k).
    pub cols: u32,
    /// Product of the dimensions before the reduced axis (`reduce_axis`).
    pub outer: u32,
    /// Length of the reduced axis (`reduce_axis`), of the values `sum_all` sums, or of the
    /// elements `pointwise_loss` averages over.
    pub len: u32,
    /// Product of the dimensions after the reduced axis (`reduce_axis`).
    pub inner: u32,
    /// The entry's variant (reduce.wgsl's header): `reduce_axis` 0 sum, 1 mean, 2 max,
    /// 3 Σ exp(x − max), 4 top-k rank counts, 5 Σ x·aux; `softmax` 0 softmax, 1 log-softmax;
    /// `rows_apply` 0–4 (softmax), 6 x · aux[row]; `pointwise_loss` 0 MSE, 1 BCE with logits.
    pub op: u32,
    /// Top-k: a row is a hit when fewer than `k` classes rank before its target.
    pub k: u32,
    /// Values per chunk of a chunked reduction (the loop budget).
    pub chunk: u32,
    /// Factor on `sum_all`'s sums: the caller's scale (`1 / len` for a mean) on the last
    /// level, 1 on those before it.
    pub scale: f32,
    /// The axis length a mean divides by.
    pub total: u32,
    /// 1: aux holds the arg-max of an earlier level's maxima.
    pub carry: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad: u32,
}
}

const WG: u32 = 64;
/// Workgroup of `sum_all` (a power of two).
const WG_SUM: u32 = 256;

/// `shaders/reduce.wgsl`: src, aux, dst, dst2.
pub static SHADER: ShaderDef = ShaderDef {
    name: "reduce",
    source: include_str!("../../../shaders/reduce.wgsl"),
    entry_points: &[
        "reduce_axis",
        "reduce_axis_tree",
        "sum_all",
        "softmax",
        "softmax_xent",
        "softmax_backward",
        "topk_hits",
        "pointwise_loss",
        "pointwise_metric",
        "rows_apply",
    ],
    storage_read_only: &[true, true, false, false],
    uniform: UniformLayout::of::<ReduceUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/reduce_subgroup.wgsl`: `sum_all` with subgroup operations; src, aux, dst, dst2.
pub static SUBGROUP_SHADER: ShaderDef = ShaderDef {
    name: "reduce_subgroup",
    source: include_str!("../../../shaders/reduce_subgroup.wgsl"),
    entry_points: &["sum_all_subgroup"],
    storage_read_only: &[true, true, false, false],
    uniform: UniformLayout::of::<ReduceUniforms>(),
    per_step: None,
    needs_subgroups: true,
    textures: &[],
};

fn key(entry: &'static str) -> PipelineKey {
    // The workgroup-tree entries use the wide workgroup.
    let wg = if entry.starts_with("sum_all") || entry == "reduce_axis_tree" {
        WG_SUM
    } else {
        WG
    };
    let shader = if SUBGROUP_SHADER.entry_points.contains(&entry) {
        &SUBGROUP_SHADER
    } else {
        &SHADER
    };
    PipelineKey {
        shader,
        entry,
        overrides: Overrides::new(&[("WG", wg)]),
    }
}

/// Every pipeline this module dispatches: each entry point of both shaders, the
/// workgroup-tree ones with the wide workgroup.
pub fn pipelines() -> Vec<PipelineKey> {
    let entries = SHADER.entry_points.iter();
    entries
        .chain(SUBGROUP_SHADER.entry_points)
        .map(|e| key(e))
        .collect()
}

fn u32_of(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: "reduction".into(),
        bytes: v as u64 * 4,
        limit: u64::from(u32::MAX),
    })
}

/// One invocation per `count`; bindings src, aux, dst, dst2.
fn run(
    entry: &'static str,
    u: &ReduceUniforms,
    src: &Tensor,
    bufs: [Option<&Tensor>; 3],
    count: usize,
) -> Result<()> {
    let [aux, dst, dst2] = bufs;
    let blocks = u32_of(count.div_ceil(WG as usize))?;
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
/// Inputs longer than one workgroup's loop budget are summed in chunks, and the chunks'
/// sums again, in a fixed order.
pub fn sum_all_with(x: &Tensor, scale: f32, subgroups: bool) -> Result<Tensor> {
    let gpu = x.gpu();
    if subgroups && !gpu.features().contains(wgpu::Features::SUBGROUP) {
        return Err(Error::invalid(
            "reduce",
            "subgroups",
            true,
            "this device was opened without the SUBGROUP feature",
        ));
    }
    // The subgroup kernel's second loop runs up to WG_SUM / subgroup size times: it keeps
    // half the budget for it, and leaves small budgets to the plain tree.
    let budget = gpu.loop_budget();
    let subgroups = subgroups && budget > 4 * WG_SUM as usize;
    let chunk = if subgroups {
        budget / 2
    } else {
        tree_chunk(budget)
    } * WG_SUM as usize;
    let entry = if subgroups {
        entry_point!(SUBGROUP_SHADER, "sum_all_subgroup")
    } else {
        entry_point!(SHADER, "sum_all")
    };
    let mut src = x.clone();
    loop {
        let len = src.numel();
        let chunks = len.div_ceil(chunk);
        let last = chunks <= 1;
        let out = Tensor::uninit(gpu, Shape::new([chunks.max(1)]))?;
        let u = ReduceUniforms {
            len: u32_of(len)?,
            chunk: u32_of(chunk)?,
            scale: if last { scale } else { 1.0 },
            ..ReduceUniforms::default()
        };
        let bufs = [Some(&src), None, Some(&out), None];
        gpu.dispatch_tensors(&key(entry), &u, &bufs, u32_of(chunks.max(1))?, 1)?;
        if last {
            return Ok(out);
        }
        src = out;
    }
}

/// Strides of WG_SUM values one tree workgroup's invocation may walk: its loop's exit and the
/// tree's log₂ WG_SUM + 1 passes take the rest of the budget.
fn tree_chunk(budget: usize) -> usize {
    budget.saturating_sub(WG_SUM.ilog2() as usize + 2).max(1)
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
    let term = match op {
        ReduceOp::Sum | ReduceOp::Mean => Term::Plain,
        ReduceOp::Max => Term::Max,
    };
    reduce_levels(
        x,
        [outer, len, inner],
        term,
        op == ReduceOp::Mean,
        out,
        tree,
    )
}

/// What the first level of a chunked axis reduction reduces (reduce.wgsl's op codes).
#[derive(Clone, Copy)]
enum Term<'a> {
    /// The values themselves (sum, or a mean).
    Plain,
    /// The maximum and its arg-max.
    Max,
    /// exp(x − aux[row]): softmax denominators from the row maxima.
    ExpShifted(&'a Tensor),
    /// 1 for each class ranking before the target aux[row]: top-k hit counts.
    RanksBefore(&'a Tensor),
    /// x · aux at the same index: row dot products.
    Product(&'a Tensor),
}

/// Reduces the axis in chunks within the loop budget, then the chunks' results, level by
/// level, until one chunk is left (written into a tensor of shape `out`).
fn reduce_levels(
    x: &Tensor,
    [outer, len, inner]: [usize; 3],
    term: Term<'_>,
    mean: bool,
    out: Shape,
    tree: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let gpu = x.gpu();
    let budget = gpu.loop_budget();
    // One pass per value, or per WG_SUM values and the tree's (the shader's header).
    let chunk = if tree {
        tree_chunk(budget) * WG_SUM as usize
    } else {
        budget - 1
    };
    let is_max = matches!(term, Term::Max);
    let (mut src, mut carried, mut axis) = (x.clone(), None::<Tensor>, len);
    for level in 0.. {
        let chunks = axis.div_ceil(chunk);
        let last = chunks == 1;
        let shape = if last {
            out.clone()
        } else {
            Shape::new([outer * chunks * inner])
        };
        let y = Tensor::uninit(gpu, shape.clone())?;
        let idx = is_max.then(|| Tensor::uninit(gpu, shape)).transpose()?;
        let (op, aux) = match term {
            Term::Max => (2, carried.as_ref()),
            _ if level > 0 => (u32::from(mean && last), None),
            Term::Plain => (u32::from(mean && last), None),
            Term::ExpShifted(m) => (3, Some(m)),
            Term::RanksBefore(t) => (4, Some(t)),
            Term::Product(t) => (5, Some(t)),
        };
        let u = ReduceUniforms {
            outer: u32_of(outer)?,
            len: u32_of(axis)?,
            inner: u32_of(inner)?,
            op,
            chunk: u32_of(chunk)?,
            total: u32_of(len)?,
            carry: u32::from(carried.is_some()),
            ..ReduceUniforms::default()
        };
        let outputs = outer * chunks * inner;
        let bufs = [Some(&src), aux, Some(&y), idx.as_ref()];
        if tree {
            // One workgroup per output.
            let k = key(entry_point!(SHADER, "reduce_axis_tree"));
            gpu.dispatch_tensors(&k, &u, &bufs, u32_of(outputs)?, 1)?;
        } else {
            let blocks = u32_of(outputs.div_ceil(WG as usize))?;
            gpu.dispatch_tensors(
                &key(entry_point!(SHADER, "reduce_axis")),
                &u,
                &bufs,
                blocks,
                1,
            )?;
        }
        if last {
            return Ok((y, idx));
        }
        (src, carried, axis) = (y, idx, chunks);
    }
    unreachable!("the levels shrink the axis by a factor of at least 16")
}

fn rows_uniforms(rows: usize, cols: usize) -> Result<ReduceUniforms> {
    Ok(ReduceUniforms {
        rows: u32_of(rows)?,
        cols: u32_of(cols)?,
        ..ReduceUniforms::default()
    })
}

/// Whether the per-row softmax kernels (3·cols + 3 loop passes) fit the loop budget; longer
/// rows take reductions over the rows and `rows_apply`.
fn per_row_fits(gpu: &crate::Gpu, cols: usize) -> bool {
    3 * cols + 4 <= gpu.loop_budget()
}

/// `[row max | row Σ exp(x − max)]` of long rows, with `extra` (the targets) after them.
fn row_stats(x: &Tensor, rows: usize, cols: usize, extra: Option<&Tensor>) -> Result<Tensor> {
    let gpu = x.gpu();
    let tree = tree_fits(rows, cols);
    let view = [rows, cols, 1];
    let (m, _) = reduce_levels(x, view, Term::Max, false, Shape::new([rows]), tree)?;
    let (s, _) = reduce_levels(
        x,
        view,
        Term::ExpShifted(&m),
        false,
        Shape::new([rows]),
        tree,
    )?;
    let stats = Tensor::uninit(gpu, Shape::new([3 * rows]))?;
    gpu.copy(&m, 0, &stats, 0, rows)?;
    gpu.copy(&s, 0, &stats, rows, rows)?;
    if let Some(t) = extra {
        gpu.copy(t, 0, &stats, 2 * rows, rows)?;
    }
    Ok(stats)
}

pub(crate) fn softmax(x: &Tensor, rows: usize, cols: usize, log: bool) -> Result<Tensor> {
    let y = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = ReduceUniforms {
        op: u32::from(log),
        ..rows_uniforms(rows, cols)?
    };
    if per_row_fits(x.gpu(), cols) {
        run(
            entry_point!(SHADER, "softmax"),
            &u,
            x,
            [None, Some(&y), None],
            rows,
        )?;
    } else {
        let stats = row_stats(x, rows, cols, None)?;
        run(
            entry_point!(SHADER, "rows_apply"),
            &u,
            x,
            [Some(&stats), Some(&y), None],
            rows * cols,
        )?;
    }
    Ok(y)
}

/// d loss / d x of a row-wise softmax from its output `y` and `dy`: `y·(dy − Σ_row y·dy)`.
/// `x[r, c] · s[r]` of `[rows, cols]` and `[rows]` (a channel gate).
pub(crate) fn scale_rows(x: &Tensor, s: &Tensor, rows: usize, cols: usize) -> Result<Tensor> {
    let y = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let u = ReduceUniforms {
        op: 6,
        ..rows_uniforms(rows, cols)?
    };
    let entry = entry_point!(SHADER, "rows_apply");
    run(entry, &u, x, [Some(s), Some(&y), None], rows * cols)?;
    Ok(y)
}

/// `Σ_c a[r, c] · b[r, c]` per row, in loop-budget chunks (the chunked axis reduction).
pub(crate) fn row_dots(a: &Tensor, b: &Tensor, rows: usize, cols: usize) -> Result<Tensor> {
    let tree = tree_fits(rows, cols);
    let out = Shape::new([rows]);
    reduce_levels(a, [rows, cols, 1], Term::Product(b), false, out, tree).map(|(y, _)| y)
}

pub(crate) fn softmax_backward(
    y: &Tensor,
    dy: &Tensor,
    rows: usize,
    cols: usize,
) -> Result<Tensor> {
    let gpu = y.gpu();
    let dx = Tensor::uninit(gpu, y.shape().clone())?;
    let u = rows_uniforms(rows, cols)?;
    if per_row_fits(gpu, cols) {
        let entry = entry_point!(SHADER, "softmax_backward");
        run(entry, &u, y, [Some(dy), Some(&dx), None], rows)?;
        return Ok(dx);
    }
    let tree = tree_fits(rows, cols);
    let view = [rows, cols, 1];
    let (dot, _) = reduce_levels(y, view, Term::Product(dy), false, Shape::new([rows]), tree)?;
    let aux = Tensor::uninit(gpu, Shape::new([rows + rows * cols]))?;
    gpu.copy(&dot, 0, &aux, 0, rows)?;
    gpu.copy(dy, 0, &aux, rows, rows * cols)?;
    let u = ReduceUniforms { op: 4, ..u };
    let entry = entry_point!(SHADER, "rows_apply");
    run(entry, &u, y, [Some(&aux), Some(&dx), None], rows * cols)?;
    Ok(dx)
}
