//! The channel gate of squeeze-and-excitation: `scale_rows` (x · s[row]) and `row_dots`
//! (Σ a·b per row, the gate's gradient) against the f64 reference on random shapes, rows
//! past the loop budget included, and the `ChannelMultiply` layer's gradients against finite
//! differences of the reference.

use wgcnn::nn::{BackendTensor, ChannelMultiply, CpuBackend, HostTensor};
use wgcnn::ops::reduce::{self, cpu};
use wgcnn::testing::{
    compare_with, finite_differences, gpu, to_f64, under_small_budget, Rng, EPS32,
};
use wgcnn::{Gpu, Shape, Tensor};

fn check_gate_ops_match_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x5e);
    // (rows, cols): odd sizes, one row, one column, and rows longer than 65,535 pixels.
    let mut cases: Vec<(usize, usize)> = (0..12)
        .map(|_| (rng.range(1, 40), rng.range(1, 300)))
        .collect();
    cases.extend([(1, 1), (1, 70_000), (3, 66_000), (512, 7)]);
    for (rows, cols) in cases {
        let (x, s, b) = (rng.vec(rows * cols), rng.vec(rows), rng.vec(rows * cols));
        let (x64, s64, b64) = (to_f64(&x), to_f64(&s), to_f64(&b));
        let xt = Tensor::from_slice(gpu, [rows, cols], &x).unwrap();
        let st = Tensor::from_slice(gpu, [rows], &s).unwrap();
        let bt = Tensor::from_slice(gpu, [rows, cols], &b).unwrap();

        // One rounding per product.
        let y = reduce::scale_rows(&xt, &st).unwrap().to_vec().unwrap();
        let want = cpu::scale_rows(&x64, &s64, cols);
        let r = compare_with(&y, &want, |i| EPS32 * want[i].abs() + 1e-37);
        assert!(r.passed(), "scale_rows {rows}x{cols}: {r}");

        // A sum of `cols` products: cols roundings of the running sum at most, each of at
        // most the row's Σ|a·b|.
        let d = reduce::row_dots(&xt, &bt).unwrap().to_vec().unwrap();
        let want = cpu::row_dots(&x64, &b64, cols);
        let abs: Vec<f64> = x64
            .chunks(cols)
            .zip(b64.chunks(cols))
            .map(|(p, q)| p.iter().zip(q).map(|(a, b)| (a * b).abs()).sum())
            .collect();
        let len = (cols as f64).log2().ceil().max(1.0) * 2.0 + 2.0;
        let r = compare_with(&d, &want, |i| len * EPS32 * abs[i] + 1e-37);
        assert!(r.passed(), "row_dots {rows}x{cols}: {r}");
    }
}

#[test]
fn gate_ops_match_the_reference() {
    check_gate_ops_match_the_reference(&gpu());
}

#[test]
fn gate_ops_match_the_reference_in_small_loop_budgets() {
    under_small_budget(64, check_gate_ops_match_the_reference).unwrap();
}

#[test]
fn bad_gate_shapes_are_errors() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, [3, 4], &[1.0; 12]).unwrap();
    let s = Tensor::from_slice(&gpu, [2], &[1.0; 2]).unwrap();
    assert!(reduce::scale_rows(&x, &s).is_err());
    let b = Tensor::from_slice(&gpu, [4, 3], &[1.0; 12]).unwrap();
    assert!(reduce::row_dots(&x, &b).is_err());
    let l = wgcnn::nn::Layer::from(ChannelMultiply);
    let map = Shape::new([2, 3, 4, 4]);
    assert!(l.output_shape(&[map.clone(), Shape::new([2, 3])]).is_ok());
    for gate in [[2, 4], [1, 3]] {
        assert!(
            l.output_shape(&[map.clone(), Shape::new(gate)]).is_err(),
            "{gate:?}"
        );
    }
}

fn pass(training: bool) -> wgcnn::nn::Pass {
    wgcnn::nn::Pass {
        training,
        frozen: false,
        seed: 0,
        step: 0,
    }
}

/// Σ w · ChannelMultiply(map, gate) on the reference backend.
fn weighted(map: &[f64], gate: &[f64], w: &[f64], [n, c, h, wd]: [usize; 4]) -> f64 {
    let b = CpuBackend;
    let l = wgcnn::nn::Layer::from(ChannelMultiply);
    let m = HostTensor::new(Shape::new([n, c, h, wd]), map.to_vec()).unwrap();
    let g = HostTensor::new(Shape::new([n, c]), gate.to_vec()).unwrap();
    let (y, _) = l.forward(&b, &[&m, &g], &[], pass(false)).unwrap();
    y.to_vec().iter().zip(w).map(|(a, b)| a * b).sum()
}

#[test]
fn channel_multiply_gradients_match_finite_differences() {
    let dims = [2, 3, 4, 5];
    let numel: usize = dims.iter().product();
    let mut rng = Rng::new(3);
    let mut map = to_f64(&rng.vec(numel));
    let mut gate = to_f64(&rng.vec(6));
    let w = to_f64(&rng.vec(numel));
    let b = CpuBackend;
    let l = wgcnn::nn::Layer::from(ChannelMultiply);
    let m = HostTensor::new(Shape::new(dims), map.clone()).unwrap();
    let g = HostTensor::new(Shape::new([2, 3]), gate.clone()).unwrap();
    let pass = pass(true);
    let (_, saved) = l.forward(&b, &[&m, &g], &[], pass).unwrap();
    let dy = HostTensor::new(Shape::new(dims), w.clone()).unwrap();
    let need = wgcnn::nn::Need {
        inputs: vec![true, true],
        params: false,
    };
    let shapes = [m.shape().clone(), g.shape().clone()];
    let (dx, _) = l
        .backward(&b, &dy, &shapes, &saved, &[], pass, &need)
        .unwrap();
    let (dmap, dgate) = (
        dx[0].as_ref().unwrap().to_vec(),
        dx[1].as_ref().unwrap().to_vec(),
    );
    let g0 = gate.clone();
    let fd_map = finite_differences(&mut map, 1e-6, |m| weighted(m, &g0, &w, dims));
    let m0 = map.clone();
    let fd_gate = finite_differences(&mut gate, 1e-6, |g| weighted(&m0, g, &w, dims));
    for (fd, got) in fd_map.iter().zip(&dmap).chain(fd_gate.iter().zip(&dgate)) {
        assert!((fd - got).abs() < 1e-8, "{fd} vs {got}");
    }
}
