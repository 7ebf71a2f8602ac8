//! Every kernel family on a case whose longest loop, run the obvious way in one invocation,
//! would need more than 65,535 passes: Mesa 22's gallivm ends every loop of an invocation
//! once 65,535 passes have run in all (gpu/loops.rs), so without the K-slices, chunks and
//! bands these cases come out wrong there. Small in memory (the largest input is 67 MB) and
//! fast; run on every driver CI has (README: Tests).
//!
//! Not here: elementwise ops, optimisers and augmentation, whose kernels have no loop whose
//! trip count depends on a size; Winograd's transforms, whose loops have constant trip counts,
//! and its chunk sums, bounded by its 256 chunks (its GEMMs are the matmul cases').

use wgcnn::ops::conv2d::{self, cpu as conv_cpu, Conv2dKernel, RegisterTile};
use wgcnn::ops::matmul::gpu::{matmul_with_kernel, MatmulKernel};
use wgcnn::ops::matmul::{self, cpu as mm_cpu, MatmulGeometry};
use wgcnn::ops::norm::{self, cpu as bn_cpu, BatchNormParams};
use wgcnn::ops::pool::{self, cpu as pool_cpu, AdaptiveGeometry, Pool2dParams};
use wgcnn::ops::reduce::{self, gpu as reduce_gpu, ReduceOp};
use wgcnn::ops::Reference;
use wgcnn::testing::{bound, compare, compare_with, gpu, to_f64, Rng};
use wgcnn::{Conv2dParams, Error, Gpu, Padding, Shape, Tensor, HW};

/// x (or dx) shape, w shape, padding, groups, and the kernel(s) to force.
type ConvCase<K> = ([usize; 4], [usize; 4], Padding, usize, K);

/// gallivm's limit: a case must need more passes than this in one invocation.
const LIMIT: usize = 65_535;

/// Values in [0, 1): sums of them do not cancel, so a reduction cut short shows far past the
/// error bound (with signed values a cut sum of 70,000 terms can still land inside it).
fn random(gpu: &Gpu, shape: impl Into<Shape>, rng: &mut Rng) -> (Tensor, Vec<f32>) {
    let shape = shape.into();
    let v: Vec<f32> = (0..shape.numel())
        .map(|_| 0.5 + 0.5 * rng.uniform())
        .collect();
    (Tensor::from_slice(gpu, shape, &v).unwrap(), v)
}

/// A rising ramp with noise: the maximum of a window is at its end and a mean over a cut
/// channel is too small, so a loop cut short shows.
fn ramp(gpu: &Gpu, shape: impl Into<Shape>, rng: &mut Rng) -> (Tensor, Vec<f32>) {
    let shape = shape.into();
    let n = shape.numel() as f32;
    let v: Vec<f32> = (0..shape.numel())
        .map(|i| i as f32 / n + 1e-3 * rng.uniform())
        .collect();
    (Tensor::from_slice(gpu, shape, &v).unwrap(), v)
}

/// A sum of millions of terms against its f64 value, within 1e-4 of Σ|terms|: the worst-case
/// f32 bound of such a sum exceeds the value itself, while the error seen is ~1e-7 of it, and
/// the cases are sized so that a loop cut at 65,535 passes loses over 4% of the terms.
fn expect_sum(what: &str, got: f32, want: f64, abs_terms: f64) {
    let err = (f64::from(got) - want).abs();
    assert!(err <= 1e-4 * abs_terms, "{what}: {got} vs {want}");
}

fn expect(what: &str, got: &Tensor, want: &Reference, k: usize) {
    let r = compare(&got.to_vec().unwrap(), want, k);
    assert!(r.passed(), "{what}: {r}");
}

