//! Metrics per head and the Keras callbacks of `fit_with`: names and values of what is
//! logged (against the predictions read back), early stopping that restores the best epoch,
//! best-only checkpoints, the CSV log, learning-rate reduction, `validation_split`.

mod common;

use common::{halves, small_cnn};
use wgcnn::graph::GraphBuilder;
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::checkpoint::read_metadata;
use wgcnn::train::{
    Callback, Control, CsvLogger, Dataset, EarlyStopping, EpochLog, FitOptions, Head, Loss, Metric,
    Model, ModelCheckpoint, ReduceLROnPlateau, Targets,
};

/// A class head (2 classes) and a box head (3 values) on one small CNN trunk.
fn two_heads() -> (wgcnn::graph::Graph, Vec<Head>) {
    let mut b = GraphBuilder::new(3);
    let x = b.input([2, 8, 8]);
    let c = b
        .add(Conv2d::new(4, 3).activation(Activation::Relu), &[x])
        .unwrap();
    let f = b.add(Flatten, &[c]).unwrap();
    let class = b.add_named("class", Dense::new(2), &[f]).unwrap();
    let boxes = b.add_named("box", Dense::new(3), &[f]).unwrap();
    let heads = vec![
        Head::new(0, Loss::SparseCategoricalCrossentropy).weight(0.8),
        Head::new(1, Loss::MeanSquaredError)
            .weight(0.2)
            .metrics(&[Metric::Mse, Metric::Mae]),
    ];
    (b.build(&[class, boxes]).unwrap(), heads)
}

/// `halves` with a box target per sample (the bright half's centre and a noise value).
fn with_boxes(d: &Dataset, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let labels = d.labels().unwrap().to_vec();
    let boxes: Vec<f32> = labels
        .iter()
        .flat_map(|&l| [l as f32, 1.0 - l as f32, rng.uniform()])
        .collect();
    Dataset::new(
        d.x.clone(),
        [2, 8, 8],
        vec![
            Targets::Classes { labels, classes: 2 },
            Targets::Values {
                data: boxes,
                sample: [3].into(),
            },
        ],
    )
    .unwrap()
}

fn value(m: &wgcnn::train::Metrics, name: &str) -> f64 {
    m.get(name)
        .unwrap_or_else(|| panic!("`{name}` is not logged: {:?}", m.values))
}

#[test]
fn every_head_logs_its_loss_and_metrics_under_keras_names() {
    let gpu = gpu();
    let (g, heads) = two_heads();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile_heads(&heads, Optimizer::adam(1e-2)).unwrap();
    let names = [
        "loss",
        "class_loss",
        "box_loss",
        "class_accuracy",
        "box_mse",
        "box_mae",
    ];
    assert_eq!(m.log_names(), names);
    let (train, valid) = (with_boxes(&halves(48, 1), 2), with_boxes(&halves(20, 3), 4));
    let opts = FitOptions {
        epochs: 2,
        batch_size: 16,
        ..FitOptions::default()
    };
    let h = m.fit(&train, Some(&valid), &opts, |_| {}).unwrap();
    for e in &h.epochs {
        for metrics in [&e.train, e.valid.as_ref().unwrap()] {
            let got: Vec<&str> = metrics.values.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(got, names);
            // The total is the weighted sum of the heads; an MSE head's mse is its loss.
            let total = 0.8 * value(metrics, "class_loss") + 0.2 * value(metrics, "box_loss");
            assert!((metrics.loss - total).abs() <= 1e-5 * (1.0 + total.abs()));
            let (mse, loss) = (value(metrics, "box_mse"), value(metrics, "box_loss"));
            assert!((mse - loss).abs() <= 1e-5 * (1.0 + loss));
            assert_eq!(metrics.accuracy, metrics.get("class_accuracy"));
        }
        assert!(e.get("val_box_mae").is_some() && e.get("learning_rate").is_some());
    }
    // The validation metrics are those of the predictions read back.
    let v = m.evaluate(&valid, 7).unwrap();
    let out = m.predict(&valid.x, 5).unwrap();
    let labels = valid.labels().unwrap();
    let hits = out[0]
        .chunks(2)
        .zip(labels)
        .filter(|(row, &l)| (row[1] > row[0]) == (l == 1))
        .count();
    let Targets::Values { data, .. } = &valid.targets[1] else {
        unreachable!()
    };
    let errs: Vec<f64> = out[1]
        .iter()
        .zip(data)
        .map(|(&p, &t)| f64::from(p) - f64::from(t))
        .collect();
    let mse = errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64;
    let mae = errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len() as f64;
    assert_eq!(value(&v, "class_accuracy"), hits as f64 / 20.0);
    assert!((value(&v, "box_mse") - mse).abs() <= 1e-5 * (1.0 + mse));
    assert!((value(&v, "box_mae") - mae).abs() <= 1e-5 * (1.0 + mae));
}

