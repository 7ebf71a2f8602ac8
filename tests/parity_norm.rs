//! Batch normalisation (training and evaluation, forward and backward) against the f64
//! reference; finite-difference check of the reference's training backward.

use wgcnn::ops::norm::{self, cpu, BatchNormParams};
use wgcnn::testing::{bound, finite_differences, gpu, to_f64, under_small_budget, Rng, EPS32};
use wgcnn::{Gpu, Shape, Tensor};

fn close(got: f32, want: f64, tol: f64, what: &str) {
    assert!(
        (f64::from(got) - want).abs() <= tol,
        "{what}: {got} vs {want} (tol {tol:e})"
    );
}

#[test]
fn batch_norm_matches_the_reference() {
    check_batch_norm_matches_the_reference(&gpu());
}

fn check_batch_norm_matches_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0xb17);
    for case in 0..30 {
        // Three cases with many more values per channel than the 256-wide workgroup (one of
        // them batch 1, one with planes longer than a plane walker's 8·256 elements).
        let (n, c, h, w) = if case < 2 {
            (8 - 7 * case, 3, 21, 17)
        } else if case == 2 {
            (2, 2, 47, 45)
        } else {
            (
                rng.range(1, 4),
                rng.range(1, 6),
                rng.range(1, 9),
                rng.range(1, 9),
            )
        };
        if n * h * w < 2 {
            continue;
        }
        let dims = [n, c, h * w];
        let m = n * h * w;
        // Inputs U(-1, 1) plus a per-channel offset, as the goldens draw them.
        let offsets = rng.vec(c);
        let xs: Vec<f32> = (0..n * c * h * w)
            .map(|i| rng.uniform() + offsets[(i / (h * w)) % c] * 3.0)
            .collect();
        let gamma: Vec<f32> = (0..c).map(|_| rng.uniform() * 0.5 + 1.0).collect();
        let (beta, rm) = (rng.vec(c), rng.vec(c));
        let rv: Vec<f32> = (0..c).map(|_| rng.uniform() * 0.5 + 1.0).collect();
        let dys = rng.vec(xs.len());
        let p = BatchNormParams {
            eps: if case % 2 == 0 { 1e-5 } else { 1e-3 },
            momentum: if case % 3 == 0 { 0.9 } else { 0.1 },
            synchronized: false,
        };
        let up = |v: &[f32], s: Shape| Tensor::from_slice(gpu, s, v).unwrap();
        let x = up(&xs, Shape::new([n, c, h, w]));
        let (tg, tb, trm, trv) = (
            up(&gamma, Shape::new([c])),
            up(&beta, Shape::new([c])),
            up(&rm, Shape::new([c])),
            up(&rv, Shape::new([c])),
        );
        let dy = up(&dys, x.shape().clone());
        let (x64, g64, b64, dy64) = (to_f64(&xs), to_f64(&gamma), to_f64(&beta), to_f64(&dys));
        let eps = f64::from(p.eps);

        let out = norm::batch_norm_train(&x, &tg, &tb, &trm, &trv, &p).unwrap();
        let st = cpu::stats(&x64, dims);
        let (mean, var) = (
            out.batch_mean.to_vec().unwrap(),
            out.batch_var.to_vec().unwrap(),
        );
        let (rm_out, rv_out) = (
            out.running_mean.to_vec().unwrap(),
            out.running_var.to_vec().unwrap(),
        );
        let y = out.y.to_vec().unwrap();
        let y_ref = cpu::normalize(&x64, dims, &st, &g64, &b64, eps);
        let mom = f64::from(p.momentum);
        for ch in 0..c {
            let idx: Vec<usize> = (0..n)
                .flat_map(|b| (0..h * w).map(move |q| (b * c + ch) * h * w + q))
                .collect();
            let abs_x: f64 = idx.iter().map(|&i| x64[i].abs()).sum();
            let d_mean = bound(m + 1, abs_x / m as f64);
            let var_terms: f64 = idx
                .iter()
                .map(|&i| (x64[i] - st[ch].0).powi(2) + 2.0 * (x64[i] - st[ch].0).abs() * d_mean)
                .sum();
            let d_var = bound(m + 2, var_terms / m as f64);
            close(mean[ch], st[ch].0, d_mean, "batch mean");
            close(var[ch], st[ch].1, d_var, "batch var");
            let unbiased = st[ch].1 * m as f64 / (m as f64 - 1.0);
            close(
                rm_out[ch],
                (1.0 - mom) * f64::from(rm[ch]) + mom * st[ch].0,
                4.0 * EPS32 * (f64::from(rm[ch]).abs() + st[ch].0.abs()) + d_mean,
                "running mean",
            );
            close(
                rv_out[ch],
                (1.0 - mom) * f64::from(rv[ch]) + mom * unbiased,
                4.0 * EPS32 * (f64::from(rv[ch]) + unbiased) + 2.0 * d_var,
                "running var",
            );
            let inv = 1.0 / (st[ch].1 + eps).sqrt();
            for &i in &idx {
                let dev = (x64[i] - st[ch].0).abs();
                let tol = g64[ch].abs() * inv * (d_mean + dev * d_var * inv * inv)
                    + 8.0 * EPS32 * (y_ref[i].abs() + b64[ch].abs() + 1.0);
                close(y[i], y_ref[i], tol, "train y");
            }
        }

        // Evaluation forward and both backward passes, with the running statistics the
        // training pass updated in place.
        let run_st: Vec<(f64, f64)> = rm_out
            .iter()
            .zip(&rv_out)
            .map(|(&a, &b)| (f64::from(a), f64::from(b)))
            .collect();
        let y_eval = norm::batch_norm_eval(&x, &tg, &tb, &trm, &trv, p.eps)
            .unwrap()
            .to_vec()
            .unwrap();
        for (i, &v) in cpu::normalize(&x64, dims, &run_st, &g64, &b64, eps)
            .iter()
            .enumerate()
        {
            close(
                y_eval[i],
                v,
                8.0 * EPS32 * (v.abs() + x64[i].abs() * 4.0 + 4.0),
                "eval y",
            );
        }
        for (training, stats) in [(true, st.clone()), (false, run_st.clone())] {
            let (sm, sv): (Vec<f32>, Vec<f32>) =
                stats.iter().map(|&(a, b)| (a as f32, b as f32)).unzip();
            let g = if training {
                norm::batch_norm_backward_train(
                    &dy,
                    &x,
                    &tg,
                    &up(&sm, Shape::new([c])),
                    &up(&sv, Shape::new([c])),
                    p.eps,
                )
            } else {
                norm::batch_norm_backward_eval(&dy, &x, &tg, &trm, &trv, p.eps)
            }
            .unwrap();
            let stats64: Vec<(f64, f64)> = sm
                .iter()
                .zip(&sv)
                .map(|(&a, &b)| (f64::from(a), f64::from(b)))
                .collect();
            let (dx_ref, dg_ref, db_ref) =
                cpu::backward(&dy64, &x64, dims, &stats64, &g64, eps, training);
            let (dx, dg, db) = (
                g.dx.to_vec().unwrap(),
                g.dgamma.to_vec().unwrap(),
                g.dbeta.to_vec().unwrap(),
            );
            for ch in 0..c {
                let inv = 1.0 / (stats64[ch].1 + eps).sqrt();
                let idx: Vec<usize> = (0..n)
                    .flat_map(|b| (0..h * w).map(move |q| (b * c + ch) * h * w + q))
                    .collect();
                let sum_dy: f64 = idx.iter().map(|&i| dy64[i].abs()).sum();
                let sum_dyx: f64 = idx
                    .iter()
                    .map(|&i| (dy64[i] * (x64[i] - stats64[ch].0) * inv).abs())
                    .sum();
                close(db[ch], db_ref[ch], bound(m, sum_dy), "dbeta");
                close(dg[ch], dg_ref[ch], bound(m + 4, sum_dyx), "dgamma");
                for &i in &idx {
                    let xhat = ((x64[i] - stats64[ch].0) * inv).abs();
                    let mf = m as f64;
                    let scale =
                        g64[ch].abs() * inv / mf * (mf * dy64[i].abs() + sum_dy + xhat * sum_dyx);
                    close(
                        dx[i],
                        dx_ref[i],
                        4.0 * (mf + 4.0) * EPS32 * scale + 1e-30,
                        if training { "train dx" } else { "eval dx" },
                    );
                }
            }
        }
    }
}

