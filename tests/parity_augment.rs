//! GPU augmentation against its f64 reference, and its reproducibility.

use wgcnn::ops::augment::{self, cpu, AugmentParams, FillMode};
use wgcnn::testing::{gpu, to_f64, Rng};
use wgcnn::Tensor;

#[test]
fn augment_matches_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(17);
    for case in 0..60 {
        let dims = [
            rng.range(1, 4),
            rng.range(1, 3),
            rng.range(1, 13),
            rng.range(1, 13),
        ];
        let mut some = |scale: f32| match rng.chance(0.5) {
            true => rng.uniform().abs() * scale,
            false => 0.0,
        };
        let (max_angle, contrast, max_shear, brightness) =
            (some(0.5), some(0.5), some(0.6), some(0.3));
        let (th, tw, z) = (some(0.3), some(0.3), some(0.5));
        let fill = [
            FillMode::Constant(0.0),
            FillMode::Constant(0.25),
            FillMode::Nearest,
            FillMode::Reflect,
            FillMode::Wrap,
            FillMode::Mirror,
        ][case % 6];
        let p = AugmentParams {
            flip: rng.chance(0.7),
            vflip: rng.chance(0.5),
            max_shift: rng.range(0, 4),
            translate: (th, tw),
            max_angle,
            zoom: (-z * 0.6, z),
            max_shear,
            contrast,
            brightness,
            value_range: (-0.5, 0.8),
            fill,
        };
        let (seed, step) = (rng.range(0, 1000) as u32, rng.range(0, 1000) as u32);
        let xs = rng.vec(dims.iter().product());
        let x = Tensor::from_slice(&gpu, dims, &xs).unwrap();
        let y = augment::augment(&x, &p, seed, step)
            .unwrap()
            .to_vec()
            .unwrap();
        let r = cpu::forward(&to_f64(&xs), dims, &p, seed, step);
        // Bilinear sampling is continuous in its coordinates (every fill mode keeps it so): an
        // f32 rounding δ of a coordinate (≤ 8·ε32·size, size grown by the zoom and the
        // shear) moves a value by at most 2·max|x|·δ; contrast scales that by (1 + c) and
        // adds the mean's rounding; clipping only shrinks differences.
        let stretch = (1.0 + f64::from(p.zoom.1)) * (1.0 + f64::from(p.max_shear).sin());
        let size = dims[2].max(dims[3]) as f64 * stretch * 2.0;
        let max = xs.iter().map(|v| f64::from(v.abs())).fold(0.25, f64::max);
        let eps = f64::from(f32::EPSILON);
        let tol =
            (1.0 + f64::from(p.contrast)) * (2.0 * max * 8.0 * eps * size + 8.0 * eps * max) + 1e-7;
        for (i, (&a, &b)) in y.iter().zip(&r).enumerate() {
            assert!(
                (f64::from(a) - b).abs() <= tol,
                "case {case} {dims:?} {p:?}: [{i}] {a} vs {b} (tol {tol:e})"
            );
        }
    }
}

#[test]
fn draws_are_reproducible_and_plain_settings_are_exact() {
    let gpu = gpu();
    let mut rng = Rng::new(3);
    let dims = [8, 3, 6, 5];
    let xs = rng.vec(dims.iter().product());
    let x = Tensor::from_slice(&gpu, dims, &xs).unwrap();
    let none = augment::augment(&x, &AugmentParams::default(), 1, 2)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(none, xs, "no augmentation is the identity");
    let flip = AugmentParams {
        flip: true,
        ..AugmentParams::default()
    };
    let a = augment::augment(&x, &flip, 1, 2).unwrap().to_vec().unwrap();
    assert_eq!(
        a,
        augment::augment(&x, &flip, 1, 2).unwrap().to_vec().unwrap()
    );
    assert_ne!(
        a,
        augment::augment(&x, &flip, 1, 3).unwrap().to_vec().unwrap()
    );
    let (mut flipped, plane) = (0, 30);
    for img in 0..8 {
        let s = &a[img * 3 * plane..(img + 1) * 3 * plane];
        let o = &xs[img * 3 * plane..(img + 1) * 3 * plane];
        let mirrored = (0..3 * 6).all(|r| (0..5).all(|c| s[r * 5 + c] == o[r * 5 + 4 - c]));
        assert!(
            mirrored || s == o,
            "image {img} is neither kept nor mirrored exactly"
        );
        flipped += usize::from(mirrored && s != o);
    }
    assert!(flipped > 0 && flipped < 8, "{flipped} of 8 flipped");
    let bad = AugmentParams {
        contrast: 2.0,
        ..AugmentParams::default()
    };
    assert!(augment::augment(&x, &bad, 0, 0).is_err());
}

