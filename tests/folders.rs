//! Picture folders: the resize and colour modes against pixels computed by hand, seeded
//! splits, label modes, skipping or failing on unreadable files, and a streamed folder
//! training exactly as the same pictures in memory.

use std::path::{Path, PathBuf};

use wgcnn::data::{
    load_picture, ColorMode, FolderOptions, ImageFolder, Interpolation, LabelMode, Normalize,
    OnError, PictureOptions, Resize,
};
use wgcnn::nn::{AvgPool2d, Dense, Flatten};
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{FitOptions, Loss, Model, Source, Targets};
use wgcnn::Error;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgcnn-folders-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `w × h` picture of `block × block` squares, square (i, j) coloured (10·i, 10·j, 200).
fn blocks(path: &Path, w: u32, h: u32, block: u32) {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(10 * (x / block)) as u8, (10 * (y / block)) as u8, 200])
    })
    .save(path)
    .unwrap();
}

fn nearest(size: (u32, u32), resize: Resize, color: ColorMode) -> PictureOptions {
    PictureOptions {
        size,
        resize,
        color,
        interpolation: Interpolation::Nearest,
        normalize: None,
    }
}

/// Value of channel `c` at (y, x) of a CHW sample of `h × w`.
fn at(v: &[f32], (h, w): (usize, usize), c: usize, y: usize, x: usize) -> u8 {
    (v[(c * h + y) * w + x] * 255.0).round() as u8
}

#[test]
fn resize_modes_follow_keras_geometry() {
    let d = dir("resize");
    let p = d.join("wide.png");
    // 40 × 20 of 4 × 4 blocks: 10 blocks across, 5 down.
    blocks(&p, 40, 20, 4);
    // Squash to 10 × 10: x shrinks 4×, y 2×, so each output pixel sits in block
    // (x, y / 2).
    let v = load_picture(&p, &nearest((10, 10), Resize::Squash, ColorMode::Rgb)).unwrap();
    for y in 0..10 {
        for x in 0..10 {
            assert_eq!(at(&v, (10, 10), 0, y, x), 10 * x as u8);
            assert_eq!(at(&v, (10, 10), 1, y, x), 10 * (y / 2) as u8);
            assert_eq!(at(&v, (10, 10), 2, y, x), 200);
        }
    }
    // Crop to 5 × 5 (height × width): Keras's window is the centred 20 × 20 (x 10..30),
    // shrunk 4×: output x samples block x + 3.
    let v = load_picture(&p, &nearest((5, 5), Resize::CropToAspect, ColorMode::Rgb)).unwrap();
    for y in 0..5 {
        for x in 0..5 {
            assert_eq!(at(&v, (5, 5), 0, y, x), 10 * (x + 3) as u8);
            assert_eq!(at(&v, (5, 5), 1, y, x), 10 * y as u8);
        }
    }
    // Pad to 10 × 10: shrunk 4× to 10 × 5, rows 2..7 hold it, the rest is zeros.
    let v = load_picture(&p, &nearest((10, 10), Resize::PadToAspect, ColorMode::Rgba)).unwrap();
    assert_eq!(v.len(), 4 * 100);
    for y in 0..10 {
        for x in 0..10 {
            let inside = (2..7).contains(&y);
            let want = if inside {
                [10 * x, 10 * (y - 2), 200, 255]
            } else {
                [0; 4]
            };
            for (c, w) in want.iter().enumerate() {
                assert_eq!(
                    at(&v, (10, 10), c, y, x),
                    *w as u8,
                    "({y}, {x}) channel {c}"
                );
            }
        }
    }
    // A tall target crops the picture's centre columns: the 10 × 20 window at x 15..25,
    // shrunk 5×, samples x 17 and 22 (blocks 4 and 5).
    let v = load_picture(&p, &nearest((4, 2), Resize::CropToAspect, ColorMode::Rgb)).unwrap();
    assert_eq!(v.len(), 3 * 8);
    assert_eq!((at(&v, (4, 2), 0, 0, 0), at(&v, (4, 2), 0, 0, 1)), (40, 50));
    // Grayscale is the luma of the same pixels: blue 200 alone gives round(0.0722·200).
    let v = load_picture(&p, &nearest((5, 10), Resize::Squash, ColorMode::Grayscale)).unwrap();
    assert_eq!(v.len(), 50);
    assert!(
        (i32::from(at(&v, (5, 10), 0, 0, 0)) - 14).abs() <= 1,
        "{}",
        v[0]
    );
    // The ImageNet transform at crop fraction 1/2: the shorter side to 8 (40 × 20 → 16 × 8,
    // 2.5× smaller), the centre 4 × 4 (x 6..10, y 2..6) cut, then normalised.
    let imagenet = PictureOptions {
        normalize: Some(Normalize {
            mean: vec![0.5, 0.0, 0.0],
            std: vec![0.5, 1.0, 1.0],
        }),
        ..nearest(
            (4, 4),
            Resize::ResizeThenCrop { crop_fraction: 0.5 },
            ColorMode::Rgb,
        )
    };
    let v = load_picture(&p, &imagenet).unwrap();
    for (x, red) in [40.0f32, 40.0, 50.0, 50.0].iter().enumerate() {
        assert!(
            (v[x] - (red / 255.0 - 0.5) / 0.5).abs() < 1e-6,
            "x {x}: {}",
            v[x]
        );
    }
    for (y, green) in [10u8, 20, 20, 30].iter().enumerate() {
        assert_eq!(at(&v, (4, 4), 1, y, 0), *green, "y {y}");
    }
    for bad in [
        PictureOptions {
            resize: Resize::ResizeThenCrop { crop_fraction: 0.0 },
            ..imagenet.clone()
        },
        PictureOptions {
            normalize: Some(Normalize {
                mean: vec![0.0],
                std: vec![1.0],
            }),
            ..imagenet.clone()
        },
        PictureOptions {
            normalize: Some(Normalize {
                mean: vec![0.0; 3],
                std: vec![1.0, 0.0, 1.0],
            }),
            ..imagenet.clone()
        },
    ] {
        assert!(
            matches!(load_picture(&p, &bad), Err(Error::InvalidParam { .. })),
            "{bad:?}"
        );
    }
    // A sample past 2^28 pixels, or an intermediate resize past it, is an error, not an abort.
    let huge = PictureOptions {
        size: (1 << 15, 1 << 14),
        ..PictureOptions::square(4)
    };
    assert!(matches!(
        load_picture(&p, &huge),
        Err(Error::InvalidParam { .. })
    ));
    let blow_up = PictureOptions {
        resize: Resize::ResizeThenCrop {
            crop_fraction: 1e-4,
        },
        ..PictureOptions::square(8)
    };
    assert!(matches!(
        load_picture(&p, &blow_up),
        Err(Error::InvalidParam { .. })
    ));
    let bad = PictureOptions {
        size: (0, 4),
        ..PictureOptions::square(4)
    };
    assert!(matches!(
        load_picture(&p, &bad),
        Err(Error::InvalidParam { .. })
    ));
}

