//! Tensors past the adapter's storage binding limit, on a device that binds at most 16 KiB
//! (4,096 values): products run as blocks that each bind what they touch (every transpose,
//! both kernels, bias, K-blocks with K-slices inside them), and ops that cannot split a
//! tensor refuse it with an error instead of a validation failure.

use wgcnn::ops::conv2d::{Conv2dParams, RegisterTile};
use wgcnn::ops::matmul::gpu::{matmul_with_kernel, MatmulKernel};
use wgcnn::ops::matmul::{self, cpu, MatmulGeometry};
use wgcnn::ops::Reference;
use wgcnn::testing::cases::ProductCase;
use wgcnn::testing::{assert_no_failures, binding_limit_gpu, compare, to_f64, Rng};
mod common;

use common::worst;
use wgcnn::nn::Dense;
use wgcnn::ops::optim::Optimizer;
use wgcnn::train::{Head, Loss, Model, ReferenceTrainer};
use wgcnn::{Error, Gpu, Shape, Tensor};

const LIMIT: u64 = 16 << 10;
const VALUES: usize = (LIMIT / 4) as usize;

/// `cases` random products of the `kinds` given (0: long N, 1: long K, 2: long M, 3: all
/// three past 60), each with an operand past the limit.
fn products_match_the_reference(
    gpu: &Gpu,
    seed: u64,
    kinds: &[usize],
    cases: usize,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut bad = Vec::new();
    for case in 0..cases {
        let (m, n, k) = match kinds[case % kinds.len()] {
            0 => (rng.range(1, 9), rng.range(300, 700), rng.range(20, 60)),
            1 => (rng.range(1, 9), rng.range(1, 30), rng.range(4_200, 9_000)),
            2 => (rng.range(100, 300), rng.range(60, 120), rng.range(1, 40)),
            _ => (rng.range(60, 130), rng.range(60, 130), rng.range(60, 130)),
        };
        assert!(m * k > VALUES || k * n > VALUES || m * n > VALUES);
        let p = ProductCase::random(gpu, &mut rng, (m, n, k)).unwrap();
        let tile = RegisterTile::ALL[case % RegisterTile::ALL.len()];
        let kernels = [
            MatmulKernel::Register(tile),
            MatmulKernel::Tiled,
            MatmulKernel::Texture(tile),
        ];
        for kernel in kernels {
            let bias = p.with_bias.then_some(&p.bias);
            let c = matmul_with_kernel(&p.a, &p.b, bias, &p.geometry, kernel).unwrap();
            let r = compare(&c.to_vec().unwrap(), &p.want, k + 1);
            if !r.passed() {
                bad.push(format!("{} {kernel:?}: {r}", p.name));
            }
        }
    }
    bad
}

#[test]
fn products_past_the_limit_run_in_blocks() {
    let gpu = binding_limit_gpu(LIMIT).unwrap();
    assert_eq!(gpu.limits().max_storage_buffer_binding_size, LIMIT);
    assert_no_failures(&products_match_the_reference(
        &gpu,
        0xb10c,
        &[0, 1, 2, 3],
        20,
    ));
    // Under a small loop budget each K-block is cut into K-slices as well (thousands of
    // dispatches in one op: the eager recorder submits them in batches).
    gpu.set_loop_budget(1536);
    assert_no_failures(&products_match_the_reference(&gpu, 0xb10d, &[2, 3], 6));
}