#[test]
fn a_metric_that_does_not_fit_its_head_is_refused() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, small_cnn(1)).unwrap();
    let bad = [
        Head::new(0, Loss::MeanSquaredError).metrics(&[Metric::Accuracy]),
        Head::new(0, Loss::SparseCategoricalCrossentropy).metrics(&[Metric::Mae]),
        Head::new(0, Loss::SparseCategoricalCrossentropy).metrics(&[Metric::TopK(0)]),
    ];
    for h in bad {
        assert!(m.compile_heads(&[h], Optimizer::sgd(0.1)).is_err());
    }
    let top = Head::new(0, Loss::SparseCategoricalCrossentropy).metrics(&[Metric::TopK(2)]);
    m.compile_heads(&[top], Optimizer::sgd(0.1)).unwrap();
    assert_eq!(m.log_names(), ["loss", "top_2_accuracy"]);
    let e = m.evaluate(&halves(8, 1), 4).unwrap();
    assert_eq!(
        e.get("top_2_accuracy"),
        Some(1.0),
        "2 classes: always in the top 2"
    );
    assert_eq!(e.accuracy, None);
}

/// Keeps every epoch's weights and validation loss.
#[derive(Default)]
struct Recorder {
    weights: Vec<Vec<(String, Vec<f32>)>>,
    val_loss: Vec<f64>,
}

impl Callback for Recorder {
    fn on_epoch_end(&mut self, model: &mut Model, log: &EpochLog) -> wgcnn::Result<Control> {
        self.weights.push(model.parameters()?);
        self.val_loss.push(log.get("val_loss").unwrap());
        Ok(Control::Continue)
    }
}

/// The validation set has the training images with the labels swapped: the better the
/// model fits the training set, the worse its validation loss.
fn rising_validation() -> (Dataset, Dataset) {
    let train = halves(32, 5);
    let swapped: Vec<u32> = train.labels().unwrap().iter().map(|l| 1 - l).collect();
    let valid = Dataset::classification(train.x.clone(), [2, 8, 8], swapped, 2).unwrap();
    (train, valid)
}

#[test]
fn early_stopping_ends_a_rising_run_with_the_best_epochs_weights() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, small_cnn(2)).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(2e-2))
        .unwrap();
    let (train, valid) = rising_validation();
    let opts = FitOptions {
        epochs: 30,
        batch_size: 8,
        ..FitOptions::default()
    };
    let mut stop = EarlyStopping::new("val_loss")
        .patience(2)
        .restore_best_weights(true);
    let mut rec = Recorder::default();
    let h = m
        .fit_with(&train, Some(&valid), &opts, &mut [&mut rec, &mut stop])
        .unwrap();
    let best = (0..rec.val_loss.len())
        .min_by(|&a, &b| rec.val_loss[a].total_cmp(&rec.val_loss[b]))
        .unwrap();
    assert_eq!(stop.best_epoch(), Some(best));
    assert_eq!(stop.stopped_epoch(), Some(best + 2), "{:?}", rec.val_loss);
    assert_eq!(h.epochs.len(), best + 3);
    assert_eq!(m.parameters().unwrap(), rec.weights[best]);
    assert_ne!(rec.weights[best], *rec.weights.last().unwrap());

    // Monitoring what is not logged is an error, not a silent no-op.
    let mut wrong = EarlyStopping::new("val_accuracy");
    let r = m.fit_with(&train, None, &opts, &mut [&mut wrong]);
    assert!(r.is_err());
}