/// `root/{a,b}/…` with `n` pictures each (one of them one folder down), 12 × 9 pixels.
fn two_classes(root: &Path, n: usize) {
    let mut rng = Rng::new(2);
    for (c, class) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(root.join(class).join("sub")).unwrap();
        for k in 0..n {
            let sub = if k == 0 { "sub/" } else { "" };
            image::RgbImage::from_fn(12, 9, |_, _| {
                let v = (100 * c + rng.range(0, 100)) as u8;
                image::Rgb([v, v / 2, 255 - v])
            })
            .save(root.join(format!("{class}/{sub}{k:03}.png")))
            .unwrap();
        }
    }
}

#[test]
fn splits_are_seeded_disjoint_and_complete() {
    let d = dir("split");
    two_classes(&d, 20);
    let f = ImageFolder::open(&d, &FolderOptions::new(8, 8)).unwrap();
    assert_eq!((f.len(), f.sample().dims()), (40, &[3usize, 8, 8][..]));
    assert!(f
        .files()
        .any(|(p, l)| p.ends_with("a/sub/000.png") && l == 0));
    let (t, v) = f.split(0.25, 7).unwrap();
    assert_eq!((t.len(), v.len()), (30, 10));
    let (t2, v2) = f.split(0.25, 7).unwrap();
    let paths = |s: &ImageFolder| s.files().map(|(p, _)| p.to_path_buf()).collect::<Vec<_>>();
    assert_eq!((paths(&t), paths(&v)), (paths(&t2), paths(&v2)));
    assert_ne!(
        paths(&v),
        paths(&f.split(0.25, 8).unwrap().1),
        "another seed"
    );
    let mut all = paths(&t);
    all.extend(paths(&v));
    all.sort();
    assert_eq!(all, paths(&f));
    for bad in [0.0, 1.0, -0.5, 0.01, f64::NAN] {
        assert!(f.split(bad, 1).is_err(), "fraction {bad}");
    }
    // Binary labels: one 0/1 value per sample, only for two classes.
    let opts = FolderOptions {
        labels: LabelMode::Binary,
        ..FolderOptions::new(8, 8)
    };
    let set = ImageFolder::open(&d, &opts).unwrap().load().unwrap();
    match &set.targets[0] {
        Targets::Values { data, sample } => {
            assert_eq!(sample.dims(), [1]);
            assert_eq!(data.iter().filter(|&&v| v == 1.0).count(), 20);
        }
        t => panic!("{t:?}"),
    }
    std::fs::create_dir_all(d.join("c")).unwrap();
    blocks(&d.join("c/x.png"), 4, 4, 1);
    assert!(
        ImageFolder::open(&d, &opts).is_err(),
        "binary with three classes"
    );
}

