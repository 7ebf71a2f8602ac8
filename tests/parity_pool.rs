//! GPU pooling against the f64 CPU reference on seeded random cases (max with ties, average
//! with and without the pad, ceil mode, dilation of both, every padding kind, adaptive, global,
//! channel-wise), the same in bands under a small loop budget, and finite-difference checks of
//! the reference backward passes.

use wgcnn::ops::pool::{self, cpu, AdaptiveGeometry, Pool2dParams, PoolKind};
use wgcnn::testing::{compare, compare_with, finite_differences, gpu, to_f64, Rng};
use wgcnn::{Gpu, Padding, Shape, Tensor, HW};

/// Inputs; one case in three draws from 9 exact values so windows hold equal maxima.
fn input(rng: &mut Rng, len: usize, ties: bool) -> Vec<f32> {
    if ties {
        (0..len)
            .map(|_| rng.range(0, 8) as f32 * 0.25 - 1.0)
            .collect()
    } else {
        rng.vec(len)
    }
}

fn random_params(rng: &mut Rng, x: &Shape) -> Pool2dParams {
    loop {
        let kernel = HW::new(rng.range(1, 4), rng.range(1, 4));
        let max = rng.chance(0.5);
        let mut p = if max {
            Pool2dParams::max(kernel)
        } else {
            Pool2dParams::avg(kernel)
        };
        if !max {
            p.kind = PoolKind::Avg {
                count_include_pad: rng.chance(0.5),
            };
        }
        p = p.stride((rng.range(1, 3), rng.range(1, 3)));
        if rng.chance(0.3) {
            p = p.dilation((rng.range(1, 2), rng.range(1, 2)));
        }
        p = p.padding(match rng.range(0, 2) {
            0 => Padding::Valid,
            1 => Padding::Same,
            _ => {
                let (a, b) = (rng.range(0, kernel.h / 2), rng.range(0, kernel.w / 2));
                Padding::Explicit {
                    top: a,
                    bottom: a,
                    left: b,
                    right: b,
                }
            }
        });
        p = p.ceil_mode(rng.chance(0.3));
        if p.resolve(x).is_ok() {
            return p;
        }
    }
}

/// What the window cases covered: ties, ceil mode, overlapping windows, disjoint max
/// windows (the scatter backward), dilated averages.
type Coverage = [usize; 5];

