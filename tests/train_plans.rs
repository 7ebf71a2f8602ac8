//! Training plans: one submit per step, profiled steps, frozen layers, determinism.

mod common;

use common::{batch, every_layer, heads};
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::Model;

#[test]
fn one_submit_per_training_step() {
    // Its own device, so other tests' submits are not counted.
    let gpu = wgcnn::Gpu::new().unwrap();
    let mut m = Model::new(&gpu, every_layer(1)).unwrap();
    m.compile_heads(&heads(), Optimizer::adam(1e-3)).unwrap();
    let mut rng = Rng::new(4);
    let (x, y, bx) = batch(&mut rng, 4);
    m.train_on_batch(&x, &[&y, &bx]).unwrap(); // compiles the plan
    gpu.sync().unwrap();
    let before = gpu.counters();
    for _ in 0..3 {
        m.train_on_batch(&x, &[&y, &bx]).unwrap();
    }
    let after = gpu.counters();
    assert_eq!(after.submits - before.submits, 3, "one submit per step");
    assert!(after.dispatches - before.dispatches >= 3 * 30);
}

#[test]
fn a_profiled_step_times_every_dispatch_and_trains() {
    let gpu = wgcnn::Gpu::new().unwrap();
    let mut m = Model::new(&gpu, every_layer(1)).unwrap();
    m.compile_heads(&heads(), Optimizer::adam(1e-3)).unwrap();
    let mut rng = Rng::new(8);
    let (x, y, bx) = batch(&mut rng, 4);
    m.train_on_batch(&x, &[&y, &bx]).unwrap();
    gpu.sync().unwrap();
    let before = (m.parameters().unwrap(), gpu.counters());
    let times = m.profile_on_batch(&x, &[&y, &bx]).unwrap();
    let after = gpu.counters();
    assert_eq!(after.submits - before.1.submits, 1, "one submit");
    assert_eq!(times.len() as u64, after.dispatches - before.1.dispatches);
    assert!(times.iter().all(|t| t.ms.is_finite() && t.ms >= 0.0));
    assert!(times.iter().map(|t| t.ms).sum::<f64>() > 0.0);
    let kernels = wgcnn::gpu::timing::by_kernel(&times);
    assert!(
        kernels.iter().any(|(k, ..)| k.starts_with("conv2d_")),
        "{kernels:?}"
    );
    assert!(
        kernels.iter().any(|(k, ..)| k.starts_with("optim::")),
        "{kernels:?}"
    );
    assert_eq!(kernels.iter().map(|k| k.2).sum::<usize>(), times.len());
    assert_ne!(m.parameters().unwrap(), before.0, "the step trained");
}

#[test]
fn frozen_layers_keep_their_weights() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, every_layer(3)).unwrap();
    m.compile_heads(&heads(), Optimizer::adamw(1e-2, 0.1))
        .unwrap();
    assert_eq!(m.set_trainable("conv2d", false).unwrap(), 4);
    assert_eq!(m.set_trainable("batch_normalization", false).unwrap(), 3);
    let before = m.parameters().unwrap();
    let mut rng = Rng::new(6);
    for _ in 0..3 {
        let (x, y, bx) = batch(&mut rng, 4);
        m.train_on_batch(&x, &[&y, &bx]).unwrap();
    }
    for ((name, a), (_, b)) in before.iter().zip(m.parameters().unwrap()) {
        let frozen = name.starts_with("conv2d") || name.starts_with("batch_normalization");
        assert_eq!(
            frozen,
            *a == b,
            "{name}: frozen {frozen}, changed {}",
            *a != b
        );
    }
    assert!(m.set_trainable("nope", false).is_err());
    // Freezing everything and thawing one layer keeps the optimiser: the layer trains.
    m.set_trainable("", false).unwrap();
    m.set_trainable("class", true).unwrap();
    let before = m.parameters().unwrap();
    let (x, y, bx) = batch(&mut rng, 4);
    m.train_on_batch(&x, &[&y, &bx]).unwrap();
    for ((name, a), (_, b)) in before.iter().zip(m.parameters().unwrap()) {
        assert_eq!(name.starts_with("class"), *a != b, "{name}");
    }
}

#[test]
fn identical_runs_give_identical_weights() {
    let gpu = gpu();
    let run = || {
        let mut m = Model::new(&gpu, every_layer(8)).unwrap();
        m.compile_heads(&heads(), Optimizer::adam(1e-2)).unwrap();
        let mut rng = Rng::new(1);
        for _ in 0..3 {
            let (x, y, bx) = batch(&mut rng, 6);
            m.train_on_batch(&x, &[&y, &bx]).unwrap();
        }
        m.parameters().unwrap()
    };
    assert_eq!(run(), run());
}
