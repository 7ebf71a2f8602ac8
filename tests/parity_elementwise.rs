//! Elementwise ops against the f64 reference: activations and their gradients (checked by
//! finite differences too), add/axpby/scale, bias, dropout masks, channel concat/split.

use wgcnn::ops::elementwise::{self as ew, cpu, Activation};
use wgcnn::testing::{central_difference, compare_with, gpu, to_f64, Rng, EPS32};
use wgcnn::{Shape, Tensor};

const ACTS: [Activation; 7] = [
    Activation::Relu,
    Activation::LeakyRelu(0.01),
    Activation::LeakyRelu(0.3),
    Activation::Elu(1.0),
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Relu6,
];

/// Values over a wide range with exact ±0 and a few large magnitudes.
fn inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 13 {
            0 => 0.0,
            1 => -0.0,
            2 => rng.uniform() * 40.0,
            _ => rng.uniform() * 4.0,
        })
        .collect()
}

#[test]
fn activations_and_gradients_match_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0xe1);
    for f in ACTS {
        let n = 4099;
        let xs = inputs(&mut rng, n);
        let dys = rng.vec(n);
        let x = Tensor::from_slice(&gpu, [n], &xs).unwrap();
        let dy = Tensor::from_slice(&gpu, [n], &dys).unwrap();
        let y = ew::activation(&x, f).unwrap().to_vec().unwrap();
        let dx = ew::activation_backward(&dy, &x, f)
            .unwrap()
            .to_vec()
            .unwrap();
        let x64 = to_f64(&xs);
        let y_ref: Vec<f64> = x64.iter().map(|&v| cpu::activation(v, f)).collect();
        let dx_ref: Vec<f64> = x64
            .iter()
            .zip(&dys)
            .map(|(&v, &d)| f64::from(d) * cpu::activation_grad(v, f))
            .collect();
        // exp carries (3 + 2|x|) ulp in WGSL; the rest is a few roundings.
        let bound = |i: usize, r: f64| (8.0 + 4.0 * x64[i].abs()) * EPS32 * r.abs().max(1.0);
        let r = compare_with(&y, &y_ref, |i| bound(i, y_ref[i]));
        assert!(r.passed(), "{f:?} forward: {r}");
        let r = compare_with(&dx, &dx_ref, |i| bound(i, dx_ref[i]));
        assert!(r.passed(), "{f:?} backward: {r}");
        // The same gradient from the GPU's output y, as fused conv layers take it: against
        // f'(x), with y's own rounding (≤ the forward bound) through f'' (|f''| ≤ 1 here).
        let yt = Tensor::from_slice(&gpu, [n], &y).unwrap();
        let dxo = ew::activation_backward_from_output(&dy, &yt, f)
            .unwrap()
            .to_vec()
            .unwrap();
        let r = compare_with(&dxo, &dx_ref, |i| {
            2.0 * bound(i, dx_ref[i]) + 2.0 * bound(i, y_ref[i]) * f64::from(dys[i].abs())
        });
        assert!(r.passed(), "{f:?} backward from the output: {r}");
        if f == Activation::Relu {
            assert!(
                y.iter().zip(&xs).all(|(&a, &b)| a == b.max(0.0)),
                "ReLU must be exact"
            );
            assert!(dx
                .iter()
                .zip(&xs)
                .zip(&dys)
                .all(|((&g, &v), &d)| g == if v > 0.0 { d } else { 0.0 }));
        }
    }
}

#[test]
fn reference_gradients_match_finite_differences() {
    let h = 1e-6;
    for f in ACTS {
        for i in 0..200 {
            // -8.7 … 8.7, never within 0.001 of a kink (0, and 6 for ReLU6).
            let x = (i as f64 - 100.0) * 0.0874 + 0.001;
            let fd = central_difference(&mut [x], 0, h, |v| cpu::activation(v[0], f));
            assert!(
                (fd - cpu::activation_grad(x, f)).abs() < 1e-7,
                "{f:?} at {x}"
            );
        }
    }
}