/// `cases` random max / average poolings of planes up to `side`², against the reference.
fn window_cases(gpu: &Gpu, seed: u64, cases: usize, side: usize) -> (Vec<String>, Coverage) {
    let mut rng = Rng::new(seed);
    let mut bad = Vec::new();
    let (mut ties, mut ceil, mut overlap, mut disjoint_max, mut dilated_avg) = (0, 0, 0, 0, 0);
    for _ in 0..cases {
        let x_shape = Shape::new([
            rng.range(1, 3),
            rng.range(1, 5),
            rng.range(1, side),
            rng.range(1, side),
        ]);
        let p = random_params(&mut rng, &x_shape);
        let g = p.resolve(&x_shape).unwrap();
        let tie = rng.chance(0.33);
        ties += usize::from(tie);
        ceil += usize::from(p.ceil_mode);
        overlap += usize::from(g.stride.h < g.kernel.h || g.stride.w < g.kernel.w);
        // max_backward_cells: windows that cannot overlap, padding and gaps included.
        disjoint_max += usize::from(
            p.kind == PoolKind::Max
                && g.dilation == HW::square(1)
                && g.kernel.h <= g.stride.h
                && g.kernel.w <= g.stride.w,
        );
        dilated_avg += usize::from(p.kind != PoolKind::Max && g.dilation != HW::square(1));
        let xs = input(&mut rng, x_shape.numel(), tie);
        let dys = rng.vec(g.y_shape().numel());
        let x = Tensor::from_slice(gpu, x_shape.clone(), &xs).unwrap();
        let dy = Tensor::from_slice(gpu, g.y_shape(), &dys).unwrap();
        let case = format!("x={x_shape} {p:?}");
        let window = g.kernel.h * g.kernel.w;
        match p.kind {
            PoolKind::Max => {
                let (y, idx) = pool::max_pool2d(&x, &p).unwrap();
                let (y_ref, idx_ref) = cpu::max_forward(&g, &to_f64(&xs));
                let (y, idx) = (y.to_vec().unwrap(), idx.to_vec().unwrap());
                if to_f64(&y) != y_ref || to_f64(&idx) != idx_ref {
                    bad.push(format!("max forward differs for {case}"));
                    continue;
                }
                let y_inf = pool::max_pool2d_inference(&x, &p)
                    .unwrap()
                    .to_vec()
                    .unwrap();
                if to_f64(&y_inf) != y_ref {
                    bad.push(format!("index-free max forward differs for {case}"));
                    continue;
                }
                let dx = pool::max_pool2d_backward(
                    &dy,
                    &Tensor::from_slice(gpu, g.y_shape(), &idx).unwrap(),
                    &x_shape,
                    &p,
                );
                let r = compare(
                    &dx.unwrap().to_vec().unwrap(),
                    &cpu::max_backward(&g, &to_f64(&dys), &idx_ref),
                    window,
                );
                if !r.passed() {
                    bad.push(format!("max backward {case}: {r}"));
                }
            }
            PoolKind::Avg { .. } => {
                let y = pool::avg_pool2d(&x, &p).unwrap().to_vec().unwrap();
                let r = compare(&y, &cpu::avg_forward(&g, &to_f64(&xs)), window + 1);
                if !r.passed() {
                    bad.push(format!("avg forward {case}: {r}"));
                }
                let dx = pool::avg_pool2d_backward(&dy, &x_shape, &p)
                    .unwrap()
                    .to_vec()
                    .unwrap();
                let r = compare(&dx, &cpu::avg_backward(&g, &to_f64(&dys)), window + 1);
                if !r.passed() {
                    bad.push(format!("avg backward {case}: {r}"));
                }
            }
        }
    }
    (bad, [ties, ceil, overlap, disjoint_max, dilated_avg])
}

