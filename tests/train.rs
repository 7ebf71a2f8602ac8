//! Training against the f64 reference trainer: GPU plans reach the reference weights (every
//! layer kind, Winograd, pool scatter, parameter banks past the binding limit, unreached
//! weights, folded batch norm, per-step augmentation and dropout), and the reference backward
//! against finite differences.

mod common;

use common::{batch, every_layer, heads, worst};
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{central_difference, gpu, Rng};
use wgcnn::train::{Head, Loss, Model, ReferenceTrainer};
use wgcnn::Padding;

#[test]
fn gpu_training_reaches_the_reference_weights() {
    let gpu = gpu();
    let g = every_layer(11);
    // SGD with momentum: Adam divides by √v and would magnify rounding in near-zero gradients.
    let opt = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 1e-3,
        nesterov: true,
    };
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile_heads(&heads(), opt).unwrap();
    let init = g.params().to_vec();
    let mut r = ReferenceTrainer::new(g, &heads(), opt).unwrap();
    let mut rng = Rng::new(2);
    let steps = 4;
    for s in 0..steps {
        let (x, y, bx) = batch(&mut rng, 5);
        m.train_on_batch(&x, &[&y, &bx]).unwrap();
        r.train_on_batch(&x, &[&y, &bx], s).unwrap();
    }
    // Each step's gradient carries rounding of at most K·ε32 relative to the terms it sums, K
    // the longest reduction (a conv's 6·3·3 = 54 taps times the 5·11·9 batch pixels of its
    // filter gradient). The weights move by the sum of the updates, so the drift is bounded by
    // K·ε32 times that movement, plus ε32 of the weight itself for the final rounding.
    let k = 54.0 * 5.0 * 11.0 * 9.0;
    let eps = f64::from(f32::EPSILON);
    for (((name, a), b), p0) in m.parameters().unwrap().iter().zip(r.params()).zip(&init) {
        let (err, scale) = worst(a, &b);
        let moved = p0
            .data
            .iter()
            .zip(&b)
            .map(|(w0, w)| (f64::from(*w0) - w).abs())
            .fold(0.0, f64::max);
        let tol = 2.0 * k * eps * moved + 8.0 * eps * scale + 1e-12;
        assert!(
            err <= tol,
            "{name}: GPU and reference differ by {err:e} (tolerance {tol:e})"
        );
    }
    // Inference outputs (running statistics, no dropout) agree too.
    let (x, _, _) = batch(&mut rng, 3);
    let gp = m.predict(&x, 2).unwrap();
    let rp = r.predict(&x).unwrap();
    for (a, b) in gp.iter().zip(&rp) {
        let (err, scale) = worst(a, b);
        assert!(err <= 1e-4 * (1.0 + scale), "predict differs by {err:e}");
    }
}

#[test]
fn winograd_and_pool_scatter_train_like_the_reference_in_reused_buffers() {
    // 16-channel 3×3 stride-1 convs take Winograd in every pass on software adapters (the
    // heuristic, which shared_gpu pins; F(4×4) at 12×12, F(2×2) at 6×6), 2×2 max pools the
    // scatter backward. From the second step on, a plan's pooled buffers hold earlier values:
    // a kernel that skipped an element (a dx cell, a zero past the last tile) would leave one
    // of them behind, an error of the order of the weights' movement itself. Batch 57 puts
    // 513 tiles under the second conv's F(2×2) filter gradient: two chunks, one padded.
    let gpu = gpu();
    let g = wgcnn::graph::Sequential::new([16, 12, 12])
        .seed(3)
        .add(
            Conv2d::new(16, 3)
                .padding(Padding::Same)
                .activation(Activation::Relu),
        )
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(16, 3).padding(Padding::Same))
        .add(Flatten)
        .add(Dense::new(3))
        .build()
        .unwrap();
    let opt = Optimizer::sgd(0.05);
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, opt).unwrap();
    let heads = [Head::new(0, Loss::SparseCategoricalCrossentropy)];
    let init = g.params().to_vec();
    let mut r = ReferenceTrainer::new(g, &heads, opt).unwrap();
    let mut rng = Rng::new(12);
    for s in 0..4 {
        let x = rng.vec(57 * 16 * 12 * 12);
        let y: Vec<f32> = (0..57).map(|i| (i % 3) as f32).collect();
        m.train_on_batch(&x, &[&y]).unwrap();
        r.train_on_batch(&x, &[&y], s).unwrap();
    }
    // Winograd's rounding exceeds the direct kernels' K·ε32 (its transforms amplify it, up to
    // ~10× on such sizes: BENCH.md), yet stays orders of magnitude below the movement: 1e-3
    // of it separates the two.
    for (((name, a), b), p0) in m.parameters().unwrap().iter().zip(r.params()).zip(&init) {
        let (err, scale) = worst(a, &b);
        let moved = p0
            .data
            .iter()
            .zip(&b)
            .map(|(w0, w)| (f64::from(*w0) - w).abs())
            .fold(0.0, f64::max);
        assert!(moved > 0.0, "{name} did not train");
        let tol = 1e-3 * moved + 8.0 * f64::from(f32::EPSILON) * scale;
        assert!(
            err <= tol,
            "{name}: GPU and reference differ by {err:e} (tolerance {tol:e})"
        );
    }
}

