//! Plain references for the reductions and losses, in f64.

use super::{PointwiseLoss, PointwiseMetric};
use crate::error::{Error, Result};
use crate::ops::backend::{CpuBackend, LossBackend};
use crate::ops::host::{t, HostTensor};
use crate::shape::Shape;

/// logsumexp of a row, stable.
pub fn logsumexp(row: &[f64]) -> f64 {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Mean softmax cross-entropy and its gradient `(softmax − onehot) / n`.
pub fn softmax_cross_entropy(logits: &[f64], targets: &[u32], classes: usize) -> (f64, Vec<f64>) {
    let n = targets.len();
    let mut loss = 0.0;
    let mut grad = Vec::with_capacity(logits.len());
    for (r, &t) in targets.iter().enumerate() {
        let row = &logits[r * classes..(r + 1) * classes];
        let lse = logsumexp(row);
        loss += lse - row[t as usize];
        for (c, &v) in row.iter().enumerate() {
            grad.push(((v - lse).exp() - if c == t as usize { 1.0 } else { 0.0 }) / n as f64);
        }
    }
    (loss / n as f64, grad)
}

/// Row-wise softmax (or log-softmax).
pub fn softmax(x: &[f64], classes: usize, log: bool) -> Vec<f64> {
    x.chunks(classes)
        .flat_map(|row| {
            let lse = logsumexp(row);
            row.iter()
                .map(move |v| if log { v - lse } else { (v - lse).exp() })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// d loss / d x of a row-wise softmax from its output `y` and `dy`: `y·(dy − Σ_row y·dy)`.
pub fn softmax_backward(y: &[f64], dy: &[f64], classes: usize) -> Vec<f64> {
    y.chunks(classes)
        .zip(dy.chunks(classes))
        .flat_map(|(y, dy)| {
            let dot: f64 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            y.iter().zip(dy).map(move |(a, b)| a * (b - dot))
        })
        .collect()
}

/// `x[r, c] · s[r]` of rows of `cols` values.
pub fn scale_rows(x: &[f64], s: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .zip(s)
        .flat_map(|(row, &g)| row.iter().map(move |v| v * g))
        .collect()
}

/// `Σ_c a[r, c] · b[r, c]` per row of `cols` values.
pub fn row_dots(a: &[f64], b: &[f64], cols: usize) -> Vec<f64> {
    a.chunks(cols)
        .zip(b.chunks(cols))
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum())
        .collect()
}

/// Mean pointwise loss of `pred` against `target` and its gradient (MSE, or binary cross
/// entropy on logits in the overflow-free form `max(x, 0) − x·t + ln(1 + e^−|x|)`).
pub fn pointwise_loss(pred: &[f64], target: &[f64], loss: PointwiseLoss) -> (f64, Vec<f64>) {
    let n = pred.len() as f64;
    let (mut total, mut grad) = (0.0, Vec::with_capacity(pred.len()));
    for (&x, &t) in pred.iter().zip(target) {
        match loss {
            PointwiseLoss::Mse => {
                total += (x - t).powi(2);
                grad.push(2.0 * (x - t) / n);
            }
            PointwiseLoss::BceWithLogits => {
                total += x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
                grad.push((1.0 / (1.0 + (-x).exp()) - t) / n);
            }
        }
    }
    (total / n, grad)
}

/// Rows of `[rows, classes]` logits with fewer than `k` classes ranked before the target
/// (a larger logit, or an equal one at a lower index: argmax's first-maximum rule), so
/// `k = 1` counts the rows whose arg-max is the target.
pub fn topk_hits(logits: &[f64], targets: &[u32], classes: usize, k: usize) -> usize {
    targets
        .iter()
        .enumerate()
        .filter(|&(r, &t)| {
            let row = &logits[r * classes..(r + 1) * classes];
            let (t, vt) = (t as usize, row[t as usize]);
            let before = row
                .iter()
                .enumerate()
                .filter(|&(c, &x)| x > vt || (x == vt && c < t))
                .count();
            before < k
        })
        .count()
}

/// The mean of `metric` over `pred` and `target` (see [`PointwiseMetric`]).
pub fn pointwise_metric(pred: &[f64], target: &[f64], metric: PointwiseMetric) -> f64 {
    let terms = pred.iter().zip(target).map(|(&x, &t)| match metric {
        PointwiseMetric::SquaredError => (x - t).powi(2),
        PointwiseMetric::AbsoluteError => (x - t).abs(),
        PointwiseMetric::BinaryHits => f64::from(u8::from((x > 0.0) == (t > 0.5))),
    });
    terms.sum::<f64>() / pred.len() as f64
}

/// (classes, class indices) of `[rows, classes]` logits and `rows` targets, each an integer
/// below `classes`.
/// The classes of a non-empty `[n, classes]` shape.
fn rank2_cols(op: &'static str, s: &Shape) -> Result<usize> {
    match *s.dims() {
        [r, c] if r > 0 && c > 0 => Ok(c),
        _ => Err(Error::ShapeMismatch {
            op,
            what: "logits",
            expected: "rank 2 [n, classes]".into(),
            got: s.to_string(),
        }),
    }
}

fn class_targets(
    op: &'static str,
    logits: &HostTensor,
    targets: &HostTensor,
) -> Result<(usize, Vec<u32>)> {
    let classes = rank2_cols(op, &logits.shape)?;
    let rows = logits.shape.dims()[0];
    let tg = targets.v();
    if tg.len() != rows
        || tg
            .iter()
            .any(|&v| !(v >= 0.0 && v < classes as f64 && v.fract() == 0.0))
    {
        return Err(Error::invalid(
            op,
            "targets",
            format!("{} values", tg.len()),
            format!("{rows} class indices in 0..{classes}"),
        ));
    }
    Ok((classes, tg.iter().map(|&v| v as u32).collect()))
}

impl LossBackend for CpuBackend {
    fn softmax_cross_entropy(
        &self,
        logits: &HostTensor,
        targets: &HostTensor,
    ) -> Result<(HostTensor, HostTensor)> {
        let (classes, tg) = class_targets("softmax_cross_entropy", logits, targets)?;
        let (loss, grad) = softmax_cross_entropy(&logits.v(), &tg, classes);
        Ok((
            t(Shape::new([1]), vec![loss])?,
            t(logits.shape.clone(), grad)?,
        ))
    }
    fn pointwise_loss(
        &self,
        pred: &HostTensor,
        target: &HostTensor,
        loss: PointwiseLoss,
    ) -> Result<(HostTensor, HostTensor)> {
        if pred.shape != target.shape {
            return Err(Error::ShapeMismatch {
                op: "loss",
                what: "target",
                expected: pred.shape.to_string(),
                got: target.shape.to_string(),
            });
        }
        let (total, grad) = pointwise_loss(&pred.v(), &target.v(), loss);
        Ok((
            t(Shape::new([1]), vec![total])?,
            t(pred.shape.clone(), grad)?,
        ))
    }
    fn softmax(&self, x: &HostTensor) -> Result<HostTensor> {
        let classes = rank2_cols("softmax", &x.shape)?;
        t(x.shape.clone(), softmax(&x.v(), classes, false))
    }
    fn scale_rows(&self, x: &HostTensor, s: &HostTensor) -> Result<HostTensor> {
        let cols = rank2_cols("scale_rows", &x.shape)?;
        if s.shape.numel() * cols != x.shape.numel() {
            return Err(Error::ShapeMismatch {
                op: "scale_rows",
                what: "row values",
                expected: format!("{} values", x.shape.numel() / cols.max(1)),
                got: s.shape.to_string(),
            });
        }
        t(x.shape.clone(), scale_rows(&x.v(), &s.v(), cols))
    }
    fn row_dots(&self, a: &HostTensor, b: &HostTensor) -> Result<HostTensor> {
        let cols = rank2_cols("row_dots", &a.shape)?;
        if b.shape != a.shape {
            return Err(Error::ShapeMismatch {
                op: "row_dots",
                what: "b",
                expected: a.shape.to_string(),
                got: b.shape.to_string(),
            });
        }
        let rows = a.shape.numel() / cols.max(1);
        t(Shape::new([rows]), row_dots(&a.v(), &b.v(), cols))
    }
    fn softmax_backward(&self, y: &HostTensor, dy: &HostTensor) -> Result<HostTensor> {
        let classes = rank2_cols("softmax_backward", &y.shape)?;
        if dy.shape != y.shape {
            return Err(Error::ShapeMismatch {
                op: "softmax_backward",
                what: "dy",
                expected: y.shape.to_string(),
                got: dy.shape.to_string(),
            });
        }
        t(y.shape.clone(), softmax_backward(&y.v(), &dy.v(), classes))
    }
    fn topk_hits(&self, logits: &HostTensor, targets: &HostTensor, k: usize) -> Result<HostTensor> {
        let (classes, tg) = class_targets("topk_hits", logits, targets)?;
        let n = topk_hits(&logits.v(), &tg, classes, k);
        t(Shape::new([1]), vec![n as f64])
    }
    fn pointwise_metric(
        &self,
        pred: &HostTensor,
        target: &HostTensor,
        metric: PointwiseMetric,
    ) -> Result<HostTensor> {
        if pred.shape != target.shape || pred.shape.numel() == 0 {
            return Err(Error::ShapeMismatch {
                op: "metric",
                what: "target",
                expected: pred.shape.to_string(),
                got: target.shape.to_string(),
            });
        }
        let m = pointwise_metric(&pred.v(), &target.v(), metric);
        t(Shape::new([1]), vec![m])
    }
}
