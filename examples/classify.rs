//! Classifies a picture with a trained checkpoint: top-5 classes with probabilities.
//!
//! `cargo run --release --example classify [-- picture.png --checkpoint fashion_mnist.safetensors]`
//!
//! The checkpoint's metadata (written by `train_cifar` and `train_fashion_mnist`) names the
//! model, its classes and input normalisation; `--model` / `--classes` override them for other
//! checkpoints. The picture is resized (shorter side) and centre-cropped to the model's input,
//! and converted to grey for one-channel models. With no picture, the sample picture that the
//! `filters` example uses is classified.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
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
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
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
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&v| f64::from(v - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let mut ranked: Vec<(usize, f64)> = exp.iter().map(|e| e / total).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "{} with {} ({model_name}):",
        a.image.display(),
        a.checkpoint.display()
    );
    for (i, p) in ranked.iter().take(5) {
        println!("  {:>6.2}%  {}", 100.0 * p, classes[*i]);
    }
    Ok(())
}
