//! Reductions (sum / mean / max with arg-max along an axis or over everything), softmax and
//! log-softmax, the fused softmax cross-entropy with its gradient, top-k hit counts, and the
//! mean-squared-error and binary cross-entropy (with logits) losses. Deterministic: every sum
//! runs in a fixed order.

pub mod backend;
pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

const OP: &str = "reduce";

/// The reduction [`reduce`] applies along an axis.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ReduceOp {
    /// Sum of the values, in a fixed order.
    Sum,
    /// Sum divided by the number of values reduced.
    Mean,
    /// Also returns the index of the first maximum along the axis (exact f32).
    Max,
}

/// Reduces `x` along `axis` (removed from the shape), or over every element when `axis` is
/// `None` (shape `[1]`). `Max` also returns the arg-max indices.
pub fn reduce(x: &Tensor, axis: Option<usize>, op: ReduceOp) -> Result<(Tensor, Option<Tensor>)> {
    let dims = x.dims();
    let (outer, len, inner, out_shape) = match axis {
        None => (1, x.numel(), 1, Shape::new([1])),
        Some(a) if a < dims.len() => {
            let mut out: Vec<usize> = dims.to_vec();
            out.remove(a);
            if out.is_empty() {
                out.push(1);
            }
            (
                dims[..a].iter().product(),
                dims[a],
                dims[a + 1..].iter().product(),
                Shape::new(out),
            )
        }
        Some(a) => {
            return Err(Error::invalid(
                OP,
                "axis",
                a,
                format!("x has rank {}", dims.len()),
            ))
        }
    };
    if len == 0 {
        return Err(Error::invalid(
            OP,
            "reduced length",
            0,
            "cannot reduce an empty axis",
        ));
    }
    if axis.is_none() && op != ReduceOp::Max {
        let scale = if op == ReduceOp::Mean {
            1.0 / len as f32
        } else {
            1.0
        };
        return Ok((gpu::sum_all(x, scale)?, None));
    }
    let tree = gpu::tree_fits(outer * inner, len);
    gpu::reduce_axis_with(x, [outer, len, inner], op, out_shape, tree)
}

pub(crate) fn rows_cols(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    match *x.dims() {
        [r, c] if r > 0 && c > 0 => Ok((r, c)),
        _ => Err(Error::ShapeMismatch {
            op,
            what: "logits",
            expected: "rank 2 [n, classes]".into(),
            got: x.shape().to_string(),
        }),
    }
}

/// Row-wise softmax of `[n, classes]`.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    let (r, c) = rows_cols("softmax", x)?;
    gpu::softmax(x, r, c, false)
}

/// Row-wise log-softmax of `[n, classes]`.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let (r, c) = rows_cols("log_softmax", x)?;
    gpu::softmax(x, r, c, true)
}

/// `x[r, c] · s[r]` for `x` of `[rows, cols]` and `s` of `[rows]`: a channel gate, rows being
/// (sample, channel) pairs and columns the pixels (squeeze-and-excitation's scale).
pub fn scale_rows(x: &Tensor, s: &Tensor) -> Result<Tensor> {
    let (r, c) = rows_cols("scale_rows", x)?;
    crate::ops::same_device("scale_rows", &[x, s])?;
    check_row_values("scale_rows", s, r)?;
    gpu::scale_rows(x, s, r, c)
}

/// `Σ_c a[r, c] · b[r, c]` for two `[rows, cols]` tensors: `[rows]` (the gate's gradient).
pub fn row_dots(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (r, c) = rows_cols("row_dots", a)?;
    crate::ops::same_device("row_dots", &[a, b])?;
    same_shape("row_dots", "b", a, b)?;
    gpu::row_dots(a, b, r, c)
}

/// An `Err` unless `b` has `a`'s shape.
fn same_shape(op: &'static str, what: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if b.shape() != a.shape() {
        return Err(Error::ShapeMismatch {
            op,
            what,
            expected: a.shape().to_string(),
            got: b.shape().to_string(),
        });
    }
    Ok(())
}

/// An `Err` unless `s` holds one value per row.
fn check_row_values(op: &'static str, s: &Tensor, rows: usize) -> Result<()> {
    if s.numel() != rows {
        return Err(Error::ShapeMismatch {
            op,
            what: "row values",
            expected: format!("{rows} values"),
            got: s.shape().to_string(),
        });
    }
    Ok(())
}

/// d loss / d x of [`softmax`] from its output `y = softmax(x)` and `dy` (both
/// `[n, classes]`): `y·(dy − Σ_row y·dy)`.
pub fn softmax_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let (r, c) = rows_cols("softmax_backward", y)?;
    crate::ops::same_device("softmax_backward", &[y, dy])?;
    same_shape("softmax_backward", "dy", y, dy)?;
    gpu::softmax_backward(y, dy, r, c)
}