#[test]
fn matmul_and_dense_with_k_past_the_limit() {
    let gpu = gpu();
    let mut rng = Rng::new(0x100);
    let k = 70_001;
    let (a, av) = random(&gpu, [3, k], &mut rng);
    let (b, bv) = random(&gpu, [k, 2], &mut rng);
    let g = MatmulGeometry::new(a.shape(), false, b.shape(), false).unwrap();
    assert!(g.k + 1 > LIMIT);
    let want = mm_cpu::matmul(&g, &to_f64(&av), &to_f64(&bv), None);
    let tile = RegisterTile::for_adapter(gpu.adapter_info());
    let kernels = [
        MatmulKernel::Register(tile),
        MatmulKernel::Tiled,
        MatmulKernel::Texture(tile),
    ];
    for kernel in kernels {
        let c = matmul_with_kernel(&a, &b, None, &g, kernel).unwrap();
        expect(&format!("matmul {kernel:?}"), &c, &want, k);
    }
    // The case: a dense layer over 100,000 features.
    let features = 100_000;
    let (x, xv) = random(&gpu, [1, features], &mut rng);
    let (w, wv) = random(&gpu, [1, features], &mut rng);
    let y = matmul::dense(&x, &w, None).unwrap();
    let g = MatmulGeometry::new(x.shape(), false, w.shape(), true).unwrap();
    expect(
        "dense",
        &y,
        &mm_cpu::matmul(&g, &to_f64(&xv), &to_f64(&wv), None),
        features,
    );
}

#[test]
fn conv_forward_with_long_reductions() {
    let gpu = gpu();
    let mut rng = Rng::new(0x101);
    let tile = RegisterTile::for_adapter(gpu.adapter_info());
    // (x, w, padding, kernels): a 1×1 conv over 70,001 channels (the case), a 3×3
    // one over 8,000 (24,000 window rows of 5 passes), the tiled kernel over 1.08 M taps
    // (67,500 steps), Winograd over 70,001 channels (K-sliced GEMMs), a depthwise 300×300
    // window (300 rows of 302 passes).
    let cases: [ConvCase<Vec<Conv2dKernel>>; 5] = [
        (
            [1, 70_001, 1, 2],
            [2, 70_001, 1, 1],
            Padding::Valid,
            1,
            vec![Conv2dKernel::Pointwise(tile), Conv2dKernel::Gemm(tile)],
        ),
        (
            [1, 8_000, 3, 3],
            [2, 8_000, 3, 3],
            Padding::Same,
            1,
            // The textures' filter rows (72,000) pass the texture limit: the register tile.
            vec![Conv2dKernel::Gemm(tile), Conv2dKernel::Texture],
        ),
        (
            [1, 120_000, 3, 3],
            [1, 120_000, 3, 3],
            Padding::Valid,
            1,
            vec![Conv2dKernel::Tiled],
        ),
        (
            [1, 70_001, 2, 2],
            [1, 70_001, 3, 3],
            Padding::Same,
            1,
            vec![Conv2dKernel::Winograd(2)],
        ),
        (
            [1, 2, 300, 300],
            [2, 1, 300, 300],
            Padding::Valid,
            2,
            vec![Conv2dKernel::Depthwise],
        ),
    ];
    for (xs, ws, padding, groups, kernels) in cases {
        let (x, xv) = random(&gpu, xs, &mut rng);
        let (w, wv) = random(&gpu, ws, &mut rng);
        let (b, bv) = random(&gpu, [ws[0]], &mut rng);
        let p = Conv2dParams::new((ws[2], ws[3]))
            .padding(padding)
            .groups(groups);
        let g = p.resolve(x.shape(), w.shape()).unwrap();
        let want = conv_cpu::forward(&g, &to_f64(&xv), &to_f64(&wv), Some(&to_f64(&bv)));
        for kernel in kernels {
            let y = conv2d::conv2d_with(&x, &w, Some(&b), &g, kernel).unwrap();
            let got = y.to_vec().unwrap();
            let r = match kernel {
                Conv2dKernel::Winograd(m) => {
                    let c = conv2d::winograd::WinogradConv::forward(&g, m);
                    let bounds = wgcnn::testing::winograd_bounds(
                        &c,
                        &to_f64(&xv),
                        &to_f64(&wv),
                        Some(&to_f64(&bv)),
                    );
                    compare_with(&got, &want.values, bounds)
                }
                _ => compare(&got, &want, g.reduction_len() + 1),
            };
            assert!(r.passed(), "forward {kernel:?} x={xs:?} w={ws:?}: {r}");
        }
    }
}

