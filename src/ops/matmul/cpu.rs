//! Plain reference matrix product in f64.

use super::MatmulGeometry;
use crate::ops::Reference;

/// `C[m, n] = Σ_k A[m·a_m + k·a_k] · B[k·b_k + n·b_n] (+ bias[n])`.
pub fn matmul(g: &MatmulGeometry, a: &[f64], b: &[f64], bias: Option<&[f64]>) -> Reference {
    let mut c = Reference::zeros(g.m * g.n);
    for m in 0..g.m {
        for n in 0..g.n {
            let o = m * g.n + n;
            if let Some(bias) = bias {
                c.add(o, bias[n]);
            }
            for k in 0..g.k {
                c.add(o, a[m * g.a_m + k * g.a_k] * b[k * g.b_k + n * g.b_n]);
            }
        }
    }
    c
}
