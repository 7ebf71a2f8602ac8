//! Transfer learning as the Keras tutorials do it, on a folder of class folders: an ImageNet
//! ResNet without its head (weights from the Hugging Face hub, offline-first), a new head
//! (dropout + dense) trained with the backbone frozen, then the top blocks unfrozen and
//! fine-tuned with a lower learning rate.
//!
//! `cargo run --release --example transfer -- ROOT [--model resnet50 --size 160 --epochs 5]`
//!
//! Weights: `--weights hub:<repo>` (the default is the model's repository, e.g.
//! `hub:timm/resnet50.tv_in1k`; the cache is `HF_HUB_CACHE` / `HF_HOME`, `HF_HUB_OFFLINE=1`
//! keeps it offline, `HF_ENDPOINT` picks a mirror) or `--weights FILE`. Pictures are cropped
//! to the aspect ratio, normalised with the model's ImageNet statistics, flipped and rotated
//! by the augmentation layer in front of the model.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use wgcnn::data::{FolderOptions, ImageFolder, Normalize, Resize};
use wgcnn::graph::GraphBuilder;
use wgcnn::models::pretrained::{self, Pooling};
use wgcnn::nn::{Dense, Dropout};
use wgcnn::ops::optim::Optimizer;
use wgcnn::train::{FitOptions, History, Loss, Model, Source};
use wgcnn::Gpu;

#[derive(Parser)]
struct Args {
    /// Folder of class folders of .png / .jpg pictures.
    root: PathBuf,
    /// resnet18, resnet34, resnet50, resnet101, resnet152, seresnet50 or mobilenet_v2.
    #[arg(long, default_value = "resnet50")]
    model: String,
    /// `hub:<repo>` or a safetensors file; the model's hub repository by default.
    #[arg(long)]
    weights: Option<String>,
    /// Side of the square inputs.
    #[arg(long, default_value_t = 160)]
    size: usize,
    /// Fraction of the files (after a seeded shuffle) that validates.
    #[arg(long, default_value_t = 0.2)]
    validation_split: f64,
    /// Epochs of the new head on the frozen backbone.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Epochs of fine-tuning after `--unfreeze` is thawed (0: none).
    #[arg(long, default_value_t = 3)]
    fine_tune_epochs: usize,
    /// Fine-tuning thaws this layer and every one after it in graph order (Keras's
    /// `base_model.layers[fine_tune_at:]`); by default the last stage (`layer4.0.conv1` of a
    /// ResNet, `features.14.conv.0.0` of MobileNetV2).
    #[arg(long)]
    unfreeze_from: Option<String>,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Learning rate of the fine-tuning (Keras's tutorials: a tenth or less).
    #[arg(long, default_value_t = 1e-5)]
    fine_tune_lr: f32,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value = "transfer.safetensors")]
    save: PathBuf,
    #[arg(long, default_value = "transfer_curves.png")]
    plot: PathBuf,
    /// Confusion-matrix heatmap of the validation files.
    #[arg(long, default_value = "transfer_confusion.png")]
    confusion: PathBuf,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
}

fn main() {
    common::exit_on_error(run(Args::parse()));
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let spec = pretrained::spec(&a.model)?;
    let mut folder_opts = FolderOptions::new(a.size as u32, a.size as u32);
    folder_opts.picture.resize = Resize::CropToAspect;
    folder_opts.picture.normalize = Some(Normalize {
        mean: spec.preset.mean.to_vec(),
        std: spec.preset.std.to_vec(),
    });
    let folder = ImageFolder::open(&a.root, &folder_opts)?;
    let names: Vec<&str> = folder.class_names().iter().map(|s| s.as_str()).collect();
    let (train, valid) = folder.split(a.validation_split, a.seed)?;

    // The backbone without its top, pooled, then the new head.
    let base = pretrained::graph(spec, a.size, false, Pooling::Avg)?;
    let (mut b, features) = GraphBuilder::from_graph(&base, "avgpool")?;
    let y = b.add_named("head_dropout", Dropout::new(0.2), &[features])?;
    let y = b.add_named("head", Dense::new(names.len()), &[y])?;
    let mut graph = b.build(&[y])?;
    common::prepend_flip_and_rotation(&mut graph)?;

    let weights = common::pretrained_weights(spec, a.weights.as_deref())?;
    let gpu = Gpu::new()?;
    let mut model = Model::new(&gpu, graph)?;
    let report = model.load_non_strict_renamed(&weights, &spec.rename)?;
    println!(
        "{}: {} tensors from {}; new: {}; not used: {}",
        spec.name,
        report.loaded.len(),
        weights.display(),
        report.missing.join(", "),
        report.unexpected.join(", ")
    );
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

    // Phase 1: only the head trains.
    model.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(a.lr))?;
    model.set_trainable("", false)?;
    model.set_trainable("head", true)?;
    let fit = FitOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        log_every: 5,
        ..FitOptions::default()
    };
    let mut history = common::fit_with_progress(&mut model, &train, Some(&valid), &fit, &mut [])?;
    let head_acc = last_accuracy(&history);

    // Phase 2: the top blocks thaw, at a lower rate (recompiling keeps the weights).
    let mut tuned_acc = None;
    if a.fine_tune_epochs > 0 {
        let from = a.unfreeze_from.as_deref().unwrap_or(match spec.name {
            "mobilenet_v2" => "features.14.conv.0.0",
            _ => "layer4.0.conv1",
        });
        let nodes = model.graph().nodes();
        let at = nodes
            .iter()
            .position(|n| n.name == from)
            .ok_or_else(|| format!("--unfreeze-from {from}: the model has no such layer"))?;
        let thawed = model.set_trainable_range(at..nodes.len(), true)?;
        model.compile(
            Loss::SparseCategoricalCrossentropy,
            Optimizer::adam(a.fine_tune_lr),
        )?;
        println!("fine-tuning {thawed} layers from `{from}` on");
        let fit = FitOptions {
            initial_epoch: a.epochs,
            epochs: a.epochs + a.fine_tune_epochs,
            ..fit
        };
        let tuned = common::fit_with_progress(&mut model, &train, Some(&valid), &fit, &mut [])?;
        tuned_acc = last_accuracy(&tuned);
        history.epochs.extend(tuned.epochs);
    }
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v));
    println!(
        "validation accuracy: {} with the new head, {} after fine-tuning ({:.0} s)",
        pct(head_acc),
        pct(tuned_acc),
        started.elapsed().as_secs_f64()
    );
    let skipped = folder.skipped();
    if !skipped.is_empty() {
        println!("skipped {} unreadable pictures", skipped.len());
    }
    let (acc, m) = common::confusion(&mut model, &valid, names.len(), a.batch_size)?;
    common::print_confusion(&m, &names);
    let title = format!(
        "{} transfer, validation: {:.2}% accuracy",
        spec.name,
        100.0 * acc
    );
    wgcnn::train::plot::confusion_png(&a.confusion, &m, &names, &title)?;
    history.plot_png(&a.plot)?;
    common::save(
        &model,
        &a.save,
        &[("classes".to_string(), format!("{names:?}"))],
    )?;
    println!(
        "wrote {}, {} and {}",
        a.save.display(),
        a.plot.display(),
        a.confusion.display()
    );
    Ok(())
}

fn last_accuracy(h: &History) -> Option<f64> {
    h.epochs.last()?.valid.as_ref()?.accuracy
}
