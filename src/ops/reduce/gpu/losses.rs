//! GPU side of the losses and metrics (`shaders/reduce.wgsl`): softmax cross-entropy, top-k
//! hits, the pointwise losses and metrics, and the loss family's `GpuBackend` impl.

use super::super::{PointwiseLoss, PointwiseMetric};
use super::{per_row_fits, reduce_levels, row_stats, rows_uniforms, run, sum_all, tree_fits};
use super::{u32_of, ReduceUniforms, Term, SHADER};
use crate::error::Result;
use crate::gpu::shaders::entry_point;
use crate::ops::backend::{GpuBackend, LossBackend};
use crate::shape::Shape;
use crate::tensor::Tensor;

pub(crate) fn softmax_xent(
    x: &Tensor,
    targets: &Tensor,
    rows: usize,
    cols: usize,
) -> Result<(Tensor, Tensor)> {
    let grad = Tensor::uninit(x.gpu(), x.shape().clone())?;
    let per_row = Tensor::uninit(x.gpu(), Shape::new([rows]))?;
    let u = rows_uniforms(rows, cols)?;
    if per_row_fits(x.gpu(), cols) {
        let bufs = [Some(targets), Some(&grad), Some(&per_row)];
        run(entry_point!(SHADER, "softmax_xent"), &u, x, bufs, rows)?;
    } else {
        let stats = row_stats(x, rows, cols, Some(targets))?;
        let u = ReduceUniforms { op: 2, ..u };
        let bufs = [Some(&stats), Some(&grad), Some(&per_row)];
        run(entry_point!(SHADER, "rows_apply"), &u, x, bufs, rows * cols)?;
    }
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
    let hits = Tensor::uninit(x.gpu(), Shape::new([rows]))?;
    let u = ReduceUniforms {
        k: u32_of(k.min(cols))?,
        ..rows_uniforms(rows, cols)?
    };
    // cols + 1 passes per row.
    if cols + 2 <= x.gpu().loop_budget() {
        run(
            entry_point!(SHADER, "topk_hits"),
            &u,
            x,
            [Some(targets), None, Some(&hits)],
            rows,
        )?;
    } else {
        let (before, _) = reduce_levels(
            x,
            [rows, cols, 1],
            Term::RanksBefore(targets),
            false,
            Shape::new([rows]),
            tree_fits(rows, cols),
        )?;
        let u = ReduceUniforms { op: 3, ..u };
        run(
            entry_point!(SHADER, "rows_apply"),
            &u,
            &before,
            [None, None, Some(&hits)],
            rows,
        )?;
    }
    sum_all(&hits, 1.0)
}

pub(crate) fn pointwise_loss(
    pred: &Tensor,
    target: &Tensor,
    loss: PointwiseLoss,
) -> Result<(Tensor, Tensor)> {
    let grad = Tensor::uninit(pred.gpu(), pred.shape().clone())?;
    let op = match loss {
        PointwiseLoss::Mse => 0,
        PointwiseLoss::BceWithLogits => 1,
    };
    let entry = entry_point!(SHADER, "pointwise_loss");
    Ok((pointwise_mean(entry, op, pred, target, Some(&grad))?, grad))
}

pub(crate) fn pointwise_metric(
    pred: &Tensor,
    target: &Tensor,
    metric: PointwiseMetric,
) -> Result<Tensor> {
    let op = match metric {
        PointwiseMetric::SquaredError => 0,
        PointwiseMetric::AbsoluteError => 1,
        PointwiseMetric::BinaryHits => 2,
    };
    pointwise_mean(
        entry_point!(SHADER, "pointwise_metric"),
        op,
        pred,
        target,
        None,
    )
}

/// Runs a pointwise entry (`dst` = `grad` when it writes one, `dst2` = the terms) and returns
/// the mean of the terms, `[1]`.
fn pointwise_mean(
    entry: &'static str,
    op: u32,
    pred: &Tensor,
    target: &Tensor,
    grad: Option<&Tensor>,
) -> Result<Tensor> {
    let terms = Tensor::uninit(pred.gpu(), pred.shape().clone())?;
    let n = pred.numel();
    let u = ReduceUniforms {
        len: u32_of(n)?,
        op,
        ..ReduceUniforms::default()
    };
    run(entry, &u, pred, [Some(target), grad, Some(&terms)], n)?;
    sum_all(&terms, 1.0 / n as f32)
}

impl LossBackend for GpuBackend {
    fn softmax_cross_entropy(&self, logits: &Tensor, targets: &Tensor) -> Result<(Tensor, Tensor)> {
        let (rows, classes) = super::super::rows_cols("softmax_cross_entropy", logits)?;
        super::super::check_target_tensor("softmax_cross_entropy", targets, rows)?;
        softmax_xent(logits, targets, rows, classes)
    }
    fn pointwise_loss(
        &self,
        pred: &Tensor,
        target: &Tensor,
        loss: PointwiseLoss,
    ) -> Result<(Tensor, Tensor)> {
        super::super::pointwise_loss(pred, target, loss)
    }
    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        super::super::softmax(x)
    }
    fn softmax_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        super::super::softmax_backward(y, dy)
    }
    fn scale_rows(&self, x: &Tensor, s: &Tensor) -> Result<Tensor> {
        super::super::scale_rows(x, s)
    }
    fn row_dots(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        super::super::row_dots(a, b)
    }
    fn topk_hits(&self, logits: &Tensor, targets: &Tensor, k: usize) -> Result<Tensor> {
        let (rows, classes) = super::super::rows_cols("topk_hits", logits)?;
        super::super::check_target_tensor("topk_hits", targets, rows)?;
        topk_hits(logits, targets, rows, classes, k)
    }
    fn pointwise_metric(
        &self,
        pred: &Tensor,
        target: &Tensor,
        metric: PointwiseMetric,
    ) -> Result<Tensor> {
        super::super::pointwise_metric(pred, target, metric)
    }
}
