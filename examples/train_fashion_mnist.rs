//! Trains a CNN on Fashion-MNIST on the GPU. The default recipe (models::mnist_cnn, Adam with
//! a cosine schedule, 10 epochs) should reach at least 92% test accuracy.
//!
//! `cargo run --release --example train_fashion_mnist [-- --epochs 12 --data-dir DIR]`
//!
//! Data: Debian's `dataset-fashion-mnist` package (`apt-get install dataset-fashion-mnist`),
//! else `--data-dir`, else `$WGCNN_DATA/fashion-mnist`.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use wgcnn::data::{fashion_mnist, FASHION_MNIST_CLASSES};
use wgcnn::train::callbacks::{Callback, EarlyStopping};
use wgcnn::train::{FitOptions, Loss, Model};

#[derive(Parser)]
struct Args {
    /// `mnist-cnn` (the fast recipe) or `seeds` (the seeds' deeper Keras CNN).
    #[arg(long, default_value = "mnist-cnn")]
    model: String,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long, default_value = "adam")]
    optimizer: String,
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    #[arg(long, default_value = "cosine")]
    schedule: String,
    /// Folder with the four IDX files (raw or .gz).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Validate and test on the first N test images only (quick runs).
    #[arg(long)]
    test_limit: Option<usize>,
    /// Stop once the validation loss has not improved for N epochs, and restore the best
    /// epoch's weights (Keras's EarlyStopping).
    #[arg(long)]
    patience: Option<usize>,
    #[arg(long, default_value = "fashion_mnist.safetensors")]
    save: PathBuf,
    /// Training-curve picture.
    #[arg(long, default_value = "fashion_mnist_curves.png")]
    plot: PathBuf,
    /// Confusion-matrix heatmap of the test set.
    #[arg(long, default_value = "fashion_mnist_confusion.png")]
    confusion: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    common::exit_on_error(run(Args::parse()));
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let ranks = common::ranks::Ranks::open()?;
    let (mut train, mut test) = fashion_mnist(a.data_dir.as_deref())?;
    if let Some(n) = a.limit {
        train = train.take(n)?;
    }
    if let Some(n) = a.test_limit {
        test = test.take(n)?;
    }
    let graph = match a.model.as_str() {
        "mnist-cnn" | "seeds" => common::zoo(&a.model, 10, a.seed)?,
        other => return Err(format!("--model {other}: use mnist-cnn or seeds").into()),
    };
    let gpu = ranks.gpu.clone();
    common::root_println!(
        ranks,
        "{} training and {} test images on {}",
        train.len(),
        test.len(),
        gpu.describe()
    );
    let mut model = Model::new(&gpu, graph)?;
    ranks.distribute(&mut model)?;
    let global = common::global_batch(&model, a.batch_size);
    let steps = (train.len().div_ceil(global) * a.epochs) as u64;
    model.compile(
        Loss::SparseCategoricalCrossentropy,
        common::optimizer(&a.optimizer, a.lr, a.weight_decay)?,
    )?;
    model.set_schedule(common::schedule(&a.schedule, steps, a.lr)?);
    let opts = FitOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        log_every: 20,
        ..FitOptions::default()
    };
    let mut stopping = a.patience.map(|p| {
        EarlyStopping::new("val_loss")
            .patience(p)
            .restore_best_weights(true)
    });
    let mut callbacks: Vec<&mut dyn Callback> = stopping
        .iter_mut()
        .map(|c| c as &mut dyn Callback)
        .collect();
    let history =
        common::fit_with_progress(&mut model, &train, Some(&test), &opts, &mut callbacks)?;
    if !ranks.root() {
        return Ok(());
    }
    if let Some(e) = stopping.as_ref().and_then(|s| s.stopped_epoch()) {
        println!("early stopping after epoch {}", e + 1);
    }
    let (acc, m) = common::confusion(&mut model, &test, 10, 256)?;
    println!(
        "test accuracy {:.2}% after {:.0} s",
        100.0 * acc,
        started.elapsed().as_secs_f64()
    );
    common::print_confusion(&m, &FASHION_MNIST_CLASSES);
    let title = format!("Fashion-MNIST test set: {:.2}% accuracy", 100.0 * acc);
    wgcnn::train::plot::confusion_png(&a.confusion, &m, &FASHION_MNIST_CLASSES, &title)?;
    println!("wrote {}", a.confusion.display());
    common::save(
        &model,
        &a.save,
        &common::metadata(&a.model, &FASHION_MNIST_CLASSES, None, None),
    )?;
    history.plot_png(&a.plot)?;
    println!("wrote {} and {}", a.save.display(), a.plot.display());
    Ok(())
}