#[test]
fn reference_training_backward_matches_finite_differences() {
    let mut rng = Rng::new(0xb18);
    let dims = [2, 3, 5];
    let len = 30;
    let mut x = to_f64(&rng.vec(len));
    let dy = to_f64(&rng.vec(len));
    let gamma = vec![1.2, 0.7, 1.0];
    let beta = vec![0.1, -0.2, 0.3];
    let eps = 1e-5;
    let loss = |x: &[f64]| -> f64 {
        let y = cpu::normalize(x, dims, &cpu::stats(x, dims), &gamma, &beta, eps);
        y.iter().zip(&dy).map(|(a, b)| a * b).sum()
    };
    let (dx, _, _) = cpu::backward(&dy, &x, dims, &cpu::stats(&x, dims), &gamma, eps, true);
    for (i, fd) in finite_differences(&mut x, 1e-6, loss)
        .into_iter()
        .enumerate()
    {
        assert!((fd - dx[i]).abs() < 1e-6, "dx[{i}]: {} vs {fd}", dx[i]);
    }
}

#[test]
fn bad_batch_norm_input_is_an_error() {
    let gpu = gpu();
    let t = |d: &[usize]| {
        Tensor::from_slice(&gpu, Shape::new(d), &vec![1.0; d.iter().product()]).unwrap()
    };
    let (x, c2, c3) = (t(&[2, 2, 3, 3]), t(&[2]), t(&[3]));
    let p = BatchNormParams::default();
    assert!(norm::batch_norm_train(&x, &c3, &c2, &c2, &c2, &p).is_err());
    assert!(norm::batch_norm_train(&t(&[1, 2, 1, 1]), &c2, &c2, &c2, &c2, &p).is_err());
    assert!(norm::batch_norm_train(
        &x,
        &c2,
        &c2,
        &c2,
        &c2,
        &BatchNormParams {
            eps: 0.0,
            momentum: 0.1,
            synchronized: false,
        }
    )
    .is_err());
    assert!(norm::batch_norm_eval(&t(&[2, 2, 3]), &c2, &c2, &c2, &c2, 1e-5).is_err());
    assert!(norm::batch_norm_backward_train(&t(&[2, 2, 3, 2]), &x, &c2, &c2, &c2, 1e-5).is_err());
}

/// The same cases on a Gpu whose loop budget is 64 passes: the ops run in many K-slices,
/// chunks and levels (gpu::loops).
#[test]
fn small_loop_budget_matches_the_reference() {
    under_small_budget(64, |gpu| {
        check_batch_norm_matches_the_reference(gpu);
    })
    .expect("a GPU test needs an adapter");
}
