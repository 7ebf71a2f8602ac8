//! Classifies a picture with a trained checkpoint: top-5 classes with probabilities.
//!
//! `cargo run --release --example classify [-- picture.png --checkpoint fashion_mnist.safetensors]`
//!
//! The checkpoint's metadata (written by `train_cifar` and `train_fashion_mnist`) names the
//! model, its classes and input normalisation; `--model` / `--classes` override them for other
//! checkpoints. The picture is resized (shorter side) and centre-cropped to the model's input,
//! and converted to grey for one-channel models. With no picture, the sample picture that the
//! `filters` example uses is classified.
//!
//! With `--weights`, an ImageNet model instead: `--model resnet50 --weights
//! hub:timm/resnet50.tv_in1k` takes the weights from the Hugging Face cache (`HF_HUB_CACHE`,
//! `HF_HOME`; offline with `HF_HUB_OFFLINE=1`) or downloads them into it; `--weights FILE`
//! reads a safetensors file. The picture gets the model's preset (shorter side resized,
//! centre crop, ImageNet normalisation) and the top 5 print with ImageNet's class names.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use wgcnn::data::{load_picture, Interpolation, Normalize, PictureOptions, Resize};
use wgcnn::models::pretrained::{self, imagenet_classes, top_k, PretrainedOptions};
use wgcnn::train::checkpoint::read_metadata;
use wgcnn::train::Model;
use wgcnn::Gpu;

#[derive(Parser)]
struct Args {
    /// A PNG or JPEG picture.
    #[arg(default_value = "examples/data/sample.png")]
    image: PathBuf,
    #[arg(long, default_value = "fashion_mnist.safetensors")]
    checkpoint: PathBuf,
    /// The checkpoint's model, when its metadata does not say.
    #[arg(long)]
    model: Option<String>,
    /// Comma-separated class names, when its metadata does not say.
    #[arg(long)]
    classes: Option<String>,
    /// Pretrained ImageNet weights: `hub:<repo>` or a safetensors file (with `--model`, one
    /// of resnet18, resnet34, resnet50, resnet101, resnet152, seresnet50, mobilenet_v2).
    #[arg(long)]
    weights: Option<String>,
}

fn main() {
    common::exit_on_error(run(Args::parse()));
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(w) = &a.weights {
        return imagenet(&a, w);
    }
    if !a.checkpoint.is_file() {
        return Err(format!(
            "no checkpoint at {}: train one first (`cargo run --release --example train_fashion_mnist` or `train_cifar`) or pass --checkpoint",
            a.checkpoint.display()
        )
        .into());
    }
    let meta = read_metadata(&a.checkpoint)?;
    let model_name = a
        .model
        .clone()
        .or_else(|| meta.get("model").cloned())
        .ok_or("the checkpoint does not name its model: pass --model")?;
    let classes: Vec<String> = match (&a.classes, meta.get("classes")) {
        (Some(c), _) => c.split(',').map(|s| s.trim().to_string()).collect(),
        (None, Some(json)) => serde_json::from_str(json)
            .map_err(|e| format!("bad class list in the checkpoint: {e}"))?,
        (None, None) => {
            return Err("the checkpoint does not list its classes: pass --classes".into())
        }
    };
    let graph = common::zoo(&model_name, classes.len(), 0)?;
    let x = common::picture_input(&graph, &meta, &a.image)?;
    let gpu = Gpu::new()?;
    let mut model = Model::new(&gpu, graph)?;
    model.load(&a.checkpoint)?;
    let logits = model.predict(&x, 1)?.swap_remove(0);
    println!(
        "{} with {} ({model_name}):",
        a.image.display(),
        a.checkpoint.display()
    );
    for (i, p) in top_k(&logits, 5) {
        println!("  {:>6.2}%  {}", 100.0 * p, classes[i]);
    }
    Ok(())
}

/// The picture through a pretrained ImageNet model.
fn imagenet(a: &Args, weights: &str) -> Result<(), Box<dyn std::error::Error>> {
    let name = a.model.as_deref().unwrap_or("resnet50");
    let spec = pretrained::spec(name)?;
    let p = &spec.preset;
    let picture = PictureOptions {
        resize: Resize::ResizeThenCrop {
            crop_fraction: p.crop_fraction,
        },
        interpolation: match p.bicubic {
            true => Interpolation::Bicubic,
            false => Interpolation::Bilinear,
        },
        normalize: Some(Normalize {
            mean: p.mean.to_vec(),
            std: p.std.to_vec(),
        }),
        ..PictureOptions::square(p.size as u32)
    };
    let x = load_picture(&a.image, &picture)?;
    let gpu = Gpu::new()?;
    let opts = PretrainedOptions {
        weights: Some(common::pretrained_weights(spec, Some(weights))?),
        ..PretrainedOptions::default()
    };
    let mut loaded = pretrained::pretrained(&gpu, name, &opts, |_, _| {})?;
    let logits = loaded.model.predict(&x, 1)?.swap_remove(0);
    let names = imagenet_classes();
    println!(
        "{} with {name} ({}):",
        a.image.display(),
        loaded.weights.display()
    );
    for (i, p) in top_k(&logits, 5) {
        println!("  {:>6.2}%  {}", 100.0 * p, names[i]);
    }
    Ok(())
}
