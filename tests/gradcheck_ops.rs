//! Finite-difference checks (f64, central differences) of the reference backward passes not
//! covered beside their parity tests: adaptive average pooling, channel-wise max pooling, the
//! dense layer, the pointwise losses and transposed convolution.

use wgcnn::ops::conv2d::{cpu as conv_cpu, transpose::ConvTranspose2dParams};
use wgcnn::ops::matmul::{cpu as mm_cpu, MatmulGeometry};
use wgcnn::ops::pool::{cpu as pool_cpu, AdaptiveGeometry};
use wgcnn::testing::{finite_differences, to_f64, Rng};
use wgcnn::{Shape, HW};

const H: f64 = 1e-6;

/// Central difference of `loss` in every element of `x`, against `grad`.
fn check(what: &str, x: &mut [f64], grad: &[f64], loss: &dyn Fn(&[f64]) -> f64, tol: f64) {
    for (i, fd) in finite_differences(x, H, loss).into_iter().enumerate() {
        assert!(
            (fd - grad[i]).abs() <= tol,
            "{what}[{i}]: analytic {} finite difference {fd}",
            grad[i]
        );
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn adaptive_and_channel_pooling() {
    let mut rng = Rng::new(0xfd1);
    let x_shape = Shape::new([2, 3, 7, 9]);
    let g = AdaptiveGeometry::resolve(&x_shape, HW::new(3, 4)).unwrap();
    let mut x = to_f64(&rng.vec(x_shape.numel()));
    let dy = to_f64(&rng.vec(g.y_shape().numel()));
    let dx = pool_cpu::adaptive_backward(&g, &dy).values;
    check(
        "adaptive dx",
        &mut x,
        &dx,
        &|x| dot(&pool_cpu::adaptive_forward(&g, x).values, &dy),
        1e-8,
    );

    // Channel max: distinct values 0.01 apart, so a step never changes the arg-max.
    let dims = [2, 6, 2, 3];
    let n: usize = dims.iter().product();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.range(0, i));
    }
    let mut x: Vec<f64> = perm.iter().map(|&v| v as f64 * 0.01).collect();
    let (y, idx) = pool_cpu::channel_max_forward(&x, dims, 3);
    let dy = to_f64(&rng.vec(y.len()));
    let dx = pool_cpu::channel_max_backward(&dy, &idx, dims, 3);
    check(
        "channel max dx",
        &mut x,
        &dx,
        &|x| dot(&pool_cpu::channel_max_forward(x, dims, 3).0, &dy),
        1e-8,
    );
}

#[test]
fn dense_layer() {
    let mut rng = Rng::new(0xfd2);
    let (n, i, o) = (4, 5, 3);
    let mut x = to_f64(&rng.vec(n * i));
    let mut w = to_f64(&rng.vec(o * i));
    let mut b = to_f64(&rng.vec(o));
    let dy = to_f64(&rng.vec(n * o));
    let gy = MatmulGeometry {
        m: n,
        n: o,
        k: i,
        a_m: i,
        a_k: 1,
        b_k: 1,
        b_n: i,
    };
    let y = |x: &[f64], w: &[f64], b: &[f64]| mm_cpu::matmul(&gy, x, w, Some(b)).values;
    // dx = dy·w, dw = dyᵀ·x, db = Σ_n dy — the products the dense backward runs.
    let dx = mm_cpu::matmul(
        &MatmulGeometry {
            m: n,
            n: i,
            k: o,
            a_m: o,
            a_k: 1,
            b_k: i,
            b_n: 1,
        },
        &dy,
        &w,
        None,
    )
    .values;
    let dw = mm_cpu::matmul(
        &MatmulGeometry {
            m: o,
            n: i,
            k: n,
            a_m: 1,
            a_k: o,
            b_k: i,
            b_n: 1,
        },
        &dy,
        &x,
        None,
    )
    .values;
    let db: Vec<f64> = (0..o)
        .map(|c| (0..n).map(|r| dy[r * o + c]).sum())
        .collect();
    let (w0, b0, x0) = (w.clone(), b.clone(), x.clone());
    check(
        "dense dx",
        &mut x,
        &dx,
        &|x| dot(&y(x, &w0, &b0), &dy),
        1e-8,
    );
    check(
        "dense dw",
        &mut w,
        &dw,
        &|w| dot(&y(&x0, w, &b0), &dy),
        1e-8,
    );
    check(
        "dense db",
        &mut b,
        &db,
        &|b| dot(&y(&x0, &w0, b), &dy),
        1e-8,
    );
}

#[test]
fn pointwise_losses() {
    let mut rng = Rng::new(0xfd3);
    let n = 20;
    let mut x: Vec<f64> = to_f64(&rng.vec(n)).iter().map(|v| v * 5.0).collect();
    let t: Vec<f64> = (0..n).map(|i| (i % 3) as f64 * 0.5).collect();
    let mse = |x: &[f64]| x.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n as f64;
    let bce = |x: &[f64]| {
        x.iter()
            .zip(&t)
            .map(|(a, b)| a.max(0.0) - a * b + (-a.abs()).exp().ln_1p())
            .sum::<f64>()
            / n as f64
    };
    // The gradients the GPU kernel writes (reduce.wgsl::pointwise_loss).
    let g_mse: Vec<f64> = x
        .iter()
        .zip(&t)
        .map(|(a, b)| 2.0 * (a - b) / n as f64)
        .collect();
    let g_bce: Vec<f64> = x
        .iter()
        .zip(&t)
        .map(|(a, b)| (1.0 / (1.0 + (-a).exp()) - b) / n as f64)
        .collect();
    check("mse", &mut x, &g_mse, &mse, 1e-8);
    check("bce", &mut x, &g_bce, &bce, 1e-8);
}

#[test]
fn transposed_convolution() {
    let mut rng = Rng::new(0xfd4);
    let mut p = ConvTranspose2dParams::new((3, 2));
    p.stride = HW::new(2, 1);
    p.padding = HW::new(1, 0);
    p.output_padding = HW::new(1, 0);
    let (x_dims, cog) = ([1, 2, 3, 4], 3);
    let w_shape = Shape::new([2, cog, 3, 2]);
    let y_shape = p.output_shape(&Shape::new(x_dims), &w_shape).unwrap();
    let yd = [y_shape.dims()[2], y_shape.dims()[3]];
    let mut x = to_f64(&rng.vec(x_dims.iter().product()));
    let w = to_f64(&rng.vec(w_shape.numel()));
    let dy = to_f64(&rng.vec(y_shape.numel()));
    let fwd =
        |x: &[f64]| conv_cpu::transpose_forward(x, x_dims, &w, [cog, 3, 2], None, &p, yd).values;
    // Its input gradient is the forward of the conv it is the gradient of.
    let g = p.as_conv().resolve(&y_shape, &w_shape).unwrap();
    let dx = conv_cpu::forward(&g, &dy, &w, None).values;
    check(
        "conv_transpose dx",
        &mut x,
        &dx,
        &|x| dot(&fwd(x), &dy),
        1e-8,
    );
}