#[test]
fn add_scale_and_bias_match_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0xe2);
    let shape = Shape::new([3, 5, 7, 9]);
    let (a, b) = (rng.vec(shape.numel()), rng.vec(shape.numel()));
    let ta = Tensor::from_slice(&gpu, shape.clone(), &a).unwrap();
    let tb = Tensor::from_slice(&gpu, shape.clone(), &b).unwrap();
    let two_ops = |i: usize, r: &[f64]| {
        2.0 * EPS32 * r[i].abs() + 2.0 * EPS32 * (a[i].abs() + b[i].abs()) as f64
    };
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| f64::from(x) + f64::from(y))
        .collect();
    let r = compare_with(&ew::add(&ta, &tb).unwrap().to_vec().unwrap(), &want, |i| {
        two_ops(i, &want)
    });
    assert!(r.passed(), "add: {r}");
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| 0.5 * f64::from(x) - 2.0 * f64::from(y))
        .collect();
    let got = ew::axpby(0.5, &ta, -2.0, &tb).unwrap().to_vec().unwrap();
    let r = compare_with(&got, &want, |i| 4.0 * two_ops(i, &want));
    assert!(r.passed(), "axpby: {r}");
    let got = ew::scale(&ta, -3.0).unwrap().to_vec().unwrap();
    assert!(got.iter().zip(&a).all(|(&g, &x)| g == -3.0 * x));

    // Per-channel bias on NCHW and on [n, features].
    let bias = rng.vec(5);
    let tbias = Tensor::from_slice(&gpu, [5], &bias).unwrap();
    let got = ew::bias_add(&ta, &tbias).unwrap().to_vec().unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, &g)| g == a[i] + bias[(i / 63) % 5]));
    let nf = ta.reshape([21, 45]).unwrap();
    let bias45 = rng.vec(45);
    let got = ew::bias_add(&nf, &Tensor::from_slice(&gpu, [45], &bias45).unwrap())
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, &g)| g == a[i] + bias45[i % 45]));
    assert!(ew::bias_add(&ta, &Tensor::from_slice(&gpu, [4], &[0.0; 4]).unwrap()).is_err());
    assert!(ew::add(&ta, &nf).is_err());
}

#[test]
fn dropout_masks_are_reproducible_and_unbiased() {
    let gpu = gpu();
    let n = 100_003;
    let ones = Tensor::from_slice(&gpu, [n], &vec![1.0; n]).unwrap();
    for rate in [0.0f32, 0.1, 0.5, 0.9] {
        let y = ew::dropout(&ones, rate, 42, 7).unwrap().to_vec().unwrap();
        let scale = 1.0 / (1.0 - rate);
        for (i, &v) in y.iter().enumerate() {
            let keep = cpu::dropout_keeps(i as u32, 42, 7, rate);
            assert_eq!(v, if keep { scale } else { 0.0 }, "rate {rate} element {i}");
        }
        // The kept fraction is within 5 standard deviations of 1 − rate.
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        let sd = (f64::from(rate) * (1.0 - f64::from(rate)) / n as f64).sqrt();
        assert!(
            (kept - (1.0 - f64::from(rate))).abs() <= 5.0 * sd + 1e-12,
            "rate {rate}: kept {kept}"
        );
        // The backward pass applies the same mask.
        let back = ew::dropout_backward(&ones, rate, 42, 7)
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(back, y);
    }
    let a = ew::dropout(&ones, 0.5, 42, 7).unwrap().to_vec().unwrap();
    let b = ew::dropout(&ones, 0.5, 42, 8).unwrap().to_vec().unwrap();
    assert_ne!(a, b, "another step must draw another mask");
    assert!(ew::dropout(&ones, 1.0, 0, 0).is_err());
}

#[test]
fn concat_and_split_round_trip() {
    let gpu = gpu();
    let mut rng = Rng::new(0xe3);
    let sizes = [3usize, 1, 5];
    let parts: Vec<Vec<f32>> = sizes.iter().map(|&c| rng.vec(2 * c * 4 * 3)).collect();
    let tensors: Vec<Tensor> = sizes
        .iter()
        .zip(&parts)
        .map(|(&c, v)| Tensor::from_slice(&gpu, [2, c, 4, 3], v).unwrap())
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let cat = ew::concat_channels(&refs).unwrap();
    assert_eq!(cat.dims(), &[2, 9, 4, 3]);
    let got = cat.to_vec().unwrap();
    // Reference: for each image, the parts' channel blocks one after another.
    let mut want = Vec::new();
    for n in 0..2 {
        for (&c, v) in sizes.iter().zip(&parts) {
            want.extend_from_slice(&v[n * c * 12..(n + 1) * c * 12]);
        }
    }
    assert_eq!(got, want);
    let back = ew::split_channels(&cat, &sizes).unwrap();
    for (t, v) in back.iter().zip(&parts) {
        assert_eq!(&t.to_vec().unwrap(), v);
    }
    assert!(ew::split_channels(&cat, &[4, 4]).is_err());
    let other = Tensor::from_slice(&gpu, [2, 1, 4, 4], &[0.0; 32]).unwrap();
    assert!(ew::concat_channels(&[&cat, &other]).is_err());
}

