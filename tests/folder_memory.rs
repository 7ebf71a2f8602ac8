//! A streamed picture folder trains in bounded memory: thousands of generated pictures, three
//! corrupt files skipped and counted. Alone in its test binary, so the process's peak resident
//! memory is this test's. Linux only: it reads and resets the peak through `/proc/self`.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};

use wgcnn::data::{FolderOptions, ImageFolder};
use wgcnn::nn::{AvgPool2d, Dense, Flatten};
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{FitOptions, Loss, Model, Source};

/// `VmRSS` or `VmHWM` of this process in bytes (Linux).
fn status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `n` pictures per class of 24×20 pixels, class `c` brightest in channel `c`.
fn write_pictures(root: &Path, classes: usize, n: usize) {
    let mut rng = Rng::new(9);
    for c in 0..classes {
        let dir = root.join(format!("class{c}"));
        std::fs::create_dir_all(&dir).unwrap();
        for k in 0..n {
            let img = image::RgbImage::from_fn(24, 20, |_, _| {
                let mut p = [0u8; 3];
                for (ch, v) in p.iter_mut().enumerate() {
                    let base = if ch == c { 160 } else { 40 };
                    *v = base + rng.range(0, 60) as u8;
                }
                image::Rgb(p)
            });
            img.save(dir.join(format!("{k:05}.png"))).unwrap();
        }
    }
}

#[test]
fn thousands_of_pictures_train_in_bounded_memory_and_corrupt_files_are_counted() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("wgcnn-folder-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    write_pictures(&root, 3, 1000);
    // Three corrupt files: empty, not a picture, and a PNG cut after its header (that one
    // only fails when decoded, in a batch).
    std::fs::write(root.join("class0/zz_empty.png"), b"").unwrap();
    std::fs::write(root.join("class1/zz_text.jpg"), b"no picture here").unwrap();
    let png = std::fs::read(root.join("class2/00000.png")).unwrap();
    std::fs::write(root.join("class2/zz_cut.png"), &png[..png.len() / 2]).unwrap();

    let opts = FolderOptions::new(96, 96);
    let folder = ImageFolder::open(&root, &opts).unwrap();
    assert_eq!(folder.class_names(), ["class0", "class1", "class2"]);
    assert_eq!(folder.skipped().len(), 2, "two fail at their header");
    assert_eq!(folder.len(), 3001);
    let (train, valid) = folder.split(0.2, 5).unwrap();
    assert_eq!((train.len(), valid.len()), (2401, 600));

    let gpu = gpu();
    let g = wgcnn::graph::Sequential::new([3, 96, 96])
        .seed(1)
        .add(AvgPool2d::new(8))
        .add(Flatten)
        .add(Dense::new(3))
        .build()
        .unwrap();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(3e-2))
        .unwrap();
    let fit = FitOptions {
        epochs: 1,
        batch_size: 64,
        ..FitOptions::default()
    };
    // A first short run makes the plans and pipelines; the peak is measured from after it.
    let (warm, _) = train.split(0.9, 1).unwrap();
    m.fit_from(&warm, None, &fit, &mut []).unwrap();
    // Writing 5 to clear_refs resets VmHWM to the current resident size (Linux ≥ 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    let before = status_bytes("VmRSS:").unwrap();

    let fit = FitOptions { epochs: 2, ..fit };
    let h = m.fit_from(&train, Some(&valid), &fit, &mut []).unwrap();
    let acc = h.epochs[1].valid.as_ref().unwrap().accuracy.unwrap();
    assert!(acc > 0.95, "validation accuracy {acc}");

    let skipped = folder.skipped();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped
        .iter()
        .any(|s| s.path.ends_with("class2/zz_cut.png")));

    // In memory the set would be 3001 × 3 × 96 × 96 floats; streamed, only the batches in
    // flight (at most 2 per loader thread and one training) and the extra plans of the odd
    // batch sizes are added to what the warm-up left.
    let whole = 3001 * 3 * 96 * 96 * 4;
    let grew = status_bytes("VmHWM:").unwrap().saturating_sub(before);
    eprintln!(
        "peak grew by {} MiB; the set is {} MiB",
        grew >> 20,
        whole >> 20
    );
    assert!(grew < whole / 3, "peak grew by {grew} bytes");
    std::fs::remove_dir_all(&root).unwrap();
}