#[test]
fn conv_input_gradient_with_long_reductions() {
    let gpu = gpu();
    let mut rng = Rng::new(0x102);
    let tile = RegisterTile::for_adapter(gpu.adapter_info());
    // 8,000 output channels × 3 window rows (Gemm), 70,001 (Winograd), a depthwise channel
    // multiplier of 35,000 (35,000 pairs of 3 passes).
    let cases: [ConvCase<Conv2dKernel>; 3] = [
        (
            [1, 1, 3, 3],
            [8_000, 1, 3, 3],
            Padding::Same,
            1,
            Conv2dKernel::Gemm(tile),
        ),
        (
            [1, 1, 2, 2],
            [70_001, 1, 3, 3],
            Padding::Same,
            1,
            Conv2dKernel::Winograd(2),
        ),
        (
            [1, 2, 1, 1],
            [70_000, 1, 1, 1],
            Padding::Valid,
            2,
            Conv2dKernel::Depthwise,
        ),
    ];
    for (xs, ws, padding, groups, kernel) in cases {
        let (w, wv) = random(&gpu, ws, &mut rng);
        let p = Conv2dParams::new((ws[2], ws[3]))
            .padding(padding)
            .groups(groups);
        let g = p.resolve(&Shape::new(xs), w.shape()).unwrap();
        let (dy, dyv) = random(&gpu, g.y_shape(), &mut rng);
        let want = conv_cpu::backward_data(&g, &to_f64(&dyv), &to_f64(&wv));
        let dx = conv2d::conv2d_backward_data_with(&dy, &w, &g, kernel).unwrap();
        let got = dx.to_vec().unwrap();
        let r = match kernel {
            Conv2dKernel::Winograd(m) => {
                let c = conv2d::winograd::WinogradConv::backward_data(&g, m);
                let bounds = wgcnn::testing::winograd_bounds(&c, &to_f64(&dyv), &to_f64(&wv), None);
                compare_with(&got, &want.values, bounds)
            }
            _ => compare(&got, &want, g.c_out / groups * g.kh * g.kw + 1),
        };
        assert!(r.passed(), "dX {kernel:?} x={xs:?} w={ws:?}: {r}");
    }
}

#[test]
fn conv_filter_and_bias_gradients_with_long_reductions() {
    let gpu = gpu();
    let mut rng = Rng::new(0x103);
    let tile = RegisterTile::for_adapter(gpu.adapter_info());
    // Output rows of 70,000 columns (the GEMM and depthwise filter gradients split columns).
    for (xs, groups, kernel) in [
        ([1, 1, 2, 70_000], 1, Conv2dKernel::Gemm(tile)),
        ([1, 2, 2, 70_000], 2, Conv2dKernel::Depthwise),
    ] {
        let (x, xv) = random(&gpu, xs, &mut rng);
        let w_shape = Shape::new([xs[1], 1, 1, 1]);
        let g = Conv2dParams::new(1)
            .groups(groups)
            .resolve(x.shape(), &w_shape)
            .unwrap();
        let (dy, dyv) = random(&gpu, g.y_shape(), &mut rng);
        let dw = conv2d::conv2d_backward_filter_with(&x, &dy, &g, kernel).unwrap();
        let want = conv_cpu::backward_filter(&g, &to_f64(&xv), &to_f64(&dyv));
        expect(&format!("dW {kernel:?}"), &dw, &want, 2 * 70_000 + 1);
    }
    // A channel of 17.6 M values: 68,906 passes for each of 256 lanes.
    let (dy, dyv) = random(&gpu, [1, 1, 4_200, 4_200], &mut rng);
    let db = conv2d::conv2d_backward_bias(&dy).unwrap().to_vec().unwrap();
    let want: f64 = to_f64(&dyv).iter().sum();
    expect_sum("db", db[0], want, want);
}