#[test]
fn every_layer_backward_matches_finite_differences() {
    // Central differences of the f64 reference loss through the whole graph, against the
    // autodiff gradients of the same reference.
    let g = every_layer(5);
    let r = ReferenceTrainer::new(g, &heads(), Optimizer::sgd(0.1)).unwrap();
    let mut rng = Rng::new(9);
    let (x, y, bx) = batch(&mut rng, 3);
    let t: [&[f32]; 2] = [&y, &bx];
    let (_, grads) = r.loss_and_grads(&x, &t, 7).unwrap();
    let mut r = r;
    let h = 1e-6;
    for (k, p) in r.graph.params().to_vec().iter().enumerate() {
        if !p.spec.trainable {
            continue;
        }
        let g = grads[k]
            .as_ref()
            .unwrap_or_else(|| panic!("no gradient for {}", p.name));
        let base = r.params()[k].clone();
        // A few elements per tensor keep the reference's cost in bounds.
        for i in (0..base.len()).step_by(base.len().div_ceil(4).max(1)) {
            let fd = central_difference(&mut base.clone(), i, h, |v| {
                r.set_param(k, v.to_vec());
                r.loss_and_grads(&x, &t, 7).unwrap().0
            });
            r.set_param(k, base.clone());
            assert!(
                (fd - g[i]).abs() <= 1e-6 + 1e-4 * g[i].abs(),
                "{}[{i}]: autodiff {} vs finite difference {fd}",
                p.name,
                g[i]
            );
        }
    }
}

#[test]
fn parameters_past_the_binding_limit_split_into_banks() {
    // A device that binds at most 64 KiB per storage buffer: ~270 KB of parameters need
    // several banks, each updated by its own optimiser dispatch, and the first two weights
    // (77 KB and 120 KB) pass the limit themselves: each takes a bank of its own, its products
    // run in blocks and its optimiser step in chunks.
    let gpu = wgcnn::testing::binding_limit_gpu(64 << 10).unwrap();
    let dense = |u| Dense::new(u).activation(Activation::Relu);
    let g = wgcnn::graph::Sequential::new([1, 8, 8])
        .seed(2)
        .add(Flatten)
        .add(dense(300))
        .add(dense(100))
        .add(dense(100))
        .add(Dense::new(10))
        .build()
        .unwrap();
    let opt = Optimizer::adam(1e-2);
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, opt).unwrap();
    assert!(m.param_buffers() >= 3, "{} banks", m.param_buffers());
    let heads = [Head::new(0, Loss::SparseCategoricalCrossentropy)];
    let mut r = ReferenceTrainer::new(g.clone(), &heads, opt).unwrap();
    let mut rng = Rng::new(8);
    for s in 0..3 {
        let x = rng.vec(4 * 64);
        let y: Vec<f32> = (0..4).map(|i| (i * 3 % 10) as f32).collect();
        m.train_on_batch(&x, &[&y]).unwrap();
        r.train_on_batch(&x, &[&y], s).unwrap();
    }
    let eps = f64::from(f32::EPSILON);
    for (((name, a), b), p0) in m
        .parameters()
        .unwrap()
        .iter()
        .zip(r.params())
        .zip(g.params())
    {
        let (err, scale) = worst(a, &b);
        let moved = p0
            .data
            .iter()
            .zip(&b)
            .map(|(w0, w)| (f64::from(*w0) - w).abs())
            .fold(0.0, f64::max);
        // Adam divides by √v: allow K·ε32 of the movement with K = 300 · 4 and a 64× margin
        // for near-zero second moments.
        let tol = 64.0 * 1200.0 * eps * moved + 8.0 * eps * scale + 1e-9;
        assert!(err <= tol, "{name}: {err:e} > {tol:e}");
    }
    // The optimiser state of every bank survives a checkpoint.
    let path = std::env::temp_dir().join(format!("wgcnn-banks-{}.safetensors", std::process::id()));
    m.save(&path).unwrap();
    let mut again = Model::new(&gpu, g).unwrap();
    again
        .compile(Loss::SparseCategoricalCrossentropy, opt)
        .unwrap();
    again.load(&path).unwrap();
    let (x, y) = (rng.vec(4 * 64), vec![1.0f32; 4]);
    m.train_on_batch(&x, &[&y]).unwrap();
    again.train_on_batch(&x, &[&y]).unwrap();
    assert_eq!(m.parameters().unwrap(), again.parameters().unwrap());
}

