//! Central finite differences (f64) of the CPU reference forward against its backward passes
//! (dX, dW, db), for L = Σ y·dy. The GPU backward is then proven against these by parity.

use wgcnn::ops::conv2d::{cpu, Conv2dGeometry};
use wgcnn::testing::cases::Conv2dCase;
use wgcnn::testing::{both_sides, to_f64, Rng};

const H: f64 = 1e-3;

/// L = Σ y·dy, and Σ|y_j·dy_j| expanded over the terms of y (for the rounding bound).
fn loss(g: &Conv2dGeometry, x: &[f64], w: &[f64], b: Option<&[f64]>, dy: &[f64]) -> (f64, f64) {
    let y = cpu::forward(g, x, w, b);
    let l = y.values.iter().zip(dy).map(|(a, d)| a * d).sum();
    let abs = y.abs_terms.iter().zip(dy).map(|(a, d)| a * d.abs()).sum();
    (l, abs)
}

/// Checks `analytic[i]` against the central difference in `param[i]` for a few indices.
fn check(
    what: &str,
    case: &Conv2dCase,
    rng: &mut Rng,
    analytic: &[f64],
    param: &mut [f64],
    eval: &dyn Fn(&[f64]) -> (f64, f64),
    terms: usize,
) -> Vec<String> {
    let mut bad = Vec::new();
    for _ in 0..12.min(param.len()) {
        let i = rng.range(0, param.len() - 1);
        let ((lp, ap), (lm, am)) = both_sides(param, i, H, eval);
        let fd = (lp - lm) / (2.0 * H);
        // L is linear in every parameter, so the difference is exact up to the f64 rounding
        // of the two sums of `terms` terms each, divided by 2h.
        let tol = 2.0 * (terms as f64 + 1.0) * f64::EPSILON * (ap + am) / (2.0 * H) + 1e-300;
        if (fd - analytic[i]).abs() > tol {
            bad.push(format!(
                "{what}[{i}] for {case}: analytic {} finite difference {fd} (tol {tol:e})",
                analytic[i]
            ));
        }
    }
    bad
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(0xfd);
    let mut bad = Vec::new();
    let mut cases: Vec<Conv2dCase> = (0..60).map(|_| Conv2dCase::random(&mut rng)).collect();
    cases.extend(Conv2dCase::edge_cases());
    for case in &cases {
        let g = case.geometry().unwrap();
        let mut x = to_f64(&rng.vec(g.x_shape().numel()));
        let mut w = to_f64(&rng.vec(g.w_shape().numel()));
        let mut b = to_f64(&rng.vec(g.c_out));
        let dy = to_f64(&rng.vec(g.y_shape().numel()));
        let terms = g.y_shape().numel() * (g.reduction_len() + 1);

        let dx = cpu::backward_data(&g, &dy, &w).values;
        let dw = cpu::backward_filter(&g, &x, &dy).values;
        let db = cpu::backward_bias(&g, &dy).values;

        let (wc, bc) = (w.clone(), b.clone());
        let fx = |x: &[f64]| loss(&g, x, &wc, Some(&bc), &dy);
        bad.extend(check("dx", case, &mut rng, &dx, &mut x, &fx, terms));
        let (xc, bc) = (x.clone(), b.clone());
        let fw = |w: &[f64]| loss(&g, &xc, w, Some(&bc), &dy);
        bad.extend(check("dw", case, &mut rng, &dw, &mut w, &fw, terms));
        let (xc, wc) = (x.clone(), w.clone());
        let fb = |b: &[f64]| loss(&g, &xc, &wc, Some(b), &dy);
        bad.extend(check("db", case, &mut rng, &db, &mut b, &fb, terms));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