#[test]
fn reductions_past_the_limit() {
    let gpu = gpu();
    let mut rng = Rng::new(0x104);
    // One invocation per output: an axis of 70,001, its maximum late and one NaN elsewhere.
    let len = 70_001;
    let (x, xv) = random(&gpu, [2, len, 1], &mut rng);
    let view = [2, len, 1];
    let (s, _) =
        reduce_gpu::reduce_axis_with(&x, view, ReduceOp::Sum, Shape::new([2]), false).unwrap();
    let s = s.to_vec().unwrap();
    for (r, row) in xv.chunks(len).enumerate() {
        let want: f64 = to_f64(row).iter().sum();
        let abs: f64 = row.iter().map(|v| f64::from(v.abs())).sum();
        assert!(
            (f64::from(s[r]) - want).abs() <= bound(len, abs),
            "sum row {r}"
        );
    }
    let mut xv = xv;
    xv[69_999] = 5.0; // row 0's maximum, near its end
    xv[len + 12] = f32::NAN; // row 1: a NaN wins (torch.max)
    xv[len + 69_000] = f32::NAN;
    let x = Tensor::from_slice(&gpu, [2, len, 1], &xv).unwrap();
    for tree in [false, true] {
        let (m, idx) =
            reduce_gpu::reduce_axis_with(&x, view, ReduceOp::Max, Shape::new([2]), tree).unwrap();
        let (m, idx) = (m.to_vec().unwrap(), idx.unwrap().to_vec().unwrap());
        assert_eq!((m[0], idx[0]), (5.0, 69_999.0), "tree {tree}");
        assert!(
            m[1].is_nan() && idx[1] == 12.0,
            "tree {tree}: {m:?} {idx:?}"
        );
    }
    // sum_all and the tree over 17.6 M values: 68,906 passes for each of 256 lanes.
    let n = 4_200 * 4_200;
    let (big, bigv) = random(&gpu, [n], &mut rng);
    let want: f64 = to_f64(&bigv).iter().sum();
    let abs: f64 = bigv.iter().map(|v| f64::from(v.abs())).sum();
    let mut sums = vec![reduce::reduce(&big, None, ReduceOp::Sum).unwrap().0];
    sums.push(reduce_gpu::sum_all_with(&big, 1.0, false).unwrap());
    if gpu.features().contains(wgpu::Features::SUBGROUP) {
        sums.push(reduce_gpu::sum_all_with(&big, 1.0, true).unwrap());
    }
    let view = [1, n, 1];
    sums.push(
        reduce_gpu::reduce_axis_with(&big, view, ReduceOp::Sum, Shape::new([1]), true)
            .unwrap()
            .0,
    );
    for (i, s) in sums.iter().enumerate() {
        expect_sum(&format!("sum {i}"), s.to_vec().unwrap()[0], want, abs);
    }
}

#[test]
fn softmax_family_over_long_rows() {
    let gpu = gpu();
    let mut rng = Rng::new(0x105);
    // 25,000 classes: the per-row kernels would loop 75,003 passes.
    let (rows, cols) = (2, 25_000);
    assert!(3 * cols + 3 > LIMIT);
    let (x, xv) = random(&gpu, [rows, cols], &mut rng);
    let xd = to_f64(&xv);
    let tol = |want: f64| 1e-5 * want.abs().max(1e-6) + 64.0 * bound(cols, want.abs());
    let check = |what: &str, got: Vec<f32>, want: Vec<f64>| {
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() <= tol(w),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    };
    let sm = reduce::softmax(&x).unwrap().to_vec().unwrap();
    check("softmax", sm, reduce::cpu::softmax(&xd, cols, false));
    let lsm = reduce::log_softmax(&x).unwrap().to_vec().unwrap();
    check("log_softmax", lsm, reduce::cpu::softmax(&xd, cols, true));
    let targets = [7u32, 24_999];
    let (loss, grad) = reduce::softmax_cross_entropy(&x, &targets).unwrap();
    let (want_loss, want_grad) = reduce::cpu::softmax_cross_entropy(&xd, &targets, cols);
    check("xent loss", loss.to_vec().unwrap(), vec![want_loss]);
    check("xent grad", grad.to_vec().unwrap(), want_grad);
    // Row 0: the target is made the largest logit (a hit at k = 1); row 1's is the smallest.
    let mut xv = xv;
    xv[7] = 2.0;
    xv[cols + 24_999] = -2.0;
    let x = Tensor::from_slice(&gpu, [rows, cols], &xv).unwrap();
    let hits = reduce::topk_hits(&x, &targets, 1)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(hits, vec![1.0]);
    let hits = reduce::topk_hits(&x, &targets, cols)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(hits, vec![2.0]);
}