/// Checks that a tensor of class indices (exact f32 values, checked on upload) has `rows`
/// elements.
pub(crate) fn check_target_tensor(op: &'static str, t: &Tensor, rows: usize) -> Result<()> {
    crate::ops::same_device(op, &[t])?;
    if t.numel() != rows {
        return Err(Error::ShapeMismatch {
            op,
            what: "targets",
            expected: format!("{rows} class indices"),
            got: t.shape().to_string(),
        });
    }
    Ok(())
}

/// Uploads class indices after checking them against `classes`.
fn targets(
    x: &Tensor,
    targets: &[u32],
    rows: usize,
    classes: usize,
    op: &'static str,
) -> Result<Tensor> {
    if targets.len() != rows {
        return Err(Error::ShapeMismatch {
            op,
            what: "targets",
            expected: format!("{rows} class indices"),
            got: format!("{}", targets.len()),
        });
    }
    if let Some((i, &t)) = targets
        .iter()
        .enumerate()
        .find(|(_, &t)| t as usize >= classes)
    {
        return Err(Error::invalid(
            op,
            "target",
            format!("{t} at row {i}"),
            format!("classes are 0..{classes}"),
        ));
    }
    if classes > 1 << 24 {
        return Err(Error::invalid(
            op,
            "classes",
            classes,
            "class indices travel as exact f32, at most 2^24",
        ));
    }
    let t: Vec<f32> = targets.iter().map(|&t| t as f32).collect();
    Tensor::from_slice(x.gpu(), Shape::new([rows]), &t)
}

/// Fused softmax cross-entropy over `[n, classes]` logits and class indices: the mean loss
/// (shape `[1]`) and its gradient `(softmax − onehot) / n`. Stable for any logits (the row
/// maximum is subtracted).
pub fn softmax_cross_entropy(logits: &Tensor, target: &[u32]) -> Result<(Tensor, Tensor)> {
    let (r, c) = rows_cols("softmax_cross_entropy", logits)?;
    let t = targets(logits, target, r, c, "softmax_cross_entropy")?;
    gpu::softmax_xent(logits, &t, r, c)
}

/// How many rows have their target among the `k` largest logits (ties go to the lower class
/// index, as argmax and a stable sort do),
/// as a `[1]` tensor; `k = 1` counts correct predictions.
pub fn topk_hits(logits: &Tensor, target: &[u32], k: usize) -> Result<Tensor> {
    let (r, c) = rows_cols("topk_hits", logits)?;
    if k == 0 {
        return Err(Error::invalid("topk_hits", "k", k, "must be at least 1"));
    }
    let t = targets(logits, target, r, c, "topk_hits")?;
    gpu::topk_hits(logits, &t, r, c, k)
}

/// Pointwise losses averaged over every element.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PointwiseLoss {
    /// mean((pred − target)²)
    Mse,
    /// mean(max(x, 0) − x·t + log(1 + e^−|x|)) for logits x and targets t in [0, 1].
    BceWithLogits,
}

/// `(loss [1], d loss / d pred)` for `pred` and `target` of one shape.
pub fn pointwise_loss(
    pred: &Tensor,
    target: &Tensor,
    loss: PointwiseLoss,
) -> Result<(Tensor, Tensor)> {
    crate::ops::same_device("loss", &[pred, target])?;
    if pred.shape() != target.shape() || pred.numel() == 0 {
        return Err(Error::ShapeMismatch {
            op: "loss",
            what: "target",
            expected: pred.shape().to_string(),
            got: target.shape().to_string(),
        });
    }
    gpu::pointwise_loss(pred, target, loss)
}

/// Pointwise metrics averaged over every element (what a regression or binary head reports
/// beside its loss).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PointwiseMetric {
    /// mean((pred − target)²)
    SquaredError,
    /// mean(|pred − target|)
    AbsoluteError,
    /// The fraction of elements whose logit's sigmoid and target fall on the same side of
    /// 0.5 (`pred > 0` against `target > 0.5`; a NaN logit counts as below): Keras's
    /// `binary_accuracy` at threshold 0.5 for a head that outputs logits.
    BinaryHits,
}

/// The mean of `metric` over `pred` and `target` of one shape, as a `[1]` tensor.
pub fn pointwise_metric(pred: &Tensor, target: &Tensor, metric: PointwiseMetric) -> Result<Tensor> {
    crate::ops::same_device("metric", &[pred, target])?;
    if pred.shape() != target.shape() || pred.numel() == 0 {
        return Err(Error::ShapeMismatch {
            op: "metric",
            what: "target",
            expected: pred.shape().to_string(),
            got: target.shape().to_string(),
        });
    }
    gpu::pointwise_metric(pred, target, metric)
}
