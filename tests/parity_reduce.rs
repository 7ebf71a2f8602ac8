//! Reductions, softmax, softmax cross-entropy, top-k, pointwise losses and metrics against
//! the f64 reference, including ±1000 logits and all-equal rows.

use wgcnn::ops::reduce::{self, cpu, PointwiseLoss, PointwiseMetric, ReduceOp};
use wgcnn::testing::{
    bound, compare_with, finite_differences, gpu, to_f64, under_small_budget, Rng, EPS32,
};
use wgcnn::{Gpu, Shape, Tensor};

#[test]
fn reductions_along_every_axis_match_the_reference() {
    check_reductions_along_every_axis_match_the_reference(&gpu());
}

fn check_reductions_along_every_axis_match_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x4ed);
    for case in 0..40 {
        let dims: Vec<usize> = (0..rng.range(1, 4)).map(|_| rng.range(1, 9)).collect();
        let shape = Shape::new(dims.clone());
        let ties = case % 3 == 0;
        let xs: Vec<f32> = (0..shape.numel())
            .map(|_| {
                if ties {
                    rng.range(0, 4) as f32
                } else {
                    rng.uniform()
                }
            })
            .collect();
        let x = Tensor::from_slice(gpu, shape.clone(), &xs).unwrap();
        let axes: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..dims.len()).map(Some))
            .collect();
        for axis in axes {
            let (outer, len, inner) = match axis {
                None => (1, shape.numel(), 1),
                Some(a) => (
                    dims[..a].iter().product(),
                    dims[a],
                    dims[a + 1..].iter().product::<usize>(),
                ),
            };
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
                let (y, idx) = reduce::reduce(&x, axis, op).unwrap();
                let y = y.to_vec().unwrap();
                assert_eq!(y.len(), outer * inner);
                for o in 0..outer * inner {
                    let vals: Vec<f64> = (0..len)
                        .map(|l| f64::from(xs[(o / inner * len + l) * inner + o % inner]))
                        .collect();
                    let abs: f64 = vals.iter().map(|v| v.abs()).sum();
                    let ctx = format!("{shape} axis {axis:?} {op:?} output {o}");
                    match op {
                        ReduceOp::Sum => assert!(
                            (f64::from(y[o]) - vals.iter().sum::<f64>()).abs() <= bound(len, abs),
                            "{ctx}"
                        ),
                        ReduceOp::Mean => {
                            let mean = vals.iter().sum::<f64>() / len as f64;
                            assert!(
                                (f64::from(y[o]) - mean).abs() <= bound(len + 1, abs / len as f64),
                                "{ctx}"
                            );
                        }
                        ReduceOp::Max => {
                            let best = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            let first = vals.iter().position(|&v| v == best).unwrap();
                            assert_eq!(f64::from(y[o]), best, "{ctx}");
                            if let Some(idx) = &idx {
                                assert_eq!(
                                    idx.to_vec().unwrap()[o] as usize,
                                    first,
                                    "{ctx} arg-max"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn sums_are_bitwise_deterministic() {
    let gpu = gpu();
    let xs = Rng::new(5).vec(1_000_003);
    let x = Tensor::from_slice(&gpu, [xs.len()], &xs).unwrap();
    let a = reduce::reduce(&x, None, ReduceOp::Sum)
        .unwrap()
        .0
        .to_vec()
        .unwrap();
    let b = reduce::reduce(&x, None, ReduceOp::Sum)
        .unwrap()
        .0
        .to_vec()
        .unwrap();
    assert_eq!(a[0].to_bits(), b[0].to_bits());
    let abs: f64 = xs.iter().map(|v| f64::from(v.abs())).sum();
    let exact: f64 = xs.iter().map(|&v| f64::from(v)).sum();
    assert!((f64::from(a[0]) - exact).abs() <= bound(xs.len(), abs));
}

/// Logit rows: random, scaled to ±1000, and all-equal.
fn logits(rng: &mut Rng, rows: usize, classes: usize) -> Vec<f32> {
    (0..rows)
        .flat_map(|r| {
            let row: Vec<f32> = match r % 4 {
                0 => vec![3.5; classes],
                1 => rng.vec(classes).into_iter().map(|v| v * 1000.0).collect(),
                _ => rng.vec(classes).into_iter().map(|v| v * 8.0).collect(),
            };
            row
        })
        .collect()
}

#[test]
fn softmax_and_cross_entropy_match_the_reference() {
    check_softmax_and_cross_entropy_match_the_reference(&gpu());
}

fn check_softmax_and_cross_entropy_match_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x5f7);
    for (rows, classes) in [(64, 10), (256, 1000), (1, 1), (7, 3), (33, 129)] {
        let xs = logits(&mut rng, rows, classes);
        let targets: Vec<u32> = (0..rows)
            .map(|_| rng.range(0, classes - 1) as u32)
            .collect();
        let x = Tensor::from_slice(gpu, [rows, classes], &xs).unwrap();
        let x64 = to_f64(&xs);
        let c = classes as f64;
        // softmax: the row sum carries C roundings and each exp (3 + 2|z|) ulp, where
        // z = x − max = ln p + ln(row sum) and ln(row sum) ≤ ln C.
        let sm = reduce::softmax(&x).unwrap().to_vec().unwrap();
        let want = cpu::softmax(&x64, classes, false);
        let want_softmax = want.clone();
        let exp_ulps = |p: f64| 2.0 * c + 16.0 + 2.0 * (p.ln().abs() + c.ln());
        let r = compare_with(&sm, &want, |i| exp_ulps(want[i]) * EPS32 * want[i] + 1e-37);
        assert!(r.passed(), "softmax {rows}x{classes}: {r}");
        let ls = reduce::log_softmax(&x).unwrap().to_vec().unwrap();
        let want = cpu::softmax(&x64, classes, true);
        let r = compare_with(&ls, &want, |i| 4.0 * (want[i].abs() + c + 16.0) * EPS32);
        assert!(r.passed(), "log_softmax {rows}x{classes}: {r}");

        // softmax backward from the reference's probabilities (rounded to f32) and a random
        // dy: the row dot product carries C roundings, the product and difference a few more.
        let y: Vec<f32> = want_softmax.iter().map(|&v| v as f32).collect();
        let dys = rng.vec(rows * classes);
        let (y64, dy64) = (to_f64(&y), to_f64(&dys));
        let dx = reduce::softmax_backward(
            &Tensor::from_slice(gpu, [rows, classes], &y).unwrap(),
            &Tensor::from_slice(gpu, [rows, classes], &dys).unwrap(),
        )
        .unwrap()
        .to_vec()
        .unwrap();
        let want = cpu::softmax_backward(&y64, &dy64, classes);
        let row_abs: Vec<f64> = (y64.chunks(classes).zip(dy64.chunks(classes)))
            .map(|(a, b)| a.iter().zip(b).map(|(a, b)| (a * b).abs()).sum())
            .collect();
        let r = compare_with(&dx, &want, |i| {
            (c + 4.0) * EPS32 * y64[i].abs() * (dy64[i].abs() + row_abs[i / classes]) + 1e-37
        });
        assert!(r.passed(), "softmax_backward {rows}x{classes}: {r}");

        let (loss, grad) = reduce::softmax_cross_entropy(&x, &targets).unwrap();
        let (loss, grad) = (loss.to_vec().unwrap()[0], grad.to_vec().unwrap());
        let (want_loss, want_grad) = cpu::softmax_cross_entropy(&x64, &targets, classes);
        assert!(loss.is_finite() && grad.iter().all(|g| g.is_finite()));
        // Per row: |max| + |x_t| + log-sum terms; then a mean over the rows.
        let scale: f64 = x64
            .chunks(classes)
            .map(|row| 2.0 * row.iter().fold(0.0f64, |m, v| m.max(v.abs())) + c + 16.0)
            .sum::<f64>();
        let loss_bound =
            4.0 * EPS32 * scale / rows as f64 + 2.0 * rows as f64 * EPS32 * want_loss.abs();
        assert!(
            (f64::from(loss) - want_loss).abs() <= loss_bound,
            "loss {rows}x{classes}: {loss} vs {want_loss}"
        );
        let r = compare_with(&grad, &want_grad, |i| {
            exp_ulps(1.0) * EPS32 * (want_grad[i].abs() + 1.0 / rows as f64)
        });
        assert!(r.passed(), "dlogits {rows}x{classes}: {r}");

        // Top-k counts: fewer than k classes rank before the target (larger, or equal with
        // a lower index).
        for k in [1, 5] {
            let hits = reduce::topk_hits(&x, &targets, k)
                .unwrap()
                .to_vec()
                .unwrap()[0];
            let want = x64
                .chunks(classes)
                .zip(&targets)
                .filter(|(row, &t)| {
                    let vt = row[t as usize];
                    let before = row
                        .iter()
                        .enumerate()
                        .filter(|&(c, &v)| v > vt || (v == vt && c < t as usize));
                    before.count() < k
                })
                .count();
            assert_eq!(hits as usize, want, "top-{k} {rows}x{classes}");
        }
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let mut rng = Rng::new(0x5f8);
    let (rows, classes) = (5, 7);
    let mut x: Vec<f64> = to_f64(&rng.vec(rows * classes))
        .iter()
        .map(|v| v * 4.0)
        .collect();
    let t: Vec<u32> = (0..rows)
        .map(|_| rng.range(0, classes - 1) as u32)
        .collect();
    let grad = cpu::softmax_cross_entropy(&x, &t, classes).1;
    let loss = |x: &[f64]| cpu::softmax_cross_entropy(x, &t, classes).0;
    for (i, fd) in finite_differences(&mut x, 1e-6, loss)
        .into_iter()
        .enumerate()
    {
        assert!((fd - grad[i]).abs() < 1e-8, "element {i}");
    }
}

#[test]
fn softmax_gradient_matches_finite_differences() {
    let mut rng = Rng::new(0x5f9);
    let (rows, classes) = (4, 9);
    let mut x: Vec<f64> = to_f64(&rng.vec(rows * classes))
        .iter()
        .map(|v| v * 4.0)
        .collect();
    let w = to_f64(&rng.vec(rows * classes));
    let loss = |x: &[f64]| {
        let y = cpu::softmax(x, classes, false);
        y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
    };
    let grad = cpu::softmax_backward(&cpu::softmax(&x, classes, false), &w, classes);
    for (i, fd) in finite_differences(&mut x, 1e-6, loss)
        .into_iter()
        .enumerate()
    {
        assert!(
            (fd - grad[i]).abs() < 1e-8,
            "element {i}: {fd} vs {}",
            grad[i]
        );
    }
}

#[test]
fn pointwise_losses_match_the_reference() {
    check_pointwise_losses_match_the_reference(&gpu());
}

fn check_pointwise_losses_match_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x5f9);
    let n = 3001;
    let pred = rng
        .vec(n)
        .into_iter()
        .map(|v| v * 6.0)
        .collect::<Vec<f32>>();
    let target01: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { 0.5 } else { (i % 2) as f32 })
        .collect();
    let p = Tensor::from_slice(gpu, [n], &pred).unwrap();
    let t = Tensor::from_slice(gpu, [n], &target01).unwrap();
    for loss in [PointwiseLoss::Mse, PointwiseLoss::BceWithLogits] {
        let (l, g) = reduce::pointwise_loss(&p, &t, loss).unwrap();
        let (l, g) = (f64::from(l.to_vec().unwrap()[0]), g.to_vec().unwrap());
        let mut terms = Vec::new();
        let mut grads = Vec::new();
        for (&a, &b) in pred.iter().zip(&target01) {
            let (a, b) = (f64::from(a), f64::from(b));
            match loss {
                PointwiseLoss::Mse => {
                    terms.push((a - b).powi(2));
                    grads.push(2.0 * (a - b) / n as f64);
                }
                PointwiseLoss::BceWithLogits => {
                    terms.push(a.max(0.0) - a * b + (-a.abs()).exp().ln_1p());
                    grads.push((1.0 / (1.0 + (-a).exp()) - b) / n as f64);
                }
            }
        }
        let want = terms.iter().sum::<f64>() / n as f64;
        assert!(
            (l - want).abs() <= bound(n + 8, want.abs()),
            "{loss:?} loss {l} vs {want}"
        );
        let r = compare_with(&g, &grads, |i| {
            16.0 * EPS32 * (grads[i].abs() + 1.0 / n as f64)
        });
        assert!(r.passed(), "{loss:?} gradient: {r}");
    }
}

/// The metrics heads report: squared and absolute error, and binary hits at the boundaries
/// (a logit of exactly 0 is not above it; a target of exactly 0.5 is not above it), over sizes
/// up to one past 65,535 elements, where the sum runs in chunks.
#[test]
fn pointwise_metrics_match_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0x3e7);
    for n in [1usize, 7, 257, 65_536] {
        let pred: Vec<f32> = (0..n)
            .map(|i| {
                if i % 11 == 0 {
                    0.0
                } else {
                    4.0 * rng.uniform() - 2.0
                }
            })
            .collect();
        let target: Vec<f32> = (0..n)
            .map(|i| match i % 5 {
                0 => 0.5,
                1 => rng.uniform(),
                k => (k % 2) as f32,
            })
            .collect();
        let p = Tensor::from_slice(&gpu, [n], &pred).unwrap();
        let t = Tensor::from_slice(&gpu, [n], &target).unwrap();
        for m in [
            PointwiseMetric::SquaredError,
            PointwiseMetric::AbsoluteError,
            PointwiseMetric::BinaryHits,
        ] {
            let got = f64::from(
                reduce::pointwise_metric(&p, &t, m)
                    .unwrap()
                    .to_vec()
                    .unwrap()[0],
            );
            let want = cpu::pointwise_metric(&to_f64(&pred), &to_f64(&target), m);
            assert!(
                (got - want).abs() <= bound(n + 8, want.abs()),
                "{m:?} over {n}: {got} vs {want}"
            );
        }
    }
    // A NaN prediction: the errors are NaN, the hit counts it as below 0.
    let p = Tensor::from_slice(&gpu, [2], &[f32::NAN, 1.0]).unwrap();
    let t = Tensor::from_slice(&gpu, [2], &[1.0, 1.0]).unwrap();
    let mse = reduce::pointwise_metric(&p, &t, PointwiseMetric::SquaredError).unwrap();
    assert!(mse.to_vec().unwrap()[0].is_nan());
    let hits = reduce::pointwise_metric(&p, &t, PointwiseMetric::BinaryHits).unwrap();
    assert_eq!(hits.to_vec().unwrap()[0], 0.5);
    let bad = Tensor::from_slice(&gpu, [3], &[0.0; 3]).unwrap();
    assert!(reduce::pointwise_metric(&p, &bad, PointwiseMetric::AbsoluteError).is_err());
}