#[test]
fn batch_norm_over_long_channels() {
    let gpu = gpu();
    let mut rng = Rng::new(0x106);
    // 8 images of 1,450² per channel: two walks of 8·(8,213 + 2) passes in one workgroup.
    let dims = [8, 1, 1_450 * 1_450];
    let (x, xv) = ramp(&gpu, [8, 1, 1_450, 1_450], &mut rng);
    let (dy, dyv) = random(&gpu, x.shape().clone(), &mut rng);
    let gamma = Tensor::from_slice(&gpu, [1], &[1.5]).unwrap();
    let beta = Tensor::from_slice(&gpu, [1], &[0.25]).unwrap();
    let rm = Tensor::from_slice(&gpu, [1], &[0.0]).unwrap();
    let rv = Tensor::from_slice(&gpu, [1], &[1.0]).unwrap();
    let p = BatchNormParams {
        eps: 1e-5,
        momentum: 0.1,
        synchronized: false,
    };
    let out = norm::batch_norm_train(&x, &gamma, &beta, &rm, &rv, &p).unwrap();
    let xd = to_f64(&xv);
    let stats = bn_cpu::stats(&xd, dims);
    // Means of positive terms, checked as sums (expect_sum).
    let mean = out.batch_mean.to_vec().unwrap()[0];
    expect_sum("mean", mean, stats[0].0, stats[0].0);
    let var = out.batch_var.to_vec().unwrap()[0];
    expect_sum("var", var, stats[0].1, stats[0].1);
    let g =
        norm::batch_norm_backward_train(&dy, &x, &gamma, &out.batch_mean, &out.batch_var, p.eps)
            .unwrap();
    let (_, dgamma, dbeta) = bn_cpu::backward(&to_f64(&dyv), &xd, dims, &stats, &[1.5], 1e-5, true);
    let dy_abs: f64 = dyv.iter().map(|v| f64::from(v.abs())).sum();
    expect_sum("dbeta", g.dbeta.to_vec().unwrap()[0], dbeta[0], dy_abs);
    // dgamma = Σ dy·x̂, |x̂| ≤ √3 on a uniform ramp.
    expect_sum(
        "dgamma",
        g.dgamma.to_vec().unwrap()[0],
        dgamma[0],
        1.8 * dy_abs,
    );
}