#[test]
fn unreadable_pictures_are_skipped_and_counted_or_fail() {
    let d = dir("corrupt");
    two_classes(&d, 5);
    let png = std::fs::read(d.join("a/001.png")).unwrap();
    std::fs::write(d.join("a/bad_header.png"), &png[..20]).unwrap();
    std::fs::write(d.join("b/bad_body.png"), &png[..png.len() - 13]).unwrap();
    let f = ImageFolder::open(&d, &FolderOptions::new(6, 6)).unwrap();
    assert_eq!(f.len(), 11, "the cut header is left out when listing");
    assert_eq!(f.skipped().len(), 1);
    let all: Vec<usize> = (0..f.len()).collect();
    let b = f.batch(&all).unwrap();
    assert_eq!(
        b.x.len(),
        10 * 3 * 36,
        "the cut body is left out of the batch"
    );
    assert_eq!(b.targets[0].len(), 10);
    let skipped = f.skipped();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[1].path.ends_with("b/bad_body.png"), "{skipped:?}");
    assert_eq!(f.batch(&all).unwrap().x.len(), b.x.len(), "counted once");
    assert_eq!(f.skipped().len(), 2);
    assert_eq!(f.load().unwrap().len(), 10);
    assert!(f.batch(&[11]).is_err(), "an index past the set");

    let strict = FolderOptions {
        on_error: OnError::Fail,
        ..FolderOptions::new(6, 6)
    };
    match ImageFolder::open(&d, &strict) {
        Err(Error::Format { path, .. }) => assert!(path.ends_with("a/bad_header.png")),
        r => panic!("{r:?}"),
    }
    std::fs::remove_file(d.join("a/bad_header.png")).unwrap();
    let f = ImageFolder::open(&d, &strict).unwrap();
    match f.load() {
        Err(Error::Format { path, .. }) => assert!(path.ends_with("b/bad_body.png")),
        r => panic!("{r:?}"),
    }
    // A class of nothing readable, and no classes at all, are errors.
    std::fs::create_dir_all(d.join("c")).unwrap();
    std::fs::write(d.join("c/x.jpg"), b"text").unwrap();
    assert!(ImageFolder::open(&d, &FolderOptions::new(6, 6)).is_err());
    let empty = dir("no-classes");
    assert!(ImageFolder::open(&empty, &FolderOptions::new(6, 6)).is_err());
}

#[test]
fn a_streamed_folder_trains_exactly_as_in_memory() {
    let d = dir("stream");
    two_classes(&d, 24);
    let opts = FolderOptions {
        loaders: 3,
        ..FolderOptions::new(8, 8)
    };
    let folder = ImageFolder::open(&d, &opts).unwrap();
    let (train, valid) = folder.split(0.25, 3).unwrap();
    let (mem_train, mem_valid) = (train.load().unwrap(), valid.load().unwrap());
    let gpu = gpu();
    let model = || {
        let g = wgcnn::graph::Sequential::new([3, 8, 8])
            .seed(6)
            .add(AvgPool2d::new(2))
            .add(Flatten)
            .add(Dense::new(2))
            .build()
            .unwrap();
        let mut m = Model::new(&gpu, g).unwrap();
        m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
            .unwrap();
        m
    };
    let fit = FitOptions {
        epochs: 3,
        batch_size: 5,
        ..FitOptions::default()
    };
    let (mut a, mut b) = (model(), model());
    let ha = a.fit_from(&train, Some(&valid), &fit, &mut []).unwrap();
    let hb = b.fit(&mem_train, Some(&mem_valid), &fit, |_| {}).unwrap();
    for (x, y) in ha.epochs.iter().zip(&hb.epochs) {
        assert_eq!(x.train.loss, y.train.loss);
        assert_eq!(
            x.valid.as_ref().unwrap().loss,
            y.valid.as_ref().unwrap().loss
        );
    }
    assert_eq!(a.parameters().unwrap(), b.parameters().unwrap());
    let e = a.evaluate_from(&valid, 4).unwrap();
    assert_eq!(e.loss, b.evaluate(&mem_valid, 4).unwrap().loss);
    // A folder of another size is refused before training.
    let other = ImageFolder::open(&d, &FolderOptions::new(9, 8)).unwrap();
    assert!(a.fit_from(&other, None, &fit, &mut []).is_err());
    let split = FitOptions {
        validation_split: 0.2,
        ..fit
    };
    assert!(a.fit_from(&train, None, &split, &mut []).is_err());
}