#[test]
fn max_and_avg_pooling_match_the_reference() {
    let (bad, [ties, ceil, overlap, disjoint_max, dilated_avg]) =
        window_cases(&gpu(), 0x9001, 250, 14);
    assert!(
        ties >= 40 && ceil >= 40 && overlap >= 40 && disjoint_max >= 20 && dilated_avg >= 15,
        "coverage: ties {ties}, ceil {ceil}, overlap {overlap}, disjoint max {disjoint_max}, \
         dilated average {dilated_avg}"
    );
    assert!(
        bad.is_empty(),
        "{} failures:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// `cases` random adaptive, global and channel-wise poolings of planes up to `side`².
fn adaptive_cases(gpu: &Gpu, seed: u64, cases: usize, side: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut bad = Vec::new();
    for i in 0..cases {
        let x_shape = Shape::new([
            rng.range(1, 3),
            rng.range(1, 6),
            rng.range(1, side),
            rng.range(1, side),
        ]);
        let d = x_shape.dims().to_vec();
        let out = if i % 4 == 0 {
            HW::square(1)
        } else {
            HW::new(rng.range(1, d[2] + 2), rng.range(1, d[3] + 2))
        };
        let g = AdaptiveGeometry::resolve(&x_shape, out).unwrap();
        let xs = rng.vec(x_shape.numel());
        let dys = rng.vec(g.y_shape().numel());
        let x = Tensor::from_slice(gpu, x_shape.clone(), &xs).unwrap();
        let dy = Tensor::from_slice(gpu, g.y_shape(), &dys).unwrap();
        let k = d[2].div_ceil(out.h) * d[3].div_ceil(out.w) + 2;
        let y = if i % 4 == 0 {
            pool::global_avg_pool2d(&x)
        } else {
            pool::adaptive_avg_pool2d(&x, out)
        };
        let r = compare(
            &y.unwrap().to_vec().unwrap(),
            &cpu::adaptive_forward(&g, &to_f64(&xs)),
            k,
        );
        if !r.passed() {
            bad.push(format!("adaptive forward x={x_shape} out={out}: {r}"));
        }
        let dx = pool::adaptive_avg_pool2d_backward(&dy, &x_shape)
            .unwrap()
            .to_vec()
            .unwrap();
        let r = compare(&dx, &cpu::adaptive_backward(&g, &to_f64(&dys)), k);
        if !r.passed() {
            bad.push(format!("adaptive backward x={x_shape} out={out}: {r}"));
        }

        // Channel-wise max over groups of `kc` channels, with ties.
        let kc = [3, 2, 1]
            .into_iter()
            .find(|&k| d[1].is_multiple_of(k))
            .unwrap();
        let xs = input(&mut rng, x_shape.numel(), true);
        let x = Tensor::from_slice(gpu, x_shape.clone(), &xs).unwrap();
        let (y, idx) = pool::channel_max_pool(&x, kc).unwrap();
        let dims = [d[0], d[1], d[2], d[3]];
        let (y_ref, idx_ref) = cpu::channel_max_forward(&to_f64(&xs), dims, kc);
        let idx_v = idx.to_vec().unwrap();
        if to_f64(&y.to_vec().unwrap()) != y_ref || to_f64(&idx_v) != idx_ref {
            bad.push(format!("channel max forward x={x_shape} k={kc}"));
            continue;
        }
        let dys = rng.vec(y_ref.len());
        let dy = Tensor::from_slice(gpu, y.shape().clone(), &dys).unwrap();
        let dx = pool::channel_max_pool_backward(&dy, &idx, &x_shape, kc)
            .unwrap()
            .to_vec()
            .unwrap();
        let want = cpu::channel_max_backward(&to_f64(&dys), &idx_ref, dims, kc);
        let r = compare_with(&dx, &want, |_| 0.0);
        if !r.passed() {
            bad.push(format!("channel max backward x={x_shape} k={kc}: {r}"));
        }
    }
    bad
}

#[test]
fn adaptive_global_and_channel_pooling_match_the_reference() {
    wgcnn::testing::assert_no_failures(&adaptive_cases(&gpu(), 0x9002, 120, 15));
}

/// The same kinds of case on a Gpu whose loop budget is the smallest allowed (16 passes), so
/// window rows, window sets and channel groups run in bands (dispatches that accumulate), and
/// rows of more than 13 columns (adaptive windows over planes up to 20 wide) in segments.
#[test]
fn pooling_in_bands_matches_the_reference() {
    let bad = wgcnn::testing::under_small_budget(16, |gpu| {
        let (mut bad, _) = window_cases(gpu, 0x9003, 120, 10);
        bad.extend(adaptive_cases(gpu, 0x9004, 60, 20));
        bad
    })
    .expect("a GPU test needs an adapter");
    wgcnn::testing::assert_no_failures(&bad);
}

/// The reference backward passes against central differences of the reference forward
/// (L = Σ y·dy). Max inputs are distinct and at least 0.01 apart, so a step of 1e-4 never
/// changes an arg-max.
#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(0x9003);
    let h = 1e-4;
    for _ in 0..40 {
        let x_shape = Shape::new([1, rng.range(1, 2), rng.range(2, 9), rng.range(2, 9)]);
        let p = random_params(&mut rng, &x_shape);
        let g = p.resolve(&x_shape).unwrap();
        let n = x_shape.numel();
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            perm.swap(i, rng.range(0, i));
        }
        let mut x: Vec<f64> = perm.iter().map(|&v| v as f64 * 0.01 - 0.5).collect();
        let dy = to_f64(&rng.vec(g.y_shape().numel()));
        let loss = |x: &[f64]| -> f64 {
            let y = match p.kind {
                PoolKind::Max => cpu::max_forward(&g, x).0,
                PoolKind::Avg { .. } => cpu::avg_forward(&g, x).values,
            };
            y.iter().zip(&dy).map(|(a, b)| a * b).sum()
        };
        let dx = match p.kind {
            PoolKind::Max => cpu::max_backward(&g, &dy, &cpu::max_forward(&g, &x).1).values,
            PoolKind::Avg { .. } => cpu::avg_backward(&g, &dy).values,
        };
        for (i, fd) in finite_differences(&mut x, h, loss).into_iter().enumerate() {
            assert!(
                (fd - dx[i]).abs() < 1e-9,
                "{p:?} x={x_shape} dx[{i}] = {} vs {fd}",
                dx[i]
            );
        }
    }
}

