//! The public API around the kernels: errors on bad input, determinism, grid folding, device
//! ownership, async read-back.

use wgcnn::ops::conv2d::{self, cpu, Conv2dKernel};
use wgcnn::testing::{compare, gpu, to_f64, Rng};
use wgcnn::{conv2d, Conv2dParams, Error, Gpu, Padding, Shape, Tensor};

fn t(gpu: &Gpu, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::from_slice(gpu, Shape::new(dims), &vec![0.5; n]).unwrap()
}

fn err_text(r: wgcnn::Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got a tensor {:?}", t.shape()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_is_an_error_naming_the_value() {
    let g = gpu();
    let p = Conv2dParams::new(3);
    let x = t(&g, &[1, 4, 8, 8]);
    let w = t(&g, &[2, 4, 3, 3]);
    let cases: Vec<(wgcnn::Result<Tensor>, &str)> = vec![
        (conv2d(&t(&g, &[4, 8, 8]), &w, None, &p), "rank 4"),
        (conv2d(&x, &t(&g, &[2, 3, 3, 3]), None, &p), "[2, 3, 3, 3]"),
        (conv2d(&x, &w, None, &p.groups(3)), "groups = 3"),
        (conv2d(&x, &w, None, &p.stride(0)), "stride height = 0"),
        (
            conv2d(
                &x,
                &w,
                None,
                &Conv2dParams {
                    dilation: (1, 0).into(),
                    ..p
                },
            ),
            "dilation width = 0",
        ),
        (conv2d(&t(&g, &[1, 4, 2, 8]), &w, None, &p), "does not fit"),
        (conv2d(&x, &w, Some(&t(&g, &[3])), &p), "bias"),
        (conv2d(&x, &t(&g, &[2, 4, 5, 5]), None, &p), "[2, 4, 5, 5]"),
        (
            Tensor::from_slice(&g, Shape::new([2, 2]), &[1.0; 3]),
            "3 elements",
        ),
        (Tensor::zeros(&g, Shape::new([1 << 20, 1 << 20])), "needs"),
        (Tensor::zeros(&g, Shape::new([usize::MAX, 4])), "needs"),
        (
            conv2d::conv2d_backward_data(&t(&g, &[1, 2, 5, 5]), &w, x.shape(), &p),
            "dy",
        ),
        (
            conv2d::conv2d_backward_filter(&x, &t(&g, &[1, 2, 7, 6]), &p),
            "dy",
        ),
        (conv2d::conv2d_backward_bias(&t(&g, &[2, 6])), "rank 4"),
    ];
    for (i, (r, needle)) in cases.into_iter().enumerate() {
        let msg = err_text(r);
        assert!(
            msg.contains(needle),
            "case {i}: message `{msg}` does not mention `{needle}`"
        );
    }
    // A kernel forced onto a geometry it cannot run.
    let geom = p.resolve(x.shape(), w.shape()).unwrap();
    let msg = err_text(conv2d::conv2d_with(
        &x,
        &w,
        None,
        &geom,
        Conv2dKernel::Pointwise(conv2d::RegisterTile::ALL[0]),
    ));
    assert!(msg.contains("Pointwise"), "{msg}");
}

#[test]
fn tensors_of_two_devices_do_not_mix() {
    let a = gpu();
    let b = Gpu::new().unwrap();
    let r = conv2d(
        &t(&a, &[1, 1, 4, 4]),
        &t(&b, &[1, 1, 3, 3]),
        None,
        &Conv2dParams::new(3),
    );
    assert!(matches!(r, Err(Error::DeviceMismatch { .. })), "{r:?}");
}

