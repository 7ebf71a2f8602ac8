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