#[test]
fn bad_reduction_input_is_an_error() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, [2, 3], &[0.0; 6]).unwrap();
    assert!(reduce::reduce(&x, Some(2), ReduceOp::Sum).is_err());
    assert!(reduce::softmax_cross_entropy(&x, &[0, 3]).is_err());
    assert!(reduce::softmax_cross_entropy(&x, &[0]).is_err());
    assert!(reduce::topk_hits(&x, &[0, 1], 0).is_err());
    assert!(reduce::softmax(&x.reshape([6]).unwrap()).is_err());
    assert!(reduce::softmax_backward(&x, &x.reshape([3, 2]).unwrap()).is_err());
    let y = Tensor::from_slice(&gpu, [3, 2], &[0.0; 6]).unwrap();
    assert!(reduce::pointwise_loss(&x, &y, PointwiseLoss::Mse).is_err());
}

/// The subgroup sum and the workgroup-tree fallback both match the reference, and each is
/// bitwise reproducible. lavapipe (CI) offers SUBGROUP; a device without it must refuse the
/// subgroup path with an error rather than run something else.
#[test]
fn subgroup_and_fallback_sums_match_the_reference() {
    check_subgroup_and_fallback_sums_match_the_reference(&gpu());
}

fn check_subgroup_and_fallback_sums_match_the_reference(gpu: &Gpu) {
    use wgcnn::ops::reduce::gpu::sum_all_with;
    let has = gpu.features().contains(wgpu::Features::SUBGROUP);
    let mut rng = Rng::new(0x5b);
    for len in [1usize, 7, 255, 256, 257, 4099, 1_000_003] {
        let xs = rng.vec(len);
        let x = Tensor::from_slice(gpu, [len], &xs).unwrap();
        let exact: f64 = xs.iter().map(|&v| f64::from(v)).sum();
        let abs: f64 = xs.iter().map(|&v| f64::from(v.abs())).sum();
        for subgroups in [false, true] {
            let r = sum_all_with(&x, 0.5, subgroups);
            if subgroups && !has {
                assert!(r.is_err());
                continue;
            }
            let a = r.unwrap().to_vec().unwrap()[0];
            let b = sum_all_with(&x, 0.5, subgroups).unwrap().to_vec().unwrap()[0];
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "len {len} subgroups {subgroups}: not reproducible"
            );
            assert!(
                (f64::from(a) - 0.5 * exact).abs() <= bound(len + 1, 0.5 * abs),
                "len {len} subgroups {subgroups}: {a} vs {}",
                0.5 * exact
            );
        }
    }
    println!("SUBGROUP on this adapter: {has}");
}

