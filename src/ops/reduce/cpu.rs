//! Plain references for the reductions and losses, in f64.

use super::PointwiseLoss;

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

/// Rows of `[rows, classes]` logits whose arg-max is the target class; argmax's rule: the
/// first maximum wins.
pub fn hits(logits: &[f64], targets: &[u32], classes: usize) -> usize {
    targets
        .iter()
        .enumerate()
        .filter(|&(r, &t)| {
            let row = &logits[r * classes..(r + 1) * classes];
            let t = t as usize;
            row.iter()
                .enumerate()
                .all(|(c, &x)| x < row[t] || (x == row[t] && c >= t))
        })
        .count()
}
