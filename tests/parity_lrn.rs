//! Local response normalisation against the f64 reference, and the reference backward against
//! finite differences.

use wgcnn::ops::lrn::{self, cpu, LrnParams};
use wgcnn::testing::{compare_with, finite_differences, gpu, to_f64, Rng, EPS32};
use wgcnn::{Shape, Tensor};

fn params() -> [LrnParams; 3] {
    [
        LrnParams::default(),
        LrnParams {
            size: 3,
            alpha: 0.5,
            beta: 0.75,
            k: 1.0,
        },
        LrnParams {
            size: 4,
            alpha: 0.2,
            beta: 1.5,
            k: 0.5,
        },
    ]
}

#[test]
fn lrn_matches_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0x1e);
    for p in params() {
        for _ in 0..8 {
            let (n, c, h, w) = (
                rng.range(1, 3),
                rng.range(1, 9),
                rng.range(1, 6),
                rng.range(1, 6),
            );
            let dims = [n, c, h * w];
            let xs: Vec<f32> = rng
                .vec(n * c * h * w)
                .into_iter()
                .map(|v| v * 3.0)
                .collect();
            let dys = rng.vec(xs.len());
            let x = Tensor::from_slice(&gpu, Shape::new([n, c, h, w]), &xs).unwrap();
            let dy = Tensor::from_slice(&gpu, x.shape().clone(), &dys).unwrap();
            let (x64, dy64) = (to_f64(&xs), to_f64(&dys));
            // pow carries an error proportional to |exponent · log2(D)|; D ≤ k + alpha·size·9.
            let log_d = (f64::from(p.k) + f64::from(p.alpha) * p.size as f64 * 9.0)
                .log2()
                .abs()
                .max(f64::from(p.k).log2().abs());
            let ulps = 32.0 + 8.0 * (f64::from(p.beta) + 1.0) * log_d + 4.0 * p.size as f64;
            let y = lrn::lrn(&x, &p).unwrap().to_vec().unwrap();
            let want = cpu::forward(&x64, dims, &p);
            let r = compare_with(&y, &want, |i| ulps * EPS32 * want[i].abs() + 1e-30);
            assert!(r.passed(), "forward {p:?} x={}: {r}", x.shape());
            let dx = lrn::lrn_backward(&dy, &x, &p).unwrap().to_vec().unwrap();
            let want = cpu::backward(&dy64, &x64, dims, &p);
            // Both terms of dx carry the pow error; bound by their magnitudes.
            let scale: Vec<f64> = (0..xs.len())
                .map(|m| {
                    dy64[m].abs()
                        + 2.0 * f64::from(p.alpha * p.beta) * x64[m].abs() * p.size as f64 * 3.0
                })
                .collect();
            let r = compare_with(&dx, &want, |i| ulps * EPS32 * scale[i] + 1e-30);
            assert!(r.passed(), "backward {p:?} x={}: {r}", x.shape());
        }
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(0x1f);
    for p in params() {
        let dims = [2, 6, 3];
        let mut x: Vec<f64> = to_f64(&rng.vec(36)).iter().map(|v| v * 2.0).collect();
        let dy = to_f64(&rng.vec(36));
        let dx = cpu::backward(&dy, &x, dims, &p);
        let loss = |x: &[f64]| {
            cpu::forward(x, dims, &p)
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        for (i, fd) in finite_differences(&mut x, 1e-6, loss)
            .into_iter()
            .enumerate()
        {
            assert!((fd - dx[i]).abs() < 1e-7, "{p:?} dx[{i}]");
        }
    }
}

#[test]
fn bad_lrn_input_is_an_error() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, [1, 2, 2, 2], &[1.0; 8]).unwrap();
    assert!(lrn::lrn(
        &x,
        &LrnParams {
            size: 0,
            ..LrnParams::default()
        }
    )
    .is_err());
    assert!(lrn::lrn(
        &x,
        &LrnParams {
            k: 0.0,
            ..LrnParams::default()
        }
    )
    .is_err());
    assert!(lrn::lrn(&x.reshape([2, 4]).unwrap(), &LrnParams::default()).is_err());
}