#[test]
fn bad_pooling_input_is_an_error() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, [1, 2, 4, 4], &[0.0; 32]).unwrap();
    let msgs = [
        pool::max_pool2d(&x, &Pool2dParams::max(5)).map(drop),
        pool::max_pool2d(&x, &Pool2dParams::max(2).stride(0)).map(drop),
        pool::avg_pool2d(&x, &Pool2dParams::avg(2).dilation(0)).map(drop),
        pool::max_pool2d(&x, &Pool2dParams::max(1).padding(Padding::symmetric(1))).map(drop),
        pool::channel_max_pool(&x, 3).map(drop),
        pool::adaptive_avg_pool2d(&x, (0, 2)).map(drop),
        pool::max_pool2d(
            &Tensor::from_slice(&gpu, [4, 4], &[0.0; 16]).unwrap(),
            &Pool2dParams::max(2),
        )
        .map(drop),
    ];
    for (i, r) in msgs.into_iter().enumerate() {
        assert!(r.is_err(), "case {i} should be an error");
    }
}

/// Max pooling keeps NaN as PyTorch: a NaN beats every number and a later NaN an earlier one
/// (`val > max || isnan(val)`), on the bits; the reference agrees; ±∞ are ordinary values.
#[test]
fn max_pooling_propagates_nan() {
    let gpu = gpu();
    let mut xs = vec![0.0f32; 16];
    xs[1] = f32::NAN; // window (0, 0): NaN at 1, and a larger number at 4
    xs[4] = 3.0;
    xs[2] = f32::NAN; // window (0, 1): NaN at 2, then another at 7 (the later wins)
    xs[7] = f32::NAN;
    xs[10] = f32::INFINITY; // window (1, 1)
    xs[8] = f32::NEG_INFINITY; // window (1, 0): the other taps are 0
    let x = Tensor::from_slice(&gpu, [1, 1, 4, 4], &xs).unwrap();
    let p = Pool2dParams::max(2);
    let g = p.resolve(x.shape()).unwrap();
    let (y, idx) = pool::max_pool2d(&x, &p).unwrap();
    let (y, idx) = (y.to_vec().unwrap(), idx.to_vec().unwrap());
    let (y_ref, idx_ref) = cpu::max_forward(&g, &to_f64(&xs));
    assert!(y[0].is_nan() && y[1].is_nan() && y_ref[0].is_nan() && y_ref[1].is_nan());
    assert_eq!((y[2], y[3]), (0.0, f32::INFINITY));
    assert_eq!(to_f64(&idx), idx_ref);
    assert_eq!(idx, vec![1.0, 7.0, 9.0, 10.0]);
    let inf = pool::max_pool2d_inference(&x, &p)
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(inf[0].is_nan() && inf[1].is_nan() && inf[3] == f32::INFINITY);
    let (yc, _) =
        pool::channel_max_pool(&x.reshape(Shape::new([1, 16, 1, 1])).unwrap(), 4).unwrap();
    let yc = yc.to_vec().unwrap();
    assert!(
        yc[0].is_nan() && yc[1].is_nan() && yc[2] == f32::INFINITY,
        "{yc:?}"
    );
}
