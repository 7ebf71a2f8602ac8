//! Checkpoints: round trip, bit-exact resume, PyTorch-style files, and every kind of bad file
//! giving an `Err` that names the problem (and leaving the model as it was).

use std::path::PathBuf;

use wgcnn::models;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{Dataset, FitOptions, Loss, Model};
use wgcnn::Error;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgcnn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn data() -> Dataset {
    let mut rng = Rng::new(3);
    let n = 24;
    let x = rng.vec(n * 3 * 32 * 32);
    Dataset::classification(x, [3, 32, 32], (0..n as u32).map(|i| i % 10).collect(), 10).unwrap()
}

/// A small CIFAR ResNet (batch norm, residual adds) with dropout-free Adam training.
fn model() -> Model {
    let gpu = gpu();
    let mut m = Model::new(&gpu, models::resnet_cifar(1, 10, 7).unwrap()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-3))
        .unwrap();
    m
}

fn opts(epochs: usize, initial_epoch: usize) -> FitOptions {
    FitOptions {
        epochs,
        initial_epoch,
        batch_size: 8,
        seed: 5,
        ..FitOptions::default()
    }
}

#[test]
fn resuming_continues_to_the_same_weights_bit_for_bit() {
    let d = data();
    let mut straight = model();
    straight.fit(&d, None, &opts(2, 0), |_| ()).unwrap();

    let path = dir().join("resume.safetensors");
    let mut first = model();
    first.fit(&d, None, &opts(1, 0), |_| ()).unwrap();
    first.save(&path).unwrap();
    let mut resumed = model();
    resumed.load(&path).unwrap();
    assert_eq!(resumed.parameters().unwrap(), first.parameters().unwrap());
    assert_eq!(resumed.steps(), first.steps());
    resumed.fit(&d, None, &opts(2, 1), |_| ()).unwrap();
    assert_eq!(
        resumed.parameters().unwrap(),
        straight.parameters().unwrap()
    );
    // No temporary file is left beside the checkpoint.
    let left: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(left.is_empty());
}

#[test]
fn a_file_without_wgcnn_metadata_loads_like_a_pytorch_export() {
    let src = model();
    let params = src.parameters().unwrap();
    let shapes: Vec<Vec<usize>> = src
        .graph()
        .params()
        .iter()
        .map(|p| p.spec.shape.dims().to_vec())
        .collect();
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|(_, v)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = params
        .iter()
        .zip(&shapes)
        .zip(&bytes)
        .map(|(((n, _), s), b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let count = 3i64.to_le_bytes();
    views.push((
        "bn1.num_batches_tracked".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![], &count).unwrap(),
    ));
    let path = dir().join("torch.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let mut m = model();
    m.load(&path).unwrap();
    assert_eq!(m.parameters().unwrap(), params);
}

fn expect_format(r: wgcnn::Result<()>, needle: &str) {
    match r {
        Err(Error::Format { what, .. }) => {
            assert!(what.contains(needle), "`{what}` lacks `{needle}`")
        }
        other => panic!("expected a format error about {needle}, got {other:?}"),
    }
}

#[test]
fn bad_files_are_errors_and_change_nothing() {
    let mut m = model();
    m.fit(&data(), None, &opts(1, 0), |_| ()).unwrap();
    let path = dir().join("good.safetensors");
    m.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let before = m.parameters().unwrap();
    let bad = dir().join("bad.safetensors");

    // Cut at many lengths.
    for len in [0, 7, 8, 100, good.len() / 2, good.len() - 1] {
        std::fs::write(&bad, &good[..len]).unwrap();
        assert!(
            matches!(m.load(&bad), Err(Error::Format { .. })),
            "cut at {len}"
        );
    }
    // Flip bytes anywhere: the header no longer parses, or the checksum catches it.
    let mut rng = Rng::new(11);
    for _ in 0..40 {
        let mut f = good.clone();
        let i = rng.range(0, f.len() - 1);
        f[i] ^= 1 << rng.range(0, 7);
        std::fs::write(&bad, &f).unwrap();
        assert!(m.load(&bad).is_err(), "flipped byte {i} was accepted");
    }
    // Flip one bit of every byte of the header (its length, the tensor table and the
    // metadata, the checksum's own key included): never accepted.
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for i in 0..header {
        let mut f = good.clone();
        f[i] ^= 1 << (i % 8);
        std::fs::write(&bad, &f).unwrap();
        assert!(
            m.load(&bad).is_err(),
            "flipped header byte {i} was accepted"
        );
    }
    assert_eq!(
        m.parameters().unwrap(),
        before,
        "a failed load changed the model"
    );

    // Another architecture: the first tensor that does not fit is named.
    let gpu = gpu();
    let mut other = Model::new(&gpu, models::resnet_cifar(1, 100, 7).unwrap()).unwrap();
    expect_format(other.load(&path), "fc.weight");
    let mut lenet = Model::new(&gpu, models::lenet5(10, false, 0).unwrap()).unwrap();
    expect_format(lenet.load(&path), "conv1.weight");
    assert!(matches!(
        m.load(dir().join("missing.safetensors")),
        Err(Error::Io { .. })
    ));
}

/// A backbone under a new head (PyTorch's `strict=False`): what matches by name and shape
/// loads, the report lists what is missing and unexpected, the new head keeps its values; a
/// name with another shape is an `Err` naming it, and nothing changes.
#[test]
fn a_backbone_loads_non_strictly_under_a_new_head() {
    use wgcnn::graph::Sequential;
    use wgcnn::nn::{Activation, BatchNorm2d, Conv2d, Dense, Flatten};
    let gpu = gpu();
    let trunk = |seed| {
        Sequential::new([1, 6, 6])
            .seed(seed)
            .add(Conv2d::new(3, 3).activation(Activation::Relu))
            .add(BatchNorm2d::new())
            .add(Flatten)
    };
    let old = Model::new(&gpu, trunk(1).add(Dense::new(10)).build().unwrap()).unwrap();
    let path = dir().join("backbone.safetensors");
    old.save(&path).unwrap();
    let g = trunk(2).add_named("head", Dense::new(4)).build().unwrap();
    let mut new = Model::new(&gpu, g).unwrap();
    let head_before: Vec<_> = new.parameters().unwrap().into_iter().skip(6).collect();
    let r = new.load_non_strict(&path).unwrap();
    assert_eq!(
        r.loaded,
        [
            "conv2d_1.weight",
            "conv2d_1.bias",
            "batch_normalization_1.weight",
            "batch_normalization_1.bias",
            "batch_normalization_1.running_mean",
            "batch_normalization_1.running_var"
        ]
    );
    assert_eq!(r.missing, ["head.weight", "head.bias"]);
    assert_eq!(r.unexpected, ["dense_1.bias", "dense_1.weight"]);
    let got = new.parameters().unwrap();
    assert_eq!(got[..6], old.parameters().unwrap()[..6]);
    assert_eq!(got[6..], head_before[..]);

    // Same names, another head size: refused, naming the tensor, and the model is unchanged.
    let g = trunk(3).add(Dense::new(4)).build().unwrap();
    let mut other = Model::new(&gpu, g).unwrap();
    let before = other.parameters().unwrap();
    let e = other.load_non_strict(&path).unwrap_err().to_string();
    assert!(e.contains("dense_1.weight"), "{e}");
    assert_eq!(other.parameters().unwrap(), before);
}
