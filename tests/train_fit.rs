//! `fit` end to end: learning a separable set, bad batches, NaN stopping training, refused
//! datasets.

mod common;

use common::{batch, every_layer, halves, heads, small_cnn};
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{Dataset, FitOptions, Head, Loss, Model, Targets};

#[test]
fn a_separable_set_is_learned_completely() {
    let gpu = gpu();
    let g = wgcnn::graph::Sequential::new([2, 8, 8])
        .seed(4)
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dense::new(2))
        .build()
        .unwrap();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
        .unwrap();
    let (train, test) = (halves(64, 1), halves(32, 2));
    let opts = FitOptions {
        epochs: 8,
        batch_size: 16,
        log_every: 2,
        ..FitOptions::default()
    };
    let mut steps = 0;
    let h = m
        .fit(&train, Some(&test), &opts, |e| {
            if let wgcnn::train::Event::Step(s) = e {
                assert!(s.loss.is_finite() && s.images_per_sec > 0.0);
                steps += 1;
            }
        })
        .unwrap();
    assert_eq!(
        steps, 8,
        "a step report every 2 of 4 steps, but not at the epoch's end"
    );
    let last = h.epochs.last().unwrap();
    assert!(last.train.loss < h.epochs[0].train.loss);
    assert_eq!(m.evaluate(&test, 7).unwrap().accuracy, Some(1.0));
    assert_eq!(last.valid.as_ref().unwrap().accuracy, Some(1.0));
}

#[test]
fn bad_batches_are_errors() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, every_layer(1)).unwrap();
    let (x, y, bx) = batch(&mut Rng::new(1), 2);
    assert!(m.train_on_batch(&x, &[&y, &bx]).is_err(), "not compiled");
    m.compile_heads(&heads(), Optimizer::sgd(0.1)).unwrap();
    assert!(m.train_on_batch(&x[1..], &[&y, &bx]).is_err());
    assert!(m.train_on_batch(&x, &[&y]).is_err());
    assert!(
        m.train_on_batch(&x, &[&[0.0, 3.0], &bx]).is_err(),
        "label 3 of 3 classes"
    );
    assert!(
        m.train_on_batch(&x, &[&[0.0, 0.5], &bx]).is_err(),
        "fractional label"
    );
    assert!(m.predict(&x, 0).is_err());
    assert!(m
        .compile_heads(&[Head::new(2, Loss::MeanSquaredError)], Optimizer::sgd(0.1))
        .is_err());
    let t = Targets::Classes {
        labels: vec![0, 5],
        classes: 3,
    };
    assert!(Dataset::new(x.clone(), [4, 11, 9], vec![t]).is_err());
    assert!(Dataset::classification(x, [4, 11, 8], vec![0, 1], 3).is_err());
}

/// One NaN weight in the first conv reaches the loss through ReLU and max-pool (both keep
/// NaN, as PyTorch) and stops `fit` at the first step; with TerminateOnNaN off it trains on.
#[test]
fn a_nan_weight_stops_fit_at_the_first_step() {
    let gpu = gpu();
    let mut g = small_cnn(5);
    g.params_mut()[0].data[4] = f32::NAN;
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let train = halves(64, 3);
    let opts = FitOptions {
        epochs: 3,
        initial_epoch: 1,
        batch_size: 16,
        ..FitOptions::default()
    };
    match m.fit(&train, None, &opts, |_| {}) {
        Err(wgcnn::Error::NonFiniteLoss { epoch, step, loss }) => {
            assert_eq!((epoch, step), (1, 1));
            assert!(loss.is_nan(), "{loss}");
        }
        other => panic!("{other:?}"),
    }
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let opts = FitOptions {
        terminate_on_nan: false,
        ..opts
    };
    let h = m.fit(&train, None, &opts, |_| {}).unwrap();
    assert_eq!(h.epochs.len(), 2);
    assert!(h.epochs.iter().all(|e| e.train.loss.is_nan()));
}