#[test]
fn pooling_with_long_windows() {
    let gpu = gpu();
    let mut rng = Rng::new(0x107);
    // Windows of 22,000 rows × 1 column: 22,000 rows of 3 passes each way, forward (over the
    // window's taps) and backward (over the windows that hold an element).
    let (x, xv) = ramp(&gpu, [1, 1, 44_000, 1], &mut rng);
    let xd = to_f64(&xv);
    let window = HW::new(22_000, 1);
    let max = Pool2dParams::max(window).stride(1);
    let g = max.resolve(x.shape()).unwrap();
    let (y, idx) = pool::max_pool2d(&x, &max).unwrap();
    let (y_ref, idx_ref) = pool_cpu::max_forward(&g, &xd);
    assert_eq!(to_f64(&y.to_vec().unwrap()), y_ref, "max forward");
    assert_eq!(to_f64(&idx.to_vec().unwrap()), idx_ref, "max indices");
    let inference = pool::max_pool2d_inference(&x, &max).unwrap();
    assert_eq!(to_f64(&inference.to_vec().unwrap()), y_ref, "max inference");
    let (dy, dyv) = random(&gpu, g.y_shape(), &mut rng);
    let dx = pool::max_pool2d_backward(&dy, &idx, x.shape(), &max).unwrap();
    let want = pool_cpu::max_backward(&g, &to_f64(&dyv), &idx_ref);
    expect("max backward", &dx, &want, 22_001);
    let avg = Pool2dParams::avg(window).stride(1);
    let g = avg.resolve(x.shape()).unwrap();
    expect(
        "avg forward",
        &pool::avg_pool2d(&x, &avg).unwrap(),
        &pool_cpu::avg_forward(&g, &xd),
        22_001,
    );
    expect(
        "avg backward",
        &pool::avg_pool2d_backward(&dy, x.shape(), &avg).unwrap(),
        &pool_cpu::avg_backward(&g, &to_f64(&dyv)),
        22_001,
    );
    // Disjoint windows: a scatter over cells of 22,000 rows.
    let cells = Pool2dParams::max(window);
    let g = cells.resolve(x.shape()).unwrap();
    let (y, idx) = pool::max_pool2d(&x, &cells).unwrap();
    let (_, idx_ref) = pool_cpu::max_forward(&g, &xd);
    let dyv = rng.vec(y.numel());
    let dy = Tensor::from_slice(&gpu, y.shape().clone(), &dyv).unwrap();
    let dx = pool::max_pool2d_backward(&dy, &idx, x.shape(), &cells).unwrap();
    let want = pool_cpu::max_backward(&g, &to_f64(&dyv), &idx_ref);
    expect("max backward cells", &dx, &want, 1);
    // Adaptive: one window of 66,000 rows; 70,000 windows over one element.
    let (x, xv) = random(&gpu, [1, 1, 66_000, 1], &mut rng);
    let g = AdaptiveGeometry::resolve(x.shape(), HW::square(1)).unwrap();
    let y = pool::adaptive_avg_pool2d(&x, (1, 1)).unwrap();
    expect(
        "adaptive forward",
        &y,
        &pool_cpu::adaptive_forward(&g, &to_f64(&xv)),
        66_001,
    );
    let out = HW::new(70_000, 1);
    let g = AdaptiveGeometry::resolve(&Shape::new([1, 1, 1, 1]), out).unwrap();
    let (dy, dyv) = random(&gpu, g.y_shape(), &mut rng);
    let dx = pool::adaptive_avg_pool2d_backward(&dy, &Shape::new([1, 1, 1, 1])).unwrap();
    expect(
        "adaptive backward",
        &dx,
        &pool_cpu::adaptive_backward(&g, &to_f64(&dyv)),
        70_001,
    );
    // Channel-wise max over 70,000 channels.
    let (x, xv) = ramp(&gpu, [1, 70_000, 1, 1], &mut rng);
    let (y, idx) = pool::channel_max_pool(&x, 70_000).unwrap();
    let (y_ref, idx_ref) = pool_cpu::channel_max_forward(&to_f64(&xv), [1, 70_000, 1, 1], 70_000);
    assert_eq!(to_f64(&y.to_vec().unwrap()), y_ref, "channel max");
    assert_eq!(to_f64(&idx.to_vec().unwrap()), idx_ref, "channel max index");
}

