//! Trains a CNN on a folder of pictures, `ROOT/<class>/…` (cats-vs-dogs, flowers, any set laid
//! out as Keras's `image_dataset_from_directory` reads it), streamed: the pictures are decoded
//! on loader threads a few batches ahead of the GPU, so memory does not grow with the folder.
//! A seeded percentage of the files validates; unreadable files are skipped and counted.
//!
//! `cargo run --release --example train_folder -- ROOT [--size 128 --resize crop --epochs 10]`
//!
//! The model is a small convnet for any picture size (as the Keras tutorial "Image
//! classification from scratch"): flip and rotation augmentation, four conv + batch norm +
//! ReLU stages with max pooling, global average pooling, dropout, the classifier; with
//! `--binary` on two classes, one sigmoid unit under binary cross-entropy.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use wgcnn::data::{FolderOptions, ImageFolder, LabelMode, Resize};
use wgcnn::graph::{Graph, Sequential};
use wgcnn::nn::{Activation, BatchNorm2d, Conv2d, Dense, Dropout, GlobalAvgPool2d, MaxPool2d};
use wgcnn::train::{FitOptions, Loss, Model, Source};
use wgcnn::{Gpu, Padding};

#[derive(Clone, Copy, ValueEnum)]
enum ResizeArg {
    Squash,
    Crop,
    Pad,
}

#[derive(Parser)]
struct Args {
    /// Folder of class folders of .png / .jpg pictures.
    root: PathBuf,
    /// Side of the square samples.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// How pictures reach the size: squash, crop (centre, keeping the aspect ratio) or pad.
    #[arg(long, value_enum, default_value_t = ResizeArg::Crop)]
    resize: ResizeArg,
    /// Fraction of the files (after a seeded shuffle) that validates.
    #[arg(long, default_value_t = 0.2)]
    validation_split: f64,
    /// Two classes as one sigmoid output under binary cross-entropy.
    #[arg(long)]
    binary: bool,
    /// Stop with an error at the first unreadable picture instead of skipping it.
    #[arg(long)]
    strict: bool,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value = "adam")]
    optimizer: String,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Loader threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    loaders: usize,
    #[arg(long, default_value = "folder.safetensors")]
    save: PathBuf,
    #[arg(long, default_value = "folder_curves.png")]
    plot: PathBuf,
    /// Confusion-matrix heatmap of the validation files.
    #[arg(long, default_value = "folder_confusion.png")]
    confusion: PathBuf,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
}

/// The convnet, for `outputs` logits from `channels × side × side` pictures.
fn convnet(channels: usize, side: usize, outputs: usize, seed: u64) -> wgcnn::Result<Graph> {
    let mut s = Sequential::new([channels, side, side]).seed(seed);
    for (i, f) in [32, 64, 128, 256].into_iter().enumerate() {
        s = s
            .add(Conv2d::new(f, 3).padding(Padding::Same).use_bias(false))
            .add(BatchNorm2d::new())
            .add(Activation::Relu);
        if i < 3 {
            s = s.add(MaxPool2d::new(2));
        }
    }
    let mut g = s
        .add(GlobalAvgPool2d)
        .add(Dropout::new(0.25))
        .add(Dense::new(outputs))
        .build()?;
    common::prepend_flip_and_rotation(&mut g)?;
    Ok(g)
}

fn main() {
    common::exit_on_error(run(Args::parse()));
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let mut opts = FolderOptions::new(a.size, a.size);
    opts.picture.resize = match a.resize {
        ResizeArg::Squash => Resize::Squash,
        ResizeArg::Crop => Resize::CropToAspect,
        ResizeArg::Pad => Resize::PadToAspect,
    };
    if a.binary {
        opts.labels = LabelMode::Binary;
    }
    if a.strict {
        opts.on_error = wgcnn::data::OnError::Fail;
    }
    opts.loaders = a.loaders;
    let folder = ImageFolder::open(&a.root, &opts)?;
    let names: Vec<&str> = folder.class_names().iter().map(|s| s.as_str()).collect();
    let (train, valid) = folder.split(a.validation_split, a.seed)?;
    let gpu = Gpu::new()?;
    println!(
        "{} classes ({}), {} training and {} validation pictures at {}×{} on {}",
        names.len(),
        names.join(", "),
        train.len(),
        valid.len(),
        a.size,
        a.size,
        gpu.describe()
    );
    let (outputs, loss) = match a.binary {
        true => (1, Loss::BinaryCrossentropy),
        false => (names.len(), Loss::SparseCategoricalCrossentropy),
    };
    let graph = convnet(3, a.size as usize, outputs, a.seed)?;
    let mut model = Model::new(&gpu, graph)?;
    model.compile(loss, common::optimizer(&a.optimizer, a.lr, 0.0)?)?;
    let fit = FitOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        log_every: 10,
        ..FitOptions::default()
    };
    let history = common::fit_with_progress(&mut model, &train, Some(&valid), &fit, &mut [])?;
    let skipped = folder.skipped();
    if !skipped.is_empty() {
        println!("skipped {} unreadable pictures:", skipped.len());
        for s in skipped.iter().take(10) {
            println!("  {}: {}", s.path.display(), s.reason);
        }
    }
    let (acc, m) = common::confusion(&mut model, &valid, names.len(), 64)?;
    println!(
        "validation accuracy {:.2}% after {:.0} s",
        100.0 * acc,
        started.elapsed().as_secs_f64()
    );
    common::print_confusion(&m, &names);
    let title = format!("validation files: {:.2}% accuracy", 100.0 * acc);
    wgcnn::train::plot::confusion_png(&a.confusion, &m, &names, &title)?;
    common::save(
        &model,
        &a.save,
        &[("classes".to_string(), format!("{names:?}"))],
    )?;
    history.plot_png(&a.plot)?;
    println!(
        "wrote {}, {} and {}",
        a.save.display(),
        a.plot.display(),
        a.confusion.display()
    );
    Ok(())
}
