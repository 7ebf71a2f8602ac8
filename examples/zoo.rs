//! Prints the summary of a zoo model: layers, output shapes, parameters, and the planned device
//! memory and dispatches of its inference and training plans at a batch size.
//!
//! `cargo run --release --example zoo -- resnet20 --batch 64`

use clap::Parser;
use wgcnn::models::{self, ResNetDepth, VggDepth};
use wgcnn::ops::optim::Optimizer;
use wgcnn::train::{Loss, Model};
use wgcnn::Gpu;

#[derive(Parser)]
struct Args {
    /// lenet5, simple-cnn, fashion-mnist-cnn, alexnet, alexnet-cifar, vgg11, vgg16, vgg16-bn,
    /// googlenet-small, resnet20, resnet56, resnet18, resnet34, resnet50, resnet101, resnet152,
    /// vgg19, vgg19-bn, mobilenet-v2, seresnet50, xception, googlenet
    model: String,
    /// Batch size of the planned memory.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Classes of the classifier.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Table only: no device, no planned memory.
    #[arg(long)]
    no_device: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let c = a.classes;
    let g = match a.model.as_str() {
        "lenet5" => models::lenet5(c, false, 0)?,
        "simple-cnn" => models::simple_cnn(c, 0)?,
        "fashion-mnist-cnn" => models::fashion_mnist_cnn(c, 0)?,
        "alexnet" => models::alexnet(c, false, true, 0)?,
        "alexnet-cifar" => models::alexnet(c, true, true, 0)?,
        "vgg11" => models::vgg(VggDepth::V11, true, true, c, 0)?,
        "vgg16" => models::vgg(VggDepth::V16, false, false, c, 0)?,
        "vgg16-bn" => models::vgg(VggDepth::V16, true, false, c, 0)?,
        "googlenet-small" => models::googlenet_small(c, 0)?,
        "resnet20" => models::resnet_cifar(3, c, 0)?,
        "resnet56" => models::resnet_cifar(9, c, 0)?,
        "resnet18" => models::resnet(ResNetDepth::R18, 224, c, 0)?,
        "resnet34" => models::resnet(ResNetDepth::R34, 224, c, 0)?,
        "resnet50" => models::resnet(ResNetDepth::R50, 224, c, 0)?,
        "resnet101" => models::resnet(ResNetDepth::R101, 224, c, 0)?,
        "resnet152" => models::resnet(ResNetDepth::R152, 224, c, 0)?,
        "vgg19" => models::vgg(VggDepth::V19, false, false, c, 0)?,
        "vgg19-bn" => models::vgg(VggDepth::V19, true, false, c, 0)?,
        "mobilenet-v2" => models::mobilenet_v2(224, c, 0)?,
        "seresnet50" => models::seresnet50(224, c, 0)?,
        "xception" => models::xception(299, c, 0)?,
        "googlenet" => models::googlenet(224, c, 0)?,
        other => return Err(format!("unknown model `{other}` (see --help)").into()),
    };
    if a.no_device {
        print!("{}", g.summary());
        return Ok(());
    }
    let gpu = Gpu::new()?;
    let mut m = Model::new(&gpu, g)?;
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))?;
    println!("{} on {}", a.model, gpu.describe());
    print!("{}", m.summary(a.batch)?);
    Ok(())
}