/// Window rows longer than one invocation may loop are cut into segments: a conv forward (GEMM
/// and depthwise) and pooling (max, average, adaptive, forward and backward) over one row of
/// 100,000 taps, as a 1-D signal filtered or pooled whole, and the conv's dX over rows of
/// 2,000 (GEMM: 2,000 multiply-accumulate steps of at least 33 passes) and 7,000 taps
/// (depthwise: 10 passes a tap).
#[test]
fn window_rows_past_the_budget_are_cut_into_segments() {
    let gpu = gpu();
    let mut rng = Rng::new(0x108);
    let taps = 100_000;
    let tile = RegisterTile::for_adapter(gpu.adapter_info());
    for (groups, kernel, dx_taps) in [
        (1, Conv2dKernel::Gemm(tile), 2_000),
        (2, Conv2dKernel::Depthwise, 7_000),
    ] {
        let (x, xv) = random(&gpu, [1, 2, 1, taps], &mut rng);
        let (w, wv) = random(&gpu, [2, 2 / groups, 1, taps], &mut rng);
        let g = Conv2dParams::new((1, taps))
            .groups(groups)
            .resolve(x.shape(), w.shape())
            .unwrap();
        let y = conv2d::conv2d_with(&x, &w, None, &g, kernel).unwrap();
        let want = conv_cpu::forward(&g, &to_f64(&xv), &to_f64(&wv), None);
        expect(
            &format!("forward {kernel:?}"),
            &y,
            &want,
            g.reduction_len() + 1,
        );
        // dX gathers every tap for every input element: a shorter row, two outputs wide.
        let (w, wv) = random(&gpu, [2, 2 / groups, 1, dx_taps], &mut rng);
        let x_shape = Shape::new([1, 2, 1, dx_taps + 1]);
        let g = Conv2dParams::new((1, dx_taps))
            .groups(groups)
            .resolve(&x_shape, w.shape())
            .unwrap();
        let (dy, dyv) = random(&gpu, g.y_shape(), &mut rng);
        let dx = conv2d::conv2d_backward_data_with(&dy, &w, &g, kernel).unwrap();
        let want = conv_cpu::backward_data(&g, &to_f64(&dyv), &to_f64(&wv));
        expect(&format!("dX {kernel:?}"), &dx, &want, 2 * dx_taps + 1);
    }
    let (x, xv) = ramp(&gpu, [1, 1, 1, taps], &mut rng);
    let xd = to_f64(&xv);
    let (dy, dyv) = random(&gpu, [1, 1, 1, 1], &mut rng);
    let max = Pool2dParams::max((1, taps));
    let g = max.resolve(x.shape()).unwrap();
    let (y, idx) = pool::max_pool2d(&x, &max).unwrap();
    let (y_ref, idx_ref) = pool_cpu::max_forward(&g, &xd);
    assert_eq!(to_f64(&y.to_vec().unwrap()), y_ref, "max forward");
    assert_eq!(to_f64(&idx.to_vec().unwrap()), idx_ref, "max index");
    let dx = pool::max_pool2d_backward(&dy, &idx, x.shape(), &max).unwrap();
    let want = pool_cpu::max_backward(&g, &to_f64(&dyv), &idx_ref);
    expect("max backward", &dx, &want, 1);
    let avg = Pool2dParams::avg((1, taps));
    let g = avg.resolve(x.shape()).unwrap();
    expect(
        "avg forward",
        &pool::avg_pool2d(&x, &avg).unwrap(),
        &pool_cpu::avg_forward(&g, &xd),
        taps + 1,
    );
    expect(
        "avg backward",
        &pool::avg_pool2d_backward(&dy, x.shape(), &avg).unwrap(),
        &pool_cpu::avg_backward(&g, &to_f64(&dyv)),
        2,
    );
    let g = AdaptiveGeometry::resolve(x.shape(), HW::square(1)).unwrap();
    expect(
        "adaptive forward",
        &pool::adaptive_avg_pool2d(&x, (1, 1)).unwrap(),
        &pool_cpu::adaptive_forward(&g, &xd),
        taps + 1,
    );
}

/// What cannot be cut is refused: an LRN window of 40,001 channels (its backward walks the
/// window twice in one invocation).
#[test]
fn an_lrn_window_past_the_budget_is_an_error() {
    let gpu = gpu();
    let c = 40_001;
    let x = Tensor::zeros(&gpu, [1, c, 1, 1]).unwrap();
    let p = wgcnn::ops::lrn::LrnParams {
        size: c,
        ..Default::default()
    };
    match wgcnn::ops::lrn::lrn(&x, &p) {
        Err(Error::LoopBudget { passes, budget, .. }) => assert!(passes > budget),
        other => panic!("{other:?}"),
    }
}
