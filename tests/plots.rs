//! The pictures: training curves, a confusion matrix and an image grid decode as PNGs of the
//! planned size with the series' colours and text in them; bad input is an `Err`.
#![cfg(feature = "plot")]

use wgcnn::train::plot::{confusion_png, grid_png, Tile};
use wgcnn::train::{EpochLog, History, Metrics};

fn metrics(loss: f64, acc: f64) -> Metrics {
    Metrics {
        loss,
        accuracy: Some(acc),
        samples: 10,
        values: vec![("loss".into(), loss), ("accuracy".into(), acc)],
    }
}

fn history(epochs: usize) -> History {
    History {
        epochs: (0..epochs)
            .map(|e| EpochLog {
                epoch: e,
                train: metrics(1.0 / (e + 1) as f64, 0.5 + 0.1 * e as f64),
                valid: Some(metrics(1.2 / (e + 1) as f64, 0.45 + 0.1 * e as f64)),
                seconds: 1.0,
                images_per_sec: 10.0,
                lr: 1e-3,
            })
            .collect(),
    }
}

fn read(path: &std::path::Path) -> image::RgbImage {
    image::open(path).expect("a PNG").to_rgb8()
}

fn has(img: &image::RgbImage, c: [u8; 3]) -> bool {
    img.pixels().any(|p| p.0 == c)
}

#[test]
fn curves_have_a_panel_per_value_and_both_series() {
    let dir = tempdir();
    for epochs in [1, 4] {
        let path = dir.join(format!("curves{epochs}.png"));
        history(epochs).plot_png(&path).unwrap();
        let img = read(&path);
        assert_eq!(img.dimensions(), (840, 340), "two panels side by side");
        assert!(has(&img, [31, 119, 180]) && has(&img, [255, 127, 14]));
        // Dark text (title, ticks, labels) somewhere.
        assert!(img.pixels().filter(|p| p.0.iter().all(|&v| v < 80)).count() > 500);
    }
    assert!(History { epochs: vec![] }
        .plot_png(&dir.join("none.png"))
        .is_err());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".png"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_confusion_matrix_shades_the_diagonal() {
    let dir = tempdir();
    let path = dir.join("confusion.png");
    let m = vec![vec![9, 1, 0], vec![2, 7, 1], vec![0, 0, 10]];
    confusion_png(&path, &m, &["cat", "dog", "bird"], "test").unwrap();
    let img = read(&path);
    // The full-share colour of the last row's diagonal cell.
    assert!(has(&img, [8, 48, 107]), "no fully shaded cell");
    assert!(confusion_png(&path, &m, &["cat", "dog"], "t").is_err());
    assert!(confusion_png(&path, &[vec![1, 2]], &["a"], "t").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_grid_draws_each_tile_normalised_or_not() {
    let dir = tempdir();
    let path = dir.join("grid.png");
    let ramp: Vec<f32> = (0..16).map(|v| v as f32 * 10.0).collect();
    let rgb = vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    let tiles = [
        Tile {
            label: "ramp".into(),
            shape: [1, 4, 4],
            data: &ramp,
        },
        Tile {
            label: "rgb".into(),
            shape: [3, 2, 2],
            data: &rgb,
        },
    ];
    grid_png(&path, &tiles, 2, 32, true, "maps").unwrap();
    let img = read(&path);
    assert!(has(&img, [0, 0, 0]) && has(&img, [255, 255, 255]));
    assert!(has(&img, [255, 0, 0]) || has(&img, [0, 255, 0]));
    let bad = [Tile {
        label: String::new(),
        shape: [2, 2, 2],
        data: &rgb[..8],
    }];
    assert!(grid_png(&path, &bad, 1, 8, false, "").is_err());
    assert!(grid_png(&path, &[], 1, 8, false, "").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wgcnn-plots-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