#[test]
fn fill_modes_extend_an_axis_as_keras_documents() {
    // a b c d at 0..4, read from −4 to 7.
    let ext = |f: FillMode| -> String {
        (-4..8)
            .map(|i| match cpu::fill_index(i, 4, f) {
                Some(k) => char::from(b'a' + k as u8),
                None => 'k',
            })
            .collect()
    };
    assert_eq!(ext(FillMode::Constant(0.0)), "kkkkabcdkkkk");
    assert_eq!(ext(FillMode::Nearest), "aaaaabcddddd");
    assert_eq!(ext(FillMode::Reflect), "dcbaabcddcba");
    assert_eq!(ext(FillMode::Wrap), "abcdabcdabcd");
    assert_eq!(ext(FillMode::Mirror), "cdcbabcdcbab");
    assert_eq!(cpu::fill_index(-3, 1, FillMode::Mirror), Some(0));
}

#[test]
fn zoom_vertical_flip_and_brightness_do_what_they_say() {
    let gpu = gpu();
    // One 1×5×5 image of distinct values; zoom out ×2 (z = 1) about the centre reads input
    // pixel (2 + 2·dy, 2 + 2·dx) for output (2 + dy, 2 + dx), zeros past the edge.
    let xs: Vec<f32> = (0..25).map(|v| v as f32).collect();
    let x = Tensor::from_slice(&gpu, [1, 1, 5, 5], &xs).unwrap();
    let run = |p: &AugmentParams| augment::augment(&x, p, 3, 4).unwrap().to_vec().unwrap();
    let zoomed = run(&AugmentParams {
        zoom: (1.0, 1.0),
        ..AugmentParams::default()
    });
    let want: Vec<f32> = (0..25i32)
        .map(|i| {
            let (y, x) = (2 * (i / 5) - 2, 2 * (i % 5) - 2);
            match (0..5).contains(&y) && (0..5).contains(&x) {
                true => (y * 5 + x) as f32,
                false => 0.0,
            }
        })
        .collect();
    assert_eq!(zoomed, want);
    // Over many steps a vertical flip either keeps an image or mirrors its rows exactly.
    let p = AugmentParams {
        vflip: true,
        ..AugmentParams::default()
    };
    let mut seen = [false; 2];
    for step in 0..16 {
        let y = augment::augment(&x, &p, 3, step).unwrap().to_vec().unwrap();
        let mirrored: Vec<f32> = (0..25).map(|i| xs[(4 - i / 5) * 5 + i % 5]).collect();
        assert!(y == xs || y == mirrored, "step {step}");
        seen[usize::from(y == mirrored)] = true;
    }
    assert_eq!(seen, [true, true]);
    // Brightness shifts every pixel by one amount and clips to the value range.
    let p = AugmentParams {
        brightness: 0.5,
        value_range: (0.0, 24.0),
        ..AugmentParams::default()
    };
    let y = run(&p);
    let delta = y[12] - 12.0;
    assert!(delta != 0.0 && delta.abs() <= 12.0);
    for (a, b) in y.iter().zip(&xs) {
        assert!((a - (b + delta).clamp(0.0, 24.0)).abs() < 1e-5);
    }
    for bad in [
        AugmentParams {
            zoom: (0.5, 0.2),
            ..AugmentParams::default()
        },
        AugmentParams {
            max_shear: 2.0,
            ..AugmentParams::default()
        },
        AugmentParams {
            fill: FillMode::Constant(f32::NAN),
            ..AugmentParams::default()
        },
        AugmentParams {
            value_range: (1.0, 1.0),
            brightness: 0.1,
            ..AugmentParams::default()
        },
    ] {
        assert!(augment::augment(&x, &bad, 0, 0).is_err(), "{bad:?}");
    }
}