#[test]
fn best_only_checkpoints_and_the_csv_log_follow_the_monitor() {
    let gpu = gpu();
    let dir = std::env::temp_dir().join(format!("wgcnn-callbacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = Model::new(&gpu, small_cnn(3)).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(2e-2))
        .unwrap();
    let (train, valid) = rising_validation();
    let opts = FitOptions {
        epochs: 6,
        batch_size: 8,
        ..FitOptions::default()
    };
    let path = dir.join("best-{epoch}.safetensors");
    let mut ckpt = ModelCheckpoint::new(path.to_string_lossy()).save_best_only(true);
    let csv_path = dir.join("log.csv");
    let mut csv = CsvLogger::new(&csv_path);
    let mut rec = Recorder::default();
    m.fit_with(
        &train,
        Some(&valid),
        &opts,
        &mut [&mut rec, &mut ckpt, &mut csv],
    )
    .unwrap();
    // A file for each epoch whose validation loss was the lowest so far, and only those.
    let mut best = f64::INFINITY;
    let want: Vec<usize> = (0..6)
        .filter(|&e| {
            let better = rec.val_loss[e] < best;
            best = best.min(rec.val_loss[e]);
            better
        })
        .collect();
    let saved: Vec<String> = ckpt
        .saved()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let names: Vec<String> = want
        .iter()
        .map(|e| format!("best-{}.safetensors", e + 1))
        .collect();
    assert_eq!(saved, names);
    let last = ckpt.saved().last().unwrap();
    let meta = read_metadata(last).unwrap();
    assert_eq!(meta["epoch"], (want.last().unwrap() + 1).to_string());
    let mut fresh = Model::new(&gpu, small_cnn(3)).unwrap();
    fresh.load(last).unwrap();
    assert_eq!(
        fresh.parameters().unwrap(),
        rec.weights[*want.last().unwrap()]
    );

    let text = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(
        lines[0],
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"
    );
    let row: Vec<&str> = lines[3].split(',').collect();
    assert_eq!(row[0], "2");
    assert_eq!(row[5].parse::<f64>().unwrap(), rec.val_loss[2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_learning_rate_falls_on_a_plateau_down_to_its_floor() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, small_cnn(4)).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let opts = FitOptions {
        epochs: 6,
        batch_size: 16,
        ..FitOptions::default()
    };
    // No change is ever large enough to count, so after the first epoch none improves.
    let mut plateau = ReduceLROnPlateau::new("loss")
        .min_delta(1e9)
        .patience(1)
        .factor(0.5)
        .min_lr(0.01);
    let h = m
        .fit_with(&halves(32, 6), None, &opts, &mut [&mut plateau])
        .unwrap();
    let lrs: Vec<f32> = h.epochs.iter().map(|e| e.lr).collect();
    for (got, want) in lrs.iter().zip([0.1, 0.1, 0.05, 0.025, 0.0125, 0.01]) {
        assert!((got - want).abs() <= 1e-6, "{lrs:?}");
    }
    assert!((m.learning_rate() - 0.01).abs() <= 1e-6);
    let mut bad = ReduceLROnPlateau::new("loss").factor(1.5);
    assert!(m
        .fit_with(&halves(8, 6), None, &opts, &mut [&mut bad])
        .is_err());
}

#[test]
fn validation_split_takes_the_last_fraction_before_shuffling() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, small_cnn(5)).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
        .unwrap();
    let data = halves(40, 7);
    let opts = FitOptions {
        epochs: 1,
        batch_size: 8,
        validation_split: 0.25,
        ..FitOptions::default()
    };
    let h = m.fit(&data, None, &opts, |_| {}).unwrap();
    let e = &h.epochs[0];
    assert_eq!(
        (e.train.samples, e.valid.as_ref().unwrap().samples),
        (30, 10)
    );
    let tail = data.subset(&(30..40).collect::<Vec<_>>()).unwrap();
    assert_eq!(e.valid.as_ref().unwrap(), &m.evaluate(&tail, 8).unwrap());
    // A given validation set wins over the split, as in Keras.
    let h = m.fit(&data, Some(&tail), &opts, |_| {}).unwrap();
    assert_eq!(h.epochs[0].train.samples, 40);
    for bad in [1.0, -0.1, 1e-20] {
        let opts = FitOptions {
            validation_split: bad,
            ..opts.clone()
        };
        assert!(m.fit(&data, None, &opts, |_| {}).is_err(), "split {bad}");
    }
}