#[test]
fn weights_no_loss_reaches_are_left_alone() {
    // Two heads, one loss: the box head gets no gradient and, as in PyTorch, no weight decay.
    let gpu = gpu();
    let g = wgcnn::models::two_head_cnn([3, 16, 16], 5, 1).unwrap();
    let mut m = Model::new(&gpu, g).unwrap();
    let opt = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.1,
        nesterov: false,
    };
    m.compile_heads(&[Head::new(0, Loss::SparseCategoricalCrossentropy)], opt)
        .unwrap();
    let before = m.parameters().unwrap();
    let mut rng = Rng::new(3);
    let x = rng.vec(4 * 3 * 16 * 16);
    m.train_on_batch(&x, &[&[0.0, 1.0, 2.0, 3.0]]).unwrap();
    for ((name, a), (_, b)) in before.iter().zip(m.parameters().unwrap()) {
        // Batch-norm running statistics move too (training-mode forward).
        assert_eq!(!name.starts_with("box_head"), *a != b, "{name}");
    }
    assert_eq!(
        m.graph().summary().trainable,
        m.graph()
            .params()
            .iter()
            .filter(|p| p.spec.trainable && !p.name.starts_with("box_head"))
            .map(|p| p.data.len())
            .sum::<usize>()
    );
}

#[test]
fn inference_folds_batch_norm_into_the_conv_exactly() {
    // conv → batch norm → ReLU runs as one folded conv in inference; the result must be the
    // unfolded layers' (f64 reference: to rounding; GPU: within the conv's bound).
    use wgcnn::nn::CpuBackend;
    use wgcnn::nn::HostTensor;
    // Weights (5·3·3·3) small enough next to the output (2·5·16·15) to be folded.
    let g = wgcnn::graph::Sequential::new([3, 16, 15])
        .seed(6)
        .add(Conv2d::new(5, 3).padding(Padding::Same))
        .add(BatchNorm2d::new())
        .add(Activation::Relu)
        .build()
        .unwrap();
    // Non-trivial running statistics.
    let mut g = g;
    let mut rng = Rng::new(12);
    for p in g.params_mut().iter_mut() {
        if p.name.contains("running_var") {
            p.data = p.data.iter().map(|_| 0.5 + rng.uniform().abs()).collect();
        } else if p.name.contains("running_mean")
            || p.name.contains("bn")
            || p.name.contains("batch")
        {
            p.data = rng.vec(p.data.len());
        }
    }
    let x = rng.vec(2 * 3 * 16 * 15);
    let heads = [Head::new(0, Loss::MeanSquaredError)];
    let r = ReferenceTrainer::new(g.clone(), &heads, Optimizer::sgd(0.1)).unwrap();
    let folded = r.predict(&x).unwrap().remove(0);
    // The same layers one by one through the reference backend.
    use wgcnn::nn::backend::*;
    let cpu = CpuBackend;
    let t = |k: usize| {
        HostTensor::from_f32(g.params()[k].spec.shape.clone(), &g.params()[k].data).unwrap()
    };
    let xt = HostTensor::from_f32([2, 3, 16, 15], &x).unwrap();
    let wgcnn::nn::Layer::Conv2d(c) = &g.nodes()[0].layer else {
        panic!()
    };
    let z = cpu.conv2d(&xt, &t(0), Some(&t(1)), &c.params).unwrap();
    let y = cpu
        .batch_norm_eval(&z, [&t(2), &t(3)], [&t(4), &t(5)], 1e-5)
        .unwrap();
    let want = cpu.activation(&y, Activation::Relu).unwrap().to_vec();
    for (a, b) in folded.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let gpu = gpu();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile_heads(&heads, Optimizer::sgd(0.1)).unwrap();
    let got = m.predict(&x, 2).unwrap().remove(0);
    let (err, scale) = worst(&got, &want);
    // K = 3·3·3 + 1 taps, scaled by |γ|/σ ≤ ~2 here.
    assert!(
        err <= 4.0 * 28.0 * f64::from(f32::EPSILON) * (1.0 + scale) * 8.0,
        "{err:e}"
    );
}

