//! Plain references for the reductions and losses, in f64.

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
