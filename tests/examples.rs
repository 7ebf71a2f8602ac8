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

/// A ResNet-18 checkpoint with random weights, standing in for timm's `model.safetensors`.
fn resnet18_file(dir: &std::path::Path) -> PathBuf {
    let gpu = gpu();
    let m = Model::new(
        &gpu,
        models::resnet(models::ResNetDepth::R18, 64, 1000, 3).unwrap(),
    )
    .unwrap();
    let file = dir.join("resnet18.safetensors");
    m.save(&file).unwrap();
    file
}

#[test]
fn classify_runs_a_pretrained_model_from_the_cache_offline() {
    let d = tmp("classify-hub");
    let weights = std::fs::read(resnet18_file(&d)).unwrap();
    // The cache as Python's huggingface_hub leaves it.
    let commit = "fedcba9876543210fedcba9876543210fedcba98";
    let repo = d.join("cache/models--timm--resnet18.tv_in1k");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join(format!("snapshots/{commit}"))).unwrap();
    std::fs::write(repo.join("blobs/0123abcd"), weights).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/0123abcd",
        repo.join(format!("snapshots/{commit}/model.safetensors")),
    )
    .unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.png");
    let run = |cache: &std::path::Path| {
        Command::new(example("classify"))
            .args([
                sample,
                "--model",
                "resnet18",
                "--weights",
                "hub:timm/resnet18.tv_in1k",
            ])
            .env("HF_HUB_CACHE", cache)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let r = run(&d.join("cache"));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let names = wgcnn::models::pretrained::imagenet_classes();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("%  ")).collect();
    assert_eq!(lines.len(), 5, "{text}");
    for l in lines {
        let name = l.split("%  ").nth(1).unwrap();
        assert!(names.contains(&name), "{l}");
    }
    // No cache and no network: a clear error naming the file and the folder.
    let empty = d.join("empty");
    let r = run(&empty);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors")
            && err.contains(empty.to_str().unwrap()),
        "{err}"
    );
}

#[cfg(feature = "download")]
#[path = "common/hub_server.rs"]
mod hub_server;

#[cfg(feature = "download")]
#[test]
fn transfer_fine_tunes_a_backbone_downloaded_from_a_local_hub() {
    let d = tmp("transfer");
    let weights = std::fs::read(resnet18_file(&d)).unwrap();
    let (endpoint, _state) = hub_server::start(vec![hub_server::File {
        repo: "timm/resnet18.tv_in1k".into(),
        name: "model.safetensors".into(),
        bytes: weights,
        lfs: true,
    }]);
    let root = d.join("pictures");
    let mut rng = wgcnn::testing::Rng::new(8);
    for (c, class) in ["cats", "dogs"].iter().enumerate() {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for k in 0..16u32 {
            image::RgbImage::from_fn(40, 30 + k % 4, |x, y| {
                let stripe = if c == 0 { y / 3 % 2 } else { x / 3 % 2 };
                let v = (30 + 180 * stripe + rng.range(0, 40) as u32) as u8;
                image::Rgb([v, v / 2, 255 - v])
            })
            .save(root.join(class).join(format!("{k}.jpg")))
            .unwrap();
        }
    }
    let out = |f: &str| d.join(f).to_str().unwrap().to_string();
    let r = Command::new(example("transfer"))
        .args([
            root.to_str().unwrap(),
            "--model",
            "resnet18",
            "--size",
            "32",
        ])
        .args([
            "--epochs",
            "1",
            "--fine-tune-epochs",
            "1",
            "--batch-size",
            "8",
        ])
        .args([
            "--save",
            &out("t.safetensors"),
            "--plot",
            &out("curves.png"),
        ])
        .args(["--confusion", &out("confusion.png")])
        .env("HF_HUB_CACHE", d.join("cache"))
        .env("HF_ENDPOINT", &endpoint)
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(text.contains("new: head.weight, head.bias"), "{text}");
    assert!(text.contains("not used: fc.bias, fc.weight"), "{text}");
    assert!(
        text.contains("26 training and 6 validation pictures"),
        "{text}"
    );
    assert!(
        text.contains("fine-tuning") && text.contains("after fine-tuning"),
        "{text}"
    );
    for f in ["t.safetensors", "curves.png", "confusion.png"] {
        assert!(d.join(f).is_file(), "{f}");
    }
    let cached = d.join("cache/models--timm--resnet18.tv_in1k/refs/main");
    assert_eq!(std::fs::read_to_string(cached).unwrap(), hub_server::COMMIT);
}
