//! Trains a CNN on CIFAR-10 on the GPU: gets the data (downloads the official archive if it is
//! not there), trains with a progress bar, validates each epoch, prints the test accuracy and
//! confusion matrix, and writes a checkpoint and a picture of the training curves.
//!
//! The defaults reproduce the seeds' TensorFlow tutorial: the simple CNN with Adam for 4
//! epochs, about 70% test accuracy. Past 90%:
//! `--model resnet20 --augment --normalize --optimizer sgd --lr 0.1 --weight-decay 5e-4
//!  --schedule onecycle --batch-size 128 --epochs 40`.
//!
//! `cargo run --release --example train_cifar [-- --help]`

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use wgcnn::data::{cifar10, data_dir, CIFAR10_CLASSES};
use wgcnn::nn::Augment;
use wgcnn::train::{FitOptions, Loss, Model};

#[derive(Parser)]
struct Args {
    /// simple-cnn, resnet20, resnet32, resnet56, vgg11, vgg16, alexnet, googlenet (or the
    /// 28×28 ones, which do not fit CIFAR)
    #[arg(long, default_value = "simple-cnn")]
    model: String,
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// adam, adamw, sgd (momentum 0.9, Nesterov), nadam, rmsprop
    #[arg(long, default_value = "adam")]
    optimizer: String,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// constant, step, cosine, onecycle
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Random flips and 4-pixel shifts on the GPU during training.
    #[arg(long)]
    augment: bool,
    /// Normalise each channel with CIFAR-10's mean and standard deviation.
    #[arg(long)]
    normalize: bool,
    /// Where CIFAR-10 is or goes (default: $WGCNN_DATA, else ~/.cache/wgcnn).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Fail instead of downloading when the data is missing.
    #[arg(long)]
    no_download: bool,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value = "cifar.safetensors")]
    save: PathBuf,
    /// Continue from a checkpoint written by --save (same model and optimiser).
    #[arg(long)]
    resume: Option<PathBuf>,
    #[arg(long, default_value = "cifar_curves.png")]
    plot: PathBuf,
    /// Confusion-matrix heatmap of the test set.
    #[arg(long, default_value = "cifar_confusion.png")]
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
    let dir = data_dir(a.data_dir.as_deref());
    if !a.no_download {
        // Under MPI rank 0 downloads; the others then find the files.
        ranks.root_first(|| fetch(&dir))??;
    }
    let (mut train, mut test) = cifar10(&dir)?;
    if let Some(n) = a.limit {
        train = train.take(n)?;
    }
    let (mean, std) = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]);
    if a.normalize {
        train.normalize(&mean, &std)?;
        test.normalize(&mean, &std)?;
    }
    let mut graph = common::zoo(&a.model, 10, a.seed)?;
    if a.augment {
        graph.prepend("augment", Augment::flip_and_shift(4), 0)?;
    }
    let gpu = ranks.gpu.clone();
    if ranks.root() {
        println!(
            "{}: {} training and {} test images on {}",
            a.model,
            train.len(),
            test.len(),
            gpu.describe()
        );
    }
    let mut model = Model::new(&gpu, graph)?;
    ranks.distribute(&mut model)?;
    let per_epoch = train
        .len()
        .div_ceil(common::global_batch(&model, a.batch_size));
    model.compile(
        Loss::SparseCategoricalCrossentropy,
        common::optimizer(&a.optimizer, a.lr, a.weight_decay)?,
    )?;
    model.set_schedule(common::schedule(
        &a.schedule,
        (per_epoch * a.epochs) as u64,
        a.lr,
    )?);
    let mut initial_epoch = 0;
    if let Some(r) = &a.resume {
        model.load(r)?;
        initial_epoch = (model.steps() as usize / per_epoch.max(1)).min(a.epochs);
        common::root_println!(
            ranks,
            "resumed from {} at epoch {}",
            r.display(),
            initial_epoch + 1
        );
    }
    let opts = FitOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        initial_epoch,
        seed: a.seed,
        log_every: 20,
        ..FitOptions::default()
    };
    let history = common::fit_with_progress(&mut model, &train, Some(&test), &opts, &mut [])?;
    if !ranks.root() {
        return Ok(());
    }
    let (acc, m) = common::confusion(&mut model, &test, 10, 256)?;
    println!(
        "test accuracy {:.2}% after {:.0} s",
        100.0 * acc,
        started.elapsed().as_secs_f64()
    );
    common::print_confusion(&m, &CIFAR10_CLASSES);
    let title = format!("CIFAR-10 test set: {:.2}% accuracy", 100.0 * acc);
    wgcnn::train::plot::confusion_png(&a.confusion, &m, &CIFAR10_CLASSES, &title)?;
    println!("wrote {}", a.confusion.display());
    let (m_opt, s_opt) = if a.normalize {
        (Some(&mean[..]), Some(&std[..]))
    } else {
        (None, None)
    };
    common::save(
        &model,
        &a.save,
        &common::metadata(&a.model, &CIFAR10_CLASSES, m_opt, s_opt),
    )?;
    if !history.epochs.is_empty() {
        history.plot_png(&a.plot)?;
        println!("wrote {} and {}", a.save.display(), a.plot.display());
    } else {
        println!(
            "wrote {} (no epochs left to train, no curves)",
            a.save.display()
        );
    }
    Ok(())
}

/// Downloads CIFAR-10 into `dir` with a progress bar unless it is already there.
#[cfg(feature = "download")]
fn fetch(dir: &std::path::Path) -> wgcnn::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let mut bar: Option<ProgressBar> = None;
    wgcnn::data::download_cifar10(dir, |got, total| {
        let b = bar.get_or_insert_with(|| {
            println!("downloading CIFAR-10 into {}", dir.display());
            let b = ProgressBar::new(total.unwrap_or(170_498_071));
            b.set_style(
                ProgressStyle::with_template("[{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        b.set_position(got);
    })?;
    if let Some(b) = bar {
        b.finish();
    }
    Ok(())
}

#[cfg(not(feature = "download"))]
fn fetch(_: &std::path::Path) -> wgcnn::Result<()> {
    Ok(())
}
