//! Dataset readers: valid files load; truncated, corrupt or inconsistent files are an `Err`
//! naming the file, never a panic; the training examples run end to end on files written here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use wgcnn::data::{cifar10, idx_dataset, image_folder, load_image, read_cifar_batch, read_idx};
use wgcnn::testing::{example_binary as example, Rng};
use wgcnn::Error;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgcnn-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn is_file_error(r: &Result<impl std::fmt::Debug, Error>, path: &Path) -> bool {
    match r {
        Err(Error::Format { path: p, .. }) => p == path,
        _ => false,
    }
}

#[test]
fn idx_files_load_raw_and_gzip_and_reject_damage() {
    let d = dir("idx");
    let mut rng = Rng::new(1);
    let pixels: Vec<u8> = (0..5 * 4 * 3).map(|_| rng.range(0, 255) as u8).collect();
    let images = idx(&[5, 4, 3], &pixels);
    let labels = idx(&[5], &[0, 1, 2, 9, 4]);
    let (pi, pl, pg) = (d.join("images"), d.join("labels"), d.join("images.gz"));
    std::fs::write(&pi, &images).unwrap();
    std::fs::write(&pl, &labels).unwrap();
    std::fs::write(&pg, gzip(&images)).unwrap();
    let set = idx_dataset(&pi, &pl, 10).unwrap();
    assert_eq!((set.len(), set.sample.dims()), (5, &[1usize, 4, 3][..]));
    assert_eq!(set.x[7], f32::from(pixels[7]) / 255.0);
    assert_eq!(read_idx(&pg).unwrap(), read_idx(&pi).unwrap());
    assert!(idx_dataset(&pi, &pl, 5).is_err(), "label 9 of 5 classes");

    let bad = d.join("bad");
    // Every cut of the raw file and of the gzip file.
    for len in 0..images.len() {
        std::fs::write(&bad, &images[..len]).unwrap();
        assert!(is_file_error(&read_idx(&bad), &bad), "raw cut at {len}");
    }
    let gz = gzip(&images);
    for len in 0..gz.len() {
        std::fs::write(&bad, &gz[..len]).unwrap();
        assert!(read_idx(&bad).is_err(), "gzip cut at {len}");
    }
    // Flipped bits anywhere in the gzip stream: an error (the CRC), or — where the bit is
    // padding the decoder skips — exactly the original array; never other data.
    let original = read_idx(&pi).unwrap();
    for _ in 0..200 {
        let mut f = gz.clone();
        let i = rng.range(0, f.len() - 1);
        f[i] ^= 1 << rng.range(0, 7);
        std::fs::write(&bad, &f).unwrap();
        if let Ok(a) = read_idx(&bad) {
            assert_eq!(a, original, "gzip bit flip at {i} gave other data");
        }
        let mut f = images.clone();
        let i = rng.range(0, 15);
        f[i] ^= 1 << rng.range(0, 7);
        std::fs::write(&bad, &f).unwrap();
        assert!(read_idx(&bad).is_err(), "header bit flip at {i}");
    }
    assert!(matches!(
        read_idx(&d.join("missing")),
        Err(Error::Io { .. })
    ));
}

/// `n` CIFAR records: label `i % 10`, pixels from `rng`.
fn cifar_batch(n: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push((i % 10) as u8);
        v.extend((0..3072).map(|_| rng.range(0, 255) as u8));
    }
    v
}

fn write_cifar(d: &Path, per_batch: usize) {
    let mut rng = Rng::new(2);
    let b = d.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&b).unwrap();
    for i in 1..=5 {
        std::fs::write(
            b.join(format!("data_batch_{i}.bin")),
            cifar_batch(per_batch, &mut rng),
        )
        .unwrap();
    }
    std::fs::write(b.join("test_batch.bin"), cifar_batch(per_batch, &mut rng)).unwrap();
}