#[test]
fn add_relu_is_the_rounded_sum_clamped() {
    let gpu = gpu();
    let mut rng = Rng::new(0xadd);
    let n = 1031;
    let (a, b) = (inputs(&mut rng, n), inputs(&mut rng, n));
    let ta = Tensor::from_slice(&gpu, [n], &a).unwrap();
    let tb = Tensor::from_slice(&gpu, [n], &b).unwrap();
    let y = ew::add_relu(&ta, &tb).unwrap().to_vec().unwrap();
    // One f32 addition, then an exact clamp: the same bits as on the host.
    let want: Vec<f32> = a.iter().zip(&b).map(|(x, z)| (x + z).max(0.0)).collect();
    assert_eq!(y, want);
    let short = Tensor::from_slice(&gpu, [3], &[1.0; 3]).unwrap();
    assert!(ew::add_relu(&ta, &short).is_err());
}

/// Both NaN, the same infinity, or within a few ulps (tanh, sigmoid and ELU round).
fn same(got: f32, want: f64) -> bool {
    let g = f64::from(got);
    (got.is_nan() && want.is_nan())
        || g == want
        || (want.is_finite() && (g - want).abs() <= 1e-6 * want.abs().max(1.0))
}

/// NaN and ±∞ through every activation and its gradients, the residual add + ReLU and the
/// conv epilogue: NaN stays NaN (PyTorch), whatever the driver's max and min do with it.
#[test]
fn nan_and_infinity_propagate_as_in_pytorch() {
    let gpu = gpu();
    let xs = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        1.5,
        -2.0,
        f32::NAN,
    ];
    let x = Tensor::from_slice(&gpu, [xs.len()], &xs).unwrap();
    let dy = Tensor::from_slice(&gpu, [xs.len()], &[1.0; 8]).unwrap();
    let acts = wgcnn::testing::cases::ACTIVATIONS;
    for f in acts {
        let y = ew::activation(&x, f).unwrap().to_vec().unwrap();
        for (i, (&g, &v)) in y.iter().zip(&xs).enumerate() {
            let want = cpu::activation(f64::from(v), f);
            assert!(same(g, want), "{f:?}({v}) = {g}, want {want} [{i}]");
        }
        assert!(y[0].is_nan() && y[7].is_nan(), "{f:?} keeps NaN");
    }
    // ReLU's gradient passes where x is not ≤ 0, NaN included (threshold_backward).
    let g = ew::activation_backward(&dy, &x, Activation::Relu)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(g, vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let y = ew::activation(&x, Activation::Relu).unwrap();
    let g = ew::activation_backward_from_output(&dy, &y, Activation::Relu)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(g, vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let zeros = Tensor::zeros(&gpu, [xs.len()]).unwrap();
    let s = ew::add_relu(&x, &zeros).unwrap().to_vec().unwrap();
    assert!(s[0].is_nan() && s[1] == f32::INFINITY && s[2] == 0.0 && s[7].is_nan());
    // The fused conv epilogue: a 1×1 conv of weight 1 passes x to the activation.
    use wgcnn::ops::conv2d::{self, Conv2dParams};
    let x4 = x.reshape(Shape::new([1, 1, 1, 8])).unwrap();
    let w = Tensor::from_slice(&gpu, [1, 1, 1, 1], &[1.0]).unwrap();
    for f in acts {
        let y = conv2d::conv2d_activated(&x4, &w, None, &Conv2dParams::new(1), f)
            .unwrap()
            .to_vec()
            .unwrap();
        assert!(
            y[0].is_nan() && y[7].is_nan(),
            "{f:?} in the conv epilogue: {y:?}"
        );
    }
}

/// The non-finite-loss tracker against its reference, over a run of steps.
#[test]
fn the_non_finite_tracker_notes_the_first_bad_step() {
    let gpu = gpu();
    let watch = Tensor::zeros(&gpu, [3]).unwrap();
    let mut want = [0.0; 3];
    for v in [0.5, 2.0, f32::INFINITY, f32::NAN, 1.0] {
        let loss = Tensor::from_slice(&gpu, [1], &[v]).unwrap();
        ew::track_nonfinite(&loss, &watch).unwrap();
        want = cpu::track_nonfinite(want, f64::from(v));
    }
    assert_eq!(to_f64(&watch.to_vec().unwrap()), want.to_vec());
    assert_eq!(want, [5.0, 3.0, f64::INFINITY]);
    let bad = Tensor::zeros(&gpu, [2]).unwrap();
    assert!(ew::track_nonfinite(&bad, &watch).is_err());
}
