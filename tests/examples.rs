//! The picture examples run offline and produce their outputs.

use std::path::PathBuf;
use std::process::Command;

use wgcnn::models;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{example_binary as example, gpu};
use wgcnn::train::{Loss, Model};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgcnn-ex-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn filters_writes_every_picture() {
    let out = tmp("filters");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.png");
    let r = Command::new(example("filters"))
        .args([sample, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for f in [
        "vertical_lines",
        "horizontal_lines",
        "sobel_gx",
        "sobel_gy",
        "sobel_magnitude",
        "box_blur",
    ] {
        let img = image::open(out.join(format!("{f}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (160, 120), "{f}");
    }
}

#[test]
fn classify_prints_the_top_five() {
    let d = tmp("classify");
    let gpu = gpu();
    let mut m = Model::new(&gpu, models::mnist_cnn(10, 3).unwrap()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-3))
        .unwrap();
    let ck = d.join("m.safetensors");
    let classes = format!(
        "{:?}",
        (0..10).map(|i| format!("class {i}")).collect::<Vec<_>>()
    );
    m.save_with(&ck, &[("model", "mnist-cnn"), ("classes", &classes)])
        .unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.png");
    let r = Command::new(example("classify"))
        .args([sample, "--checkpoint", ck.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        text.lines().filter(|l| l.contains("%  class ")).count(),
        5,
        "{text}"
    );
    let r = Command::new(example("classify"))
        .args([sample, "--checkpoint", "/nonexistent.safetensors"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("train one first"));
}

#[test]
fn train_folder_streams_a_folder_and_counts_a_corrupt_file() {
    let d = tmp("folder");
    let root = d.join("pictures");
    let mut rng = wgcnn::testing::Rng::new(4);
    // Two classes told apart by stripe direction, pictures of several sizes.
    for (c, class) in ["horizontal", "vertical"].iter().enumerate() {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for k in 0..24u32 {
            let (w, h) = (20 + k % 5, 16 + k % 3);
            image::RgbImage::from_fn(w, h, |x, y| {
                let stripe = if c == 0 { y / 2 % 2 } else { x / 2 % 2 };
                let v = (40 + 160 * stripe + rng.range(0, 40) as u32) as u8;
                image::Rgb([v, v, v])
            })
            .save(root.join(class).join(format!("{k}.png")))
            .unwrap();
        }
    }
    std::fs::write(root.join("vertical/broken.jpg"), b"not a jpeg").unwrap();
    let out = |f: &str| d.join(f).to_str().unwrap().to_string();
    let r = Command::new(example("train_folder"))
        .args([root.to_str().unwrap(), "--size", "16", "--epochs", "1"])
        .args(["--batch-size", "8", "--save", &out("m.safetensors")])
        .args([
            "--plot",
            &out("curves.png"),
            "--confusion",
            &out("confusion.png"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        text.contains("39 training and 9 validation pictures"),
        "{text}"
    );
    assert!(text.contains("skipped 1 unreadable pictures"), "{text}");
    assert!(text.contains("broken.jpg"), "{text}");
    for f in ["m.safetensors", "curves.png", "confusion.png"] {
        assert!(d.join(f).is_file(), "{f}");
    }
    let r = Command::new(example("train_folder"))
        .args([root.to_str().unwrap(), "--strict", "--epochs", "1"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("broken.jpg"));
}
