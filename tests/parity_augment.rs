//! GPU augmentation against its f64 reference, and its reproducibility.

use wgcnn::ops::augment::{self, cpu, AugmentParams};
use wgcnn::testing::{gpu, to_f64, Rng};
use wgcnn::Tensor;

#[test]
fn augment_matches_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(17);
    for case in 0..40 {
        let dims = [
            rng.range(1, 4),
            rng.range(1, 3),
            rng.range(1, 13),
            rng.range(1, 13),
        ];
        let p = AugmentParams {
            flip: rng.chance(0.7),
            max_shift: rng.range(0, 4),
            max_angle: if rng.chance(0.5) {
                rng.uniform().abs() * 0.5
            } else {
                0.0
            },
            contrast: if rng.chance(0.5) {
                rng.uniform().abs() * 0.5
            } else {
                0.0
            },
        };
        let (seed, step) = (rng.range(0, 1000) as u32, rng.range(0, 1000) as u32);
        let xs = rng.vec(dims.iter().product());
        let x = Tensor::from_slice(&gpu, dims, &xs).unwrap();
        let y = augment::augment(&x, &p, seed, step)
            .unwrap()
            .to_vec()
            .unwrap();
        let r = cpu::forward(&to_f64(&xs), dims, &p, seed, step);
        // Bilinear sampling is continuous in its coordinates: an f32 rounding δ of a
        // coordinate (≤ 8·ε32·size) moves a value by at most 2·max|x|·δ; contrast scales that
        // by (1 + c) and adds the mean's rounding.
        let size = dims[2].max(dims[3]) as f64;
        let max = xs.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max);
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