#[test]
fn the_reference_backend_refuses_bad_shapes() {
    use wgcnn::nn::backend::*;
    let b = CpuBackend;
    let h = |s: &[usize]| HostTensor::new(s, vec![0.5; s.iter().product()]).unwrap();
    assert!(
        b.softmax_cross_entropy(&h(&[6]), &h(&[6])).is_err(),
        "rank-1 logits"
    );
    let t = HostTensor::new([2], vec![0.0, 3.0]).unwrap();
    assert!(
        b.softmax_cross_entropy(&h(&[2, 3]), &t).is_err(),
        "class 3 of 3"
    );
    assert!(
        b.topk_hits(&h(&[2, 3]), &h(&[3]), 1).is_err(),
        "3 targets for 2 rows"
    );
    assert!(b.concat(&[&h(&[1, 2, 3, 3]), &h(&[1, 2, 4, 3])]).is_err());
    assert!(b.split(&h(&[1, 4, 2, 2]), &[1, 2]).is_err());
    assert!(b
        .pointwise_loss(
            &h(&[2, 3]),
            &h(&[3, 2]),
            wgcnn::ops::reduce::PointwiseLoss::Mse
        )
        .is_err());
    assert!(b
        .activation_backward(&h(&[3]), &h(&[4]), Activation::Relu)
        .is_err());
    assert!(b
        .batch_norm_eval(
            &h(&[2, 3, 2, 2]),
            [&h(&[2]), &h(&[3])],
            [&h(&[3]), &h(&[3])],
            1e-5
        )
        .is_err());
}

/// The training step reaches augmentation and dropout through the plan's per-step buffer, and
/// the optimiser's first-step flag through its bank's slot: a replayed plan must draw each
/// step's images and masks afresh, as the reference does from the step it is given.
#[test]
fn augmentation_in_a_plan_draws_each_steps_images_like_the_reference() {
    use wgcnn::graph::GraphBuilder;
    use wgcnn::ops::augment::AugmentParams;
    let gpu = gpu();
    let mut b = GraphBuilder::new(5);
    let x = b.input([3, 9, 10]);
    let a = b
        .add(
            Augment(AugmentParams {
                flip: true,
                max_shift: 2,
                ..AugmentParams::default()
            }),
            &[x],
        )
        .unwrap();
    let c = b
        .add(Conv2d::new(4, 3).activation(Activation::Relu), &[a])
        .unwrap();
    let f = b.add(Flatten, &[c]).unwrap();
    let f = b.add(Dropout::new(0.25), &[f]).unwrap();
    let y = b.add(Dense::new(3), &[f]).unwrap();
    let g = b.build(&[y]).unwrap();
    let heads = [Head::new(0, Loss::SparseCategoricalCrossentropy)];
    let opt = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile_heads(&heads, opt).unwrap();
    let mut r = ReferenceTrainer::new(g, &heads, opt).unwrap();
    let mut rng = Rng::new(8);
    let x = rng.vec(6 * 3 * 9 * 10);
    let labels: Vec<f32> = (0..6).map(|i| (i % 3) as f32).collect();
    // One batch replayed: only the per-step draws tell the steps apart.
    for s in 0..4 {
        m.train_on_batch(&x, &[&labels]).unwrap();
        r.train_on_batch(&x, &[&labels], s).unwrap();
    }
    // The longest reduction is the dense layer's filter gradient over 4·7·8 inputs × 6 rows.
    let k = (4.0 * 7.0 * 8.0) * 6.0;
    let eps = f64::from(f32::EPSILON);
    for ((name, a), b) in m.parameters().unwrap().iter().zip(r.params()) {
        let (err, scale) = worst(a, &b);
        let tol = 4.0 * k * eps * (1.0 + scale);
        assert!(
            err <= tol,
            "{name}: GPU and reference differ by {err:e} (tolerance {tol:e})"
        );
    }
}