#[test]
fn filter_gradient_is_bitwise_deterministic() {
    let g = gpu();
    let mut rng = Rng::new(11);
    let p = Conv2dParams::new(3).padding(Padding::Same);
    let (xs, dys) = ([8, 6, 32, 32], [8, 10, 32, 32]);
    let x = Tensor::from_slice(&g, Shape::new(xs), &rng.vec(xs.iter().product())).unwrap();
    let dy = Tensor::from_slice(&g, Shape::new(dys), &rng.vec(dys.iter().product())).unwrap();
    let first = conv2d::conv2d_backward_filter(&x, &dy, &p)
        .unwrap()
        .to_vec()
        .unwrap();
    for _ in 0..3 {
        let again = conv2d::conv2d_backward_filter(&x, &dy, &p)
            .unwrap()
            .to_vec()
            .unwrap();
        assert!(first
            .iter()
            .zip(&again)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    let db1 = conv2d::conv2d_backward_bias(&dy).unwrap().to_vec().unwrap();
    let db2 = conv2d::conv2d_backward_bias(&dy).unwrap().to_vec().unwrap();
    assert!(db1
        .iter()
        .zip(&db2)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

/// More than 65,535 workgroups along one axis: the grid folds into two dimensions.
#[test]
fn large_grids_fold() {
    let g = gpu();
    let mut rng = Rng::new(3);
    let xs = [1, 2, 1448, 1449]; // 4.2 M outputs / 64 per workgroup > 65,535
    let p = Conv2dParams::new(1).groups(2);
    let xv = rng.vec(xs.iter().product());
    let x = Tensor::from_slice(&g, Shape::new(xs), &xv).unwrap();
    let w = Tensor::from_slice(&g, Shape::new([2, 1, 1, 1]), &[0.5, -2.0]).unwrap();
    let b = Tensor::from_slice(&g, Shape::new([2]), &[0.25, 1.0]).unwrap();
    let geom = p.resolve(x.shape(), w.shape()).unwrap();
    assert_eq!(
        conv2d::choose_forward(&geom, g.adapter_info()),
        Conv2dKernel::Depthwise
    );
    let y = conv2d(&x, &w, Some(&b), &p).unwrap().to_vec().unwrap();
    let want = cpu::forward(&geom, &to_f64(&xv), &[0.5, -2.0], Some(&[0.25, 1.0]));
    let r = compare(&y, &want, 2);
    assert!(r.passed(), "{r}");
}

#[test]
fn from_wgpu_and_async_readback() {
    let (device, queue) = {
        let g = gpu();
        (g.device().clone(), g.queue().clone())
    };
    let gpu = Gpu::from_wgpu(device, queue);
    let x = Tensor::from_slice(&gpu, [1, 1, 3, 3], &[1.0; 9]).unwrap();
    let w = Tensor::from_slice(&gpu, [1, 1, 3, 3], &[2.0; 9]).unwrap();
    let y = conv2d(&x, &w, None, &Conv2dParams::new(3).padding(Padding::Same)).unwrap();
    gpu.flush().unwrap();
    let v = pollster::block_on(y.to_vec_async()).unwrap();
    assert_eq!(v, vec![8.0, 12.0, 8.0, 12.0, 18.0, 12.0, 8.0, 12.0, 8.0]);
}

#[test]
fn gpu_is_send_and_sync_and_chains_without_submitting() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Gpu>();
    assert_send_sync::<Tensor>();
    // A chain of ops is recorded and read back once; the result matches op-by-op reads.
    let g = gpu();
    let p = Conv2dParams::new(3).padding(Padding::Same);
    let x = t(&g, &[1, 2, 6, 6]);
    let w = t(&g, &[2, 2, 3, 3]);
    let chained = conv2d(&conv2d(&x, &w, None, &p).unwrap(), &w, None, &p)
        .unwrap()
        .to_vec()
        .unwrap();
    let y1 = conv2d(&x, &w, None, &p).unwrap();
    y1.to_vec().unwrap();
    let stepwise = conv2d(&y1, &w, None, &p).unwrap().to_vec().unwrap();
    assert_eq!(chained, stepwise);
}

/// A chain of ops is recorded into one encoder: one submit when the result is read.
#[test]
fn a_chain_of_ops_is_one_submit() {
    // Its own device, so no other test's submits are counted.
    let g = Gpu::new().unwrap();
    let p = Conv2dParams::new(3).padding(Padding::Same);
    let x = t(&g, &[2, 3, 9, 9]);
    let w = t(&g, &[3, 3, 3, 3]);
    let dy = t(&g, &[2, 3, 9, 9]);
    g.sync().unwrap();
    let before = g.counters();
    let y = conv2d(&conv2d(&x, &w, None, &p).unwrap(), &w, None, &p).unwrap();
    let dx = conv2d::conv2d_backward_data(&dy, &w, x.shape(), &p).unwrap();
    let dw = conv2d::conv2d_backward_filter(&x, &dy, &p).unwrap();
    let recorded = g.counters();
    assert_eq!(
        recorded.submits, before.submits,
        "recording alone submits nothing"
    );
    assert!(recorded.dispatches >= before.dispatches + 4);
    let _ = (dx, dw);
    y.to_vec().unwrap();
    assert_eq!(g.counters().submits, before.submits + 1);
}

/// Inputs found by review that once panicked or silently overflowed: each is now an error.
#[test]
fn hostile_parameters_are_errors_not_panics() {
    use wgcnn::ops::conv2d::transpose::ConvTranspose2dParams;
    use wgcnn::ops::conv2d::RegisterTile;
    use wgcnn::ops::matmul::{gpu::matmul_with, MatmulGeometry};
    use wgcnn::ops::optim::{Optimizer, OptimizerState};
    use wgcnn::ops::pool::{self, AdaptiveGeometry, Pool2dParams};
    let g = gpu();
    let x = t(&g, &[1, 1, 4, 4]);
    let w = t(&g, &[1, 1, 3, 3]);
    // Window arithmetic past 32 bits.
    let huge = Conv2dParams::new(3).dilation((1 << 30, 1));
    assert!(conv2d(&x, &w, None, &huge).is_err());
    assert!(conv2d(
        &x,
        &w,
        None,
        &Conv2dParams::new(3).padding(Padding::symmetric(1 << 40))
    )
    .is_err());
    assert!(
        AdaptiveGeometry::resolve(&Shape::new([1, 1, 1, 100_000]), (1, 50_000).into()).is_err()
    );
    // A pooling backward with an absurd input shape answers at once.
    let dy = t(&g, &[1, 1, 2, 2]);
    let (_, idx) = pool::max_pool2d(&x, &Pool2dParams::max(2)).unwrap();
    assert!(pool::max_pool2d_backward(
        &dy,
        &idx,
        &Shape::new([1, 1, 1 << 44, 2]),
        &Pool2dParams::max(2)
    )
    .is_err());
    assert!(pool::max_pool2d(&x, &Pool2dParams::max((1 << 40, 1))).is_err());
    // Hand-built geometries and tiles.
    let geom = Conv2dParams::new(3).resolve(x.shape(), w.shape()).unwrap();
    let zero_tile = Conv2dKernel::Gemm(RegisterTile { mr: 0, nr: 8 });
    assert!(conv2d::conv2d_with(&x, &w, None, &geom, zero_tile).is_err());
    let mut edited = geom;
    edited.stride.h = 0;
    assert!(conv2d::conv2d_with(
        &x,
        &w,
        None,
        &edited,
        Conv2dKernel::Gemm(RegisterTile::ALL[0])
    )
    .is_err());
    let a = t(&g, &[2, 3]);
    let bad = MatmulGeometry {
        m: 5,
        n: 3,
        k: 3,
        a_m: 3,
        a_k: 1,
        b_k: 1,
        b_n: 3,
    };
    assert!(matmul_with(&a, &a, None, &bad, RegisterTile::ALL[0]).is_err());
    // Transposed conv with a zero kernel or an empty input.
    assert!(ConvTranspose2dParams::new(0)
        .output_shape(&Shape::new([1, 1, 4, 4]), &Shape::new([1, 1, 0, 0]))
        .is_err());
    assert!(ConvTranspose2dParams::new(3)
        .output_shape(&Shape::new([1, 1, 0, 4]), &Shape::new([1, 1, 3, 3]))
        .is_err());
    // An optimiser step whose gradient is the parameter itself.
    let p = t(&g, &[4]);
    let mut state = OptimizerState::new(&g, Optimizer::sgd(0.1), 4).unwrap();
    assert!(state.step(&p, &p).is_err());
}

/// The driver and its known quirks are recorded and shown by `describe()`: gallivm before
/// Mesa 25 has the loop limit (worked around) and is slow (warned); newer drivers have none.
#[test]
fn driver_quirks_are_visible() {
    let gpu = gpu();
    let d = gpu.driver();
    let text = gpu.describe();
    println!("{text}");
    assert!(!d.name.is_empty());
    let old_gallivm = gpu.is_software()
        && gpu.adapter_info().name.contains("llvmpipe")
        && d.mesa.is_some_and(|(major, _, _)| major < 25);
    if old_gallivm {
        assert!(d.quirks.contains(&wgcnn::gpu::driver::Quirk::LoopLimit));
        assert!(
            text.contains("quirks:") && text.contains("65,535"),
            "{text}"
        );
    } else if gpu.adapter_info().backend == wgpu::Backend::Gl {
        // wgpu's GL backend has a quirk of its own on every driver.
        assert_eq!(
            d.quirks,
            vec![wgcnn::gpu::driver::Quirk::GlContextLock],
            "{text}"
        );
    } else {
        assert!(d.quirks.is_empty() && !text.contains("quirks:"), "{text}");
    }
}