#[test]
fn cifar_batches_load_and_reject_damage() {
    let d = dir("cifar");
    write_cifar(&d, 4);
    let (train, test) = cifar10(&d).unwrap();
    assert_eq!((train.len(), test.len()), (20, 4));
    assert_eq!(train.labels().unwrap()[..5], [0, 1, 2, 3, 0]);
    let file = d.join("cifar-10-batches-bin/data_batch_1.bin");
    let good = std::fs::read(&file).unwrap();
    let bad = d.join("bad.bin");
    for len in (0..good.len())
        .filter(|l| l % 3073 != 0 || *l == 0)
        .step_by(97)
    {
        std::fs::write(&bad, &good[..len]).unwrap();
        assert!(is_file_error(&read_cifar_batch(&bad), &bad), "cut at {len}");
    }
    let mut rng = Rng::new(5);
    for _ in 0..50 {
        let mut f = good.clone();
        let rec = rng.range(0, 3);
        f[rec * 3073] = rng.range(10, 255) as u8;
        std::fs::write(&bad, &f).unwrap();
        let e = read_cifar_batch(&bad).unwrap_err().to_string();
        assert!(e.contains("label") && e.contains("bad.bin"), "{e}");
    }
    let empty = dir("cifar-none");
    let e = cifar10(&empty).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_1.bin") && e.contains("cifar-10-batches-bin"),
        "{e}"
    );
}

#[test]
fn image_folders_load_and_name_bad_pictures() {
    let d = dir("folder");
    let mut rng = Rng::new(3);
    for (ci, class) in ["cats", "dogs"].iter().enumerate() {
        std::fs::create_dir_all(d.join(class)).unwrap();
        for k in 0..2 {
            let (w, h) = (20 + 7 * k as u32, 12 + 5 * ci as u32);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 9) as u8, (y * 13) as u8, rng.range(0, 255) as u8])
            });
            img.save(d.join(class).join(format!("{k}.png"))).unwrap();
        }
    }
    let (set, names) = image_folder(&d, 8).unwrap();
    assert_eq!(names, ["cats", "dogs"]);
    assert_eq!((set.len(), set.sample.dims()), (4, &[3usize, 8, 8][..]));
    assert_eq!(set.labels().unwrap(), [0, 0, 1, 1]);
    let png = std::fs::read(d.join("cats/0.png")).unwrap();
    let bad = d.join("cats/2.png");
    for len in [0, 8, 30, png.len() / 2, png.len() - 13] {
        std::fs::write(&bad, &png[..len]).unwrap();
        assert!(is_file_error(&image_folder(&d, 8), &bad), "cut at {len}");
    }
    std::fs::write(&bad, b"not a picture at all").unwrap();
    assert!(is_file_error(&load_image(&bad, 8), &bad));
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir_all(d.join("empty")).unwrap();
    assert!(image_folder(&d, 8).is_err(), "a class without pictures");
}

#[test]
fn train_cifar_runs_end_to_end_on_cifar_files() {
    let d = dir("train-cifar");
    write_cifar(&d, 12);
    let (ck, png) = (d.join("ck.safetensors"), d.join("curves.png"));
    let train = |extra: &[&str]| {
        let dir = d.to_str().unwrap();
        let common = [
            "--data-dir",
            dir,
            "--no-download",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--augment",
            "--normalize",
        ];
        Command::new(example("train_cifar"))
            .args(common)
            .args(["--plot", png.to_str().unwrap()])
            .args(extra)
            .output()
            .expect("the train_cifar example is built by cargo test")
    };
    let out = train(&["--save", ck.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("epoch 2/2") && stdout.contains("test accuracy"),
        "{stdout}"
    );
    assert!(ck.is_file() && image::open(&png).is_ok());
    // Resuming at the end trains nothing more and keeps the weights.
    let again = d.join("ck2.safetensors");
    let out = train(&[
        "--resume",
        ck.to_str().unwrap(),
        "--save",
        again.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without data (and without downloading): a clear message, exit status 1.
    let empty = dir("train-cifar-empty");
    let out = Command::new(example("train_cifar"))
        .args(["--data-dir", empty.to_str().unwrap(), "--no-download"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("CIFAR-10 not found") && err.contains("data_batch_1.bin"),
        "{err}"
    );
}