#[test]
fn a_dense_layer_past_the_limit_matches_the_reference() {
    // VGG's classifier in miniature: a weight [out, in] of 4.9× the limit.
    let gpu = binding_limit_gpu(LIMIT).unwrap();
    let mut rng = Rng::new(0xd5e);
    let (n, i, o) = (5, 700, 29);
    let (xv, wv, bv, dyv) = (rng.vec(n * i), rng.vec(o * i), rng.vec(o), rng.vec(n * o));
    let x = Tensor::from_slice(&gpu, [n, i], &xv).unwrap();
    let w = Tensor::from_slice(&gpu, [o, i], &wv).unwrap();
    let b = Tensor::from_slice(&gpu, [o], &bv).unwrap();
    let dy = Tensor::from_slice(&gpu, [n, o], &dyv).unwrap();
    let (x64, w64, dy64) = (to_f64(&xv), to_f64(&wv), to_f64(&dyv));
    let geometry = |a: [usize; 2], ta, b: [usize; 2], tb| {
        MatmulGeometry::new(&Shape::new(a), ta, &Shape::new(b), tb).unwrap()
    };
    let expect = |what: &str, got: Tensor, want: &Reference, k: usize| {
        let r = compare(&got.to_vec().unwrap(), want, k);
        assert!(r.passed(), "{what}: {r}");
    };
    let want = cpu::matmul(
        &geometry([n, i], false, [o, i], true),
        &x64,
        &w64,
        Some(&to_f64(&bv)),
    );
    expect(
        "forward",
        matmul::dense(&x, &w, Some(&b)).unwrap(),
        &want,
        i + 1,
    );
    let want = cpu::matmul(&geometry([n, o], false, [o, i], false), &dy64, &w64, None);
    expect(
        "dx",
        matmul::dense_backward_data(&dy, &w).unwrap(),
        &want,
        o,
    );
    let want = cpu::matmul(&geometry([n, o], true, [n, i], false), &dy64, &x64, None);
    expect(
        "dw",
        matmul::dense_backward_filter(&x, &dy).unwrap(),
        &want,
        n,
    );
}

#[test]
fn ops_that_bind_a_tensor_whole_refuse_it() {
    let gpu = binding_limit_gpu(LIMIT).unwrap();
    // A tensor may pass the binding limit (it is one buffer)...
    let big = Tensor::from_slice(&gpu, [2, 3, 40, 40], &vec![0.5; 9_600]).unwrap();
    // ...but an elementwise op and a convolution bind it whole: a clear error, no panic.
    let relu = wgcnn::ops::elementwise::activation(&big, wgcnn::ops::elementwise::Activation::Relu);
    let w = Tensor::from_slice(&gpu, [4, 3, 3, 3], &[0.1; 108]).unwrap();
    let conv = wgcnn::ops::conv2d::conv2d(&big, &w, None, &Conv2dParams::new(3));
    for r in [relu.map(|_| ()), conv.map(|_| ())] {
        match r {
            Err(Error::TooLarge { what, limit, .. }) => {
                assert!(what.contains("binding limit"), "{what}");
                assert_eq!(limit, LIMIT);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
    // Past the largest buffer is still an error at allocation.
    let max = gpu.limits().max_buffer_size;
    let huge = Tensor::zeros(&gpu, [(max / 4 + 1) as usize]);
    assert!(matches!(huge, Err(Error::TooLarge { .. })), "{huge:?}");
}

#[test]
fn a_weight_past_lavapipes_limit_predicts_and_trains_like_the_reference() {
    // lavapipe's own 128 MiB limit (any adapter binding more is capped to it): a dense
    // weight of 8,192 × 4,097 values, just past it, as VGG's 392 MiB classifier is.
    let gpu = binding_limit_gpu(128 << 20).unwrap();
    let limit = gpu.limits().max_storage_buffer_binding_size as usize / 4;
    let (features, batch) = (8192, 2);
    let units = limit / features + 1;
    let g = wgcnn::graph::Sequential::new([features])
        .seed(5)
        .add(Dense::new(units))
        .build()
        .unwrap();
    let opt = Optimizer::sgd(0.5);
    let loss = Loss::SparseCategoricalCrossentropy;
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile(loss, opt).unwrap();
    let mut r = ReferenceTrainer::new(g.clone(), &[Head::new(0, loss)], opt).unwrap();
    let mut rng = Rng::new(6);
    let x = rng.vec(batch * features);
    let y = [3.0f32, (units - 1) as f32];
    // Inference: each logit sums 8,192 products and the bias.
    let got = m.predict(&x, batch).unwrap().remove(0);
    let want = r.predict(&x).unwrap().remove(0);
    let scale = want.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let eps = f64::from(f32::EPSILON);
    let (err, _) = worst(&got, &want);
    assert!(
        err <= 2.0 * (features + 1) as f64 * eps * scale.max(1.0),
        "logits: {err:e}"
    );
    // One step: the weight moves by lr·dyᵀx, each element a sum over the batch.
    m.train_on_batch(&x, &[&y]).unwrap();
    r.train_on_batch(&x, &[&y], 0).unwrap();
    for ((name, a), b) in m.parameters().unwrap().iter().zip(r.params()) {
        let (err, scale) = worst(a, &b);
        let tol = 64.0 * (features + batch) as f64 * eps * (scale + 0.5);
        assert!(err <= tol, "{name}: {err:e} > {tol:e}");
    }
}
