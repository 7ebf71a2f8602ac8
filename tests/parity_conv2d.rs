//! GPU conv2d (every kernel variant, every pass) against the f64 CPU reference on seeded
//! random cases over the whole option space, plus edge cases.

use wgcnn::ops::conv2d::{self, cpu, Conv2dGeometry, Conv2dKernel};
use wgcnn::testing::cases::Conv2dCase;
use wgcnn::testing::{compare, shared_gpu, to_f64, Report, Rng};
use wgcnn::{Gpu, Shape, Tensor};

fn check(
    what: &str,
    case: &Conv2dCase,
    kernel: impl std::fmt::Debug,
    r: &Report,
) -> Option<String> {
    (!r.passed()).then(|| format!("{what} {kernel:?} failed for {case}: {r}"))
}

/// Runs every pass with every kernel that supports the case; returns the failures and the
/// worst error ratio seen.
fn run_case(gpu: &Gpu, case: &Conv2dCase, rng: &mut Rng) -> (Vec<String>, f64) {
    let g: Conv2dGeometry = case.geometry().expect("random cases resolve");
    let xs = rng.vec(g.x_shape().numel());
    let ws = rng.vec(g.w_shape().numel());
    let bs = rng.vec(g.c_out);
    let dys = rng.vec(g.y_shape().numel());
    let x = Tensor::from_slice(gpu, g.x_shape(), &xs).unwrap();
    let w = Tensor::from_slice(gpu, g.w_shape(), &ws).unwrap();
    let b = Tensor::from_slice(gpu, Shape::new([g.c_out]), &bs).unwrap();
    let dy = Tensor::from_slice(gpu, g.y_shape(), &dys).unwrap();
    let (xd, wd, bd, dyd) = (to_f64(&xs), to_f64(&ws), to_f64(&bs), to_f64(&dys));

    let y_ref = cpu::forward(&g, &xd, &wd, case.bias.then_some(&bd[..]));
    let dx_ref = cpu::backward_data(&g, &dyd, &wd);
    let dw_ref = cpu::backward_filter(&g, &xd, &dyd);
    let db_ref = cpu::backward_bias(&g, &dyd);
    let k_fwd = g.reduction_len() + 1;
    let k_dx = g.cog() * g.kh * g.kw;
    let k_batch = g.n * g.h_out * g.w_out;

    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    for kernel in Conv2dKernel::all() {
        let mut note = |what: &str, r: Report| {
            worst = worst.max(r.worst_ratio);
            failures.extend(check(what, case, kernel, &r));
        };
        if kernel.supports(&g, true) {
            let y = conv2d::conv2d_with(&x, &w, case.bias.then_some(&b), &g, kernel).unwrap();
            note("forward", compare(&y.to_vec().unwrap(), &y_ref, k_fwd));
        }
        if kernel.supports(&g, false) {
            let dx = conv2d::conv2d_backward_data_with(&dy, &w, &g, kernel).unwrap();
            note(
                "backward_data",
                compare(&dx.to_vec().unwrap(), &dx_ref, k_dx),
            );
            let dw = conv2d::conv2d_backward_filter_with(&x, &dy, &g, kernel).unwrap();
            note(
                "backward_filter",
                compare(&dw.to_vec().unwrap(), &dw_ref, k_batch),
            );
        }
    }
    let db = conv2d::conv2d_backward_bias(&dy).unwrap();
    let r = compare(&db.to_vec().unwrap(), &db_ref, k_batch);
    worst = worst.max(r.worst_ratio);
    failures.extend(check("backward_bias", case, "tree reduction", &r));
    (failures, worst)
}

#[test]
fn random_cases_match_the_reference() {
    let gpu = shared_gpu().expect("a GPU test needs an adapter (install mesa-vulkan-drivers)");
    let mut rng = Rng::new(0x5eed_c0de);
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    // depthwise, grouped, stride>1, dilation>1, batch 1, bias off, >1 channel tile,
    // >1 pixel block, split filter gradient
    let mut seen = [0usize; 9];
    let cases = 400;
    for _ in 0..cases {
        let case = Conv2dCase::random(&mut rng);
        let g = case.geometry().unwrap();
        for (i, hit) in [
            g.is_depthwise(),
            g.groups > 1 && !g.is_depthwise(),
            g.stride.h > 1 || g.stride.w > 1,
            g.dilation.h > 1 || g.dilation.w > 1,
            g.n == 1,
            !case.bias,
            g.cog() > 16 || g.cg() > 16,
            g.n * g.h_out * g.w_out > 512,
            conv2d::gpu::filter_splits(
                &g,
                conv2d::choose_backward_filter(&g, gpu.adapter_info()),
                &gpu,
            )
            .0 > 1,
        ]
        .into_iter()
        .enumerate()
        {
            seen[i] += usize::from(hit);
        }
        let (f, w) = run_case(&gpu, &case, &mut rng);
        failures.extend(f);
        worst = worst.max(w);
    }
    println!("{cases} random cases, worst error {worst:.3} of its bound, coverage {seen:?}");
    assert!(
        seen.iter().all(|&n| n >= 10),
        "too little coverage of some option: {seen:?}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn edge_cases_match_the_reference() {
    let gpu = shared_gpu().expect("a GPU test needs an adapter");
    let mut rng = Rng::new(7);
    let mut failures = Vec::new();
    for case in Conv2dCase::edge_cases() {
        failures.extend(run_case(&gpu, &case, &mut rng).0);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fused_activations_match_the_reference() {
    use wgcnn::ops::elementwise::{cpu as ew_cpu, Activation};
    use wgcnn::testing::{compare_with, EPS32};
    let gpu = shared_gpu().unwrap();
    let mut rng = Rng::new(0xf05e);
    let acts = [
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Elu(1.0),
        Activation::Tanh,
        Activation::Sigmoid,
    ];
    let mut failures = Vec::new();
    for i in 0..60 {
        let case = Conv2dCase::random(&mut rng);
        let f = acts[i % acts.len()];
        let g = case.geometry().expect("random cases resolve");
        let xs = rng.vec(g.x_shape().numel());
        let ws = rng.vec(g.w_shape().numel());
        let bs = rng.vec(g.c_out);
        let x = Tensor::from_slice(&gpu, g.x_shape(), &xs).unwrap();
        let w = Tensor::from_slice(&gpu, g.w_shape(), &ws).unwrap();
        let b = Tensor::from_slice(&gpu, Shape::new([g.c_out]), &bs).unwrap();
        let z = cpu::forward(
            &g,
            &to_f64(&xs),
            &to_f64(&ws),
            case.bias.then_some(&to_f64(&bs)[..]),
        );
        let y_ref: Vec<f64> = z.values.iter().map(|&v| ew_cpu::activation(v, f)).collect();
        let k = g.reduction_len() + 1;
        // The conv's bound passes through f (Lipschitz ≤ 1 for these), plus exp's
        // (3 + 2|z|) ulp and a few roundings of the activation itself.
        let tol = |i: usize| {
            wgcnn::testing::bound(k, z.abs_terms[i])
                + (8.0 + 4.0 * z.values[i].abs()) * EPS32 * y_ref[i].abs().max(1.0)
        };
        for kernel in Conv2dKernel::all()
            .into_iter()
            .filter(|k| k.supports(&g, true))
        {
            let y = conv2d::conv2d_fused_with(&x, &w, case.bias.then_some(&b), &g, kernel, Some(f))
                .unwrap();
            let r = compare_with(&y.to_vec().unwrap(), &y_ref, tol);
            failures.extend(check(&format!("fused {f:?}"), &case, kernel, &r));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