/// A learning rate that jumps to 5e33 at step 40 makes the activations overflow right after:
/// `fit` names the same step that a run logging every step sees first, past the first
/// windows of its periodic checks.
#[test]
fn a_diverging_run_stops_at_the_first_non_finite_step() {
    let gpu = gpu();
    let train = halves(1120, 6);
    let model = || {
        let mut m = Model::new(&gpu, small_cnn(7)).unwrap();
        m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.05))
            .unwrap();
        m.set_schedule(wgcnn::train::Schedule::Step {
            every: 40,
            gamma: 1e35,
        });
        m
    };
    let opts = FitOptions {
        epochs: 1,
        batch_size: 16,
        shuffle: false,
        ..FitOptions::default()
    };
    let mut first = None;
    let logged = FitOptions {
        log_every: 1,
        terminate_on_nan: false,
        ..opts.clone()
    };
    model()
        .fit(&train, None, &logged, |e| {
            if let wgcnn::train::Event::Step(s) = e {
                if !s.loss.is_finite() && first.is_none() {
                    first = Some(s.step);
                }
            }
        })
        .unwrap();
    let first = first.expect("the run diverges within its 70 steps");
    assert!(first > 40, "step {first}");
    match model().fit(&train, None, &opts, |_| {}) {
        Err(wgcnn::Error::NonFiniteLoss { epoch, step, .. }) => {
            assert_eq!((epoch, step), (0, first))
        }
        other => panic!("{other:?}"),
    }
}

/// Datasets with no sample or a non-finite value are refused, naming the sample.
#[test]
fn empty_and_non_finite_datasets_are_errors() {
    assert!(Dataset::classification(Vec::new(), [2, 8, 8], Vec::new(), 2).is_err());
    let mut x = vec![0.5; 3 * 128];
    x[128 + 7] = f32::NAN;
    let e = Dataset::classification(x.clone(), [2, 8, 8], vec![0, 1, 0], 2).unwrap_err();
    assert!(e.to_string().contains("sample 1"), "{e}");
    x[128 + 7] = f32::INFINITY;
    assert!(Dataset::classification(x, [2, 8, 8], vec![0, 1, 0], 2).is_err());
    let t = Targets::Values {
        data: vec![0.0, f32::NEG_INFINITY, 1.0],
        sample: [1].into(),
    };
    let e = Dataset::new(vec![0.5; 3 * 128], [2, 8, 8], vec![t]).unwrap_err();
    assert!(e.to_string().contains("sample 1 of head 0"), "{e}");
    // A dataset built field by field still meets the check in fit.
    let gpu = gpu();
    let mut m = Model::new(&gpu, small_cnn(8)).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let mut bad = halves(4, 9);
    bad.x[3] = f32::NAN;
    let r = m.fit(&bad, None, &FitOptions::default(), |_| {});
    assert!(r.is_err_and(|e| e.to_string().contains("sample 0")));
}

/// Synchronised batch norm in one process is batch norm (nothing to exchange), and like it
/// refuses a batch with one value per channel, which only a data-parallel step could fill.
#[test]
fn synchronized_batch_norm_alone_is_batch_norm() {
    let gpu = gpu();
    let run = |sync: bool, data: &Dataset, batch: usize| {
        let g = wgcnn::graph::Sequential::new([2, 8, 8])
            .seed(3)
            .add(Conv2d::new(4, 3))
            .add(BatchNorm2d::new().synchronized(sync))
            .add(Flatten)
            .add(Dense::new(6))
            .add(BatchNorm1d::new().synchronized(sync))
            .add(Dense::new(2))
            .build()
            .unwrap();
        let mut m = Model::new(&gpu, g).unwrap();
        m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
            .unwrap();
        let opts = FitOptions {
            epochs: 2,
            batch_size: batch,
            ..FitOptions::default()
        };
        m.fit(data, None, &opts, |_| {})
            .map(|_| m.parameters().unwrap())
    };
    let data = halves(40, 3);
    let (plain, synced) = (run(false, &data, 8).unwrap(), run(true, &data, 8).unwrap());
    for ((name, a), (_, b)) in plain.iter().zip(&synced) {
        let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        // Only the running variance is computed another way (its unbiasing factor).
        assert!(worst <= 1e-5 * scale, "{name}: {worst:e} of {scale}");
    }
    // 41 samples in batches of 8: the last batch holds one sample.
    let e = run(true, &halves(41, 3), 8).unwrap_err().to_string();
    assert!(e.contains("values per channel"), "{e}");
}