/// Both axis kernels (one invocation per output; one workgroup per output with a tree) on the
/// same cases, short and long axes, with ties for the arg-max.
#[test]
fn axis_kernels_agree_with_the_reference() {
    check_axis_kernels_agree_with_the_reference(&gpu());
}

fn check_axis_kernels_agree_with_the_reference(gpu: &Gpu) {
    use wgcnn::ops::reduce::gpu::reduce_axis_with;
    let mut rng = Rng::new(0xa11);
    for [outer, len, inner] in [
        [3, 5000, 2],
        [1, 70_001, 1],
        [4, 9, 7],
        [2, 513, 3],
        [1, 1, 5],
    ] {
        let n = outer * len * inner;
        let xs: Vec<f32> = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    rng.range(0, 6) as f32
                } else {
                    rng.uniform()
                }
            })
            .collect();
        let x = Tensor::from_slice(gpu, [n], &xs).unwrap();
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
            for tree in [false, true] {
                let out = Shape::new([outer * inner]);
                let (y, idx) =
                    reduce_axis_with(&x, [outer, len, inner], op, out.clone(), tree).unwrap();
                let (y, idx) = (y.to_vec().unwrap(), idx.map(|t| t.to_vec().unwrap()));
                let again = reduce_axis_with(&x, [outer, len, inner], op, out, tree)
                    .unwrap()
                    .0
                    .to_vec()
                    .unwrap();
                assert!(
                    y.iter()
                        .zip(&again)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{op:?} tree={tree}: not reproducible"
                );
                for o in 0..outer * inner {
                    let vals: Vec<f64> = (0..len)
                        .map(|l| f64::from(xs[(o / inner * len + l) * inner + o % inner]))
                        .collect();
                    let abs: f64 = vals.iter().map(|v| v.abs()).sum();
                    let ctx = format!("[{outer}, {len}, {inner}] {op:?} tree={tree} output {o}");
                    match op {
                        ReduceOp::Sum => assert!(
                            (f64::from(y[o]) - vals.iter().sum::<f64>()).abs() <= bound(len, abs),
                            "{ctx}"
                        ),
                        ReduceOp::Mean => assert!(
                            (f64::from(y[o]) - vals.iter().sum::<f64>() / len as f64).abs()
                                <= bound(len + 1, abs / len as f64),
                            "{ctx}"
                        ),
                        ReduceOp::Max => {
                            let best = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            assert_eq!(f64::from(y[o]), best, "{ctx}");
                            let first = vals.iter().position(|&v| v == best).unwrap();
                            assert_eq!(idx.as_ref().unwrap()[o] as usize, first, "{ctx} arg-max");
                        }
                    }
                }
            }
        }
    }
    assert!(reduce_axis_with(&x_of(gpu), [2, 2, 2], ReduceOp::Sum, Shape::new([4]), true).is_err());
}

fn x_of(gpu: &Gpu) -> Tensor {
    Tensor::from_slice(gpu, [7], &[0.0; 7]).unwrap()
}

#[test]
fn ties_go_to_the_lower_class_as_argmax() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, [3, 4], &[0.0; 12]).unwrap();
    let hits = |k| {
        reduce::topk_hits(&x, &[0, 1, 3], k)
            .unwrap()
            .to_vec()
            .unwrap()[0]
    };
    assert_eq!((hits(1), hits(2), hits(4)), (1.0, 2.0, 3.0));
}

/// The same cases on a Gpu whose loop budget is 64 passes: the ops run in many K-slices,
/// chunks and levels (gpu::loops).
#[test]
fn small_loop_budget_matches_the_reference() {
    under_small_budget(64, |gpu| {
        check_reductions_along_every_axis_match_the_reference(gpu);
        check_softmax_and_cross_entropy_match_the_reference(gpu);
        check_pointwise_losses_match_the_reference(gpu);
        check_subgroup_and_fallback_sums_match_the_reference(gpu);
        check_axis_kernels_agree_with_the_reference(gpu);
    })
    .expect("a GPU test needs an adapter");
}
