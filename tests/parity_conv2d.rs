//! GPU conv2d (every kernel variant, every pass) against the f64 CPU reference on seeded
//! random cases over the whole option space, plus edge cases.

use wgcnn::ops::conv2d::winograd::WinogradConv;
use wgcnn::ops::conv2d::{self, cpu, Conv2dGeometry, Conv2dKernel, ConvPass};
use wgcnn::testing::cases::Conv2dCase;
use wgcnn::testing::{
    bound, compare, compare_with, gpu, to_f64, winograd_bounds, winograd_filter_bounds, Report, Rng,
};
use wgcnn::{ConvTuning, Gpu, Shape, Tensor};

/// The forward result's bound for `kernel`: direct convolution's from Σ|x·w| over the
/// reduction, Winograd's from its magnitudes.
fn forward_bounds<'a>(
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    direct: &'a cpu::Reference,
) -> Box<dyn Fn(usize) -> f64 + 'a> {
    match kernel {
        Conv2dKernel::Winograd(m) => {
            Box::new(winograd_bounds(&WinogradConv::forward(g, m), x, w, bias))
        }
        _ => {
            let k = g.reduction_len() + 1;
            Box::new(move |i| bound(k, direct.abs_terms[i]))
        }
    }
}

/// Counts, per option, the cases that exercised it.
fn tally<const N: usize>(seen: &mut [usize; N], hits: [bool; N]) {
    for (n, hit) in seen.iter_mut().zip(hits) {
        *n += usize::from(hit);
    }
}

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
    let k_dx = g.cog() * g.kh * g.kw;
    let k_batch = g.n * g.h_out * g.w_out;

    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    let bias = case.bias.then_some(&bd[..]);
    for kernel in Conv2dKernel::all() {
        let mut note = |what: &str, r: Report| {
            worst = worst.max(r.worst_ratio);
            failures.extend(check(what, case, kernel, &r));
        };
        if kernel.supports(&g, ConvPass::Forward) {
            let y = conv2d::conv2d_with(&x, &w, case.bias.then_some(&b), &g, kernel).unwrap();
            let bounds = forward_bounds(&g, kernel, &xd, &wd, bias, &y_ref);
            note(
                "forward",
                compare_with(&y.to_vec().unwrap(), &y_ref.values, bounds),
            );
        }
        if kernel.supports(&g, ConvPass::BackwardData) {
            let dx = conv2d::conv2d_backward_data_with(&dy, &w, &g, kernel).unwrap();
            let got = dx.to_vec().unwrap();
            let r = match kernel {
                Conv2dKernel::Winograd(m) => {
                    let c = WinogradConv::backward_data(&g, m);
                    compare_with(&got, &dx_ref.values, winograd_bounds(&c, &dyd, &wd, None))
                }
                _ => compare(&got, &dx_ref, k_dx),
            };
            note("backward_data", r);
        }
        if kernel.supports(&g, ConvPass::BackwardFilter) {
            let dw = conv2d::conv2d_backward_filter_with(&x, &dy, &g, kernel).unwrap();
            let got = dw.to_vec().unwrap();
            let r = match kernel {
                Conv2dKernel::Winograd(m) => {
                    let c = WinogradConv::backward_filter(&g, m);
                    compare_with(&got, &dw_ref.values, winograd_filter_bounds(&c, &xd, &dyd))
                }
                _ => compare(&got, &dw_ref, k_batch),
            };
            note("backward_filter", r);
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
    let gpu = gpu();
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
        tally(
            &mut seen,
            [
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
                .is_ok_and(|s| s.splits > 1),
            ],
        );
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
    let gpu = gpu();
    let mut rng = Rng::new(7);
    let mut failures = Vec::new();
    for case in Conv2dCase::edge_cases() {
        failures.extend(run_case(&gpu, &case, &mut rng).0);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fused_activations_match_the_reference() {
    use wgcnn::ops::elementwise::cpu as ew_cpu;
    use wgcnn::testing::EPS32;
    let gpu = gpu();
    let mut rng = Rng::new(0xf05e);
    let acts = wgcnn::testing::cases::ACTIVATIONS;
    let mut failures = Vec::new();
    for i in 0..80 {
        // Every other case one Winograd takes, to cover its epilogue.
        let case = match i % 2 {
            0 => Conv2dCase::random(&mut rng),
            _ => Conv2dCase::random_winograd(&mut rng),
        };
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
        let (xd, wd, bd) = (to_f64(&xs), to_f64(&ws), to_f64(&bs));
        for kernel in Conv2dKernel::all()
            .into_iter()
            .filter(|k| k.supports(&g, ConvPass::Forward))
        {
            // The conv's bound passes through f (Lipschitz ≤ 1 for these), plus exp's
            // (3 + 2|z|) ulp and a few roundings of the activation itself.
            let conv = forward_bounds(&g, kernel, &xd, &wd, case.bias.then_some(&bd[..]), &z);
            let tol = |i: usize| {
                conv(i) + (8.0 + 4.0 * z.values[i].abs()) * EPS32 * y_ref[i].abs().max(1.0)
            };
            let y = conv2d::conv2d_fused_with(&x, &w, case.bias.then_some(&b), &g, kernel, Some(f))
                .unwrap();
            let r = compare_with(&y.to_vec().unwrap(), &y_ref, tol);
            failures.extend(check(&format!("fused {f:?}"), &case, kernel, &r));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn winograd_cases_match_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0x3a3);
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    // batch 1, no bias, several GEMM rows of tiles, partial edge tiles, padding past 2 (a
    // cropped dX), valid padding
    let mut seen = [0usize; 6];
    for _ in 0..120 {
        let case = Conv2dCase::random_winograd(&mut rng);
        let g = case.geometry().unwrap();
        assert!(
            Conv2dKernel::Winograd(2).supports(&g, ConvPass::Forward),
            "{case}"
        );
        tally(
            &mut seen,
            [
                g.n == 1,
                !case.bias,
                // (and a filter gradient in several chunks)
                g.n * g.h_out.div_ceil(2) * g.w_out.div_ceil(2) > 512,
                !g.h_out.is_multiple_of(4) || !g.w_out.is_multiple_of(4),
                // a cropped dX: its padding 2 − pad is negative at the top or left
                g.pad_top.max(g.pad_left) > 2,
                g.pad_top + g.pad_bottom + g.pad_left + g.pad_right == 0,
            ],
        );
        let (f, w) = run_case(&gpu, &case, &mut rng);
        failures.extend(f);
        worst = worst.max(w);
    }
    println!("Winograd cases: worst error {worst:.3} of its bound, coverage {seen:?}");
    assert!(
        seen.iter().all(|&n| n >= 5),
        "too little coverage: {seen:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn winograd_declines_what_it_cannot_run() {
    let p = conv2d::Conv2dParams::new(3);
    let shapes = |x: [usize; 4], w: [usize; 4]| Conv2dCase {
        x: Shape::new(x),
        c_out: w[0],
        params: p,
        bias: false,
    };
    let ok = shapes([1, 4, 8, 8], [4, 4, 3, 3]).geometry().unwrap();
    for m in [2, 4] {
        assert!(Conv2dKernel::Winograd(m).supports(&ok, ConvPass::BackwardData));
        assert!(Conv2dKernel::Winograd(m).supports(&ok, ConvPass::BackwardFilter));
    }
    assert!(!Conv2dKernel::Winograd(3).supports(&ok, ConvPass::Forward));
    let strided = conv2d::Conv2dParams {
        stride: 2.into(),
        ..p
    };
    let grouped = conv2d::Conv2dParams { groups: 2, ..p };
    let dilated = conv2d::Conv2dParams {
        dilation: 2.into(),
        ..p
    };
    for q in [strided, grouped, dilated, conv2d::Conv2dParams::new(5)] {
        let c = Conv2dCase {
            params: q,
            ..shapes([1, 4, 12, 12], [4, 4, 3, 3])
        };
        let g = c.geometry().unwrap();
        assert!(
            !Conv2dKernel::Winograd(2).supports(&g, ConvPass::Forward),
            "{c}"
        );
    }
    // Transformed inputs past MAX_TEMP_BYTES: 16 · 64 · (64·64·64 tiles) · 4 bytes = 1 GiB.
    let big = shapes([64, 64, 128, 128], [64, 64, 3, 3])
        .geometry()
        .unwrap();
    assert!(!Conv2dKernel::Winograd(2).supports(&big, ConvPass::Forward));
    let gpu = gpu();
    let x = Tensor::zeros(&gpu, Shape::new([1, 4, 12, 12])).unwrap();
    let w = Tensor::zeros(&gpu, Shape::new([4, 2, 3, 3])).unwrap();
    let g = Conv2dCase {
        params: grouped,
        ..shapes([1, 4, 12, 12], [4, 4, 3, 3])
    }
    .geometry()
    .unwrap();
    assert!(conv2d::conv2d_with(&x, &w, None, &g, Conv2dKernel::Winograd(2)).is_err());

    // The workspace limit keeps a Gpu's convolutions to the direct kernels.
    let lean = Gpu::new().unwrap();
    lean.set_autotune(false);
    let vgg = shapes([8, 64, 32, 32], [64, 64, 3, 3]).geometry().unwrap();
    // Winograd, or the texture kernel before Mesa 25: both need workspace.
    let by_default = lean.conv2d_kernel(&vgg, ConvPass::Forward);
    let needs_workspace = by_default.workspace(&vgg, ConvPass::Forward) > 0;
    assert_eq!(needs_workspace, lean.is_software(), "{by_default:?}");
    lean.set_conv_workspace_limit(0);
    for pass in [
        ConvPass::Forward,
        ConvPass::BackwardData,
        ConvPass::BackwardFilter,
    ] {
        let k = lean.conv2d_kernel(&vgg, pass);
        assert_eq!(k.workspace(&vgg, pass), 0, "{k:?}");
    }
}

/// Random cases on a Gpu whose loop budget is 700 passes: every pass's reduction runs in
/// K-slices that accumulate (window rows cut into segments of taps, channels, output rows and
/// columns of the filter gradient, split sums), with every kernel and register tile
/// (gpu::loops).
#[test]
fn small_loop_budget_matches_the_reference() {
    let failures = wgcnn::testing::under_small_budget(700, |gpu| {
        let mut rng = Rng::new(0x5eed_b0d9);
        let mut bad = Vec::new();
        for i in 0..100 {
            let case = match i % 4 {
                0 => Conv2dCase::random_winograd(&mut rng),
                _ => Conv2dCase::random(&mut rng),
            };
            bad.extend(run_case(gpu, &case, &mut rng).0);
        }
        bad
    })
    .expect("a GPU test needs an adapter");
    wgcnn::testing::assert_no_failures(&failures);
}
