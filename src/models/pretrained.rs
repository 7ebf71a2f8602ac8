//! Pretrained ImageNet models by name: the zoo architecture, where its weights live on the
//! hub, how pictures are prepared for it, and the 1,000 ImageNet class names.
//!
//! timm's ResNet checkpoints keep torchvision's parameter names, which are the zoo's own, so
//! they load as they are (their `num_batches_tracked` counters are accepted and ignored);
//! timm's MobileNetV2 names (`conv_stem`, `blocks.<stage>.<i>.conv_dw`, …) are mapped onto
//! torchvision's (`features.<k>.conv.<j>…`).

use std::path::PathBuf;

use super::hub::Hub;
use super::mobilenet::mobilenet_v2;
use super::resnet::{resnet, seresnet50, ResNetDepth};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{Graph, GraphBuilder};
use crate::nn::{Flatten, MaxPool2d};
use crate::train::{LoadReport, Model};

/// How pictures are prepared for a pretrained model (timm's `pretrained_cfg`).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Preset {
    /// Input side in pixels (square inputs).
    pub size: usize,
    /// The centre fraction the input covers after the shorter side is resized to
    /// `size / crop_fraction` (0.875: 256 then 224).
    pub crop_fraction: f32,
    /// Per-channel mean and std of `(x − mean) / std` on [0, 1] RGB values.
    pub mean: [f32; 3],
    /// See `mean`.
    pub std: [f32; 3],
    /// Resize bicubic (timm's `interpolation = "bicubic"`), else bilinear.
    pub bicubic: bool,
}

/// The architecture behind a spec.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arch {
    ResNet(ResNetDepth),
    SeResNet50,
    MobileNetV2,
}

/// ImageNet statistics of torchvision and timm.
const IMAGENET: Preset = Preset {
    size: 224,
    crop_fraction: 0.875,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    bicubic: false,
};

/// A pretrained model the zoo can build.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Short name (`resnet50`).
    pub name: &'static str,
    /// Hub repository of the weights (`timm/resnet50.tv_in1k`).
    pub repo: &'static str,
    /// Weights file in the repository.
    pub file: &'static str,
    /// Parameters with the ImageNet head.
    pub params: usize,
    /// Picture preparation.
    pub preset: Preset,
    arch: Arch,
    /// The file's tensor name → the zoo's (for `Model::load_non_strict_renamed`).
    pub rename: fn(&str) -> String,
}

fn same(name: &str) -> String {
    name.to_string()
}

/// timm's `mobilenetv2_100` names → torchvision's. Names it does not know stay as they are
/// (and then load as unexpected).
pub fn timm_mobilenet_v2_name(name: &str) -> String {
    // Blocks per stage; torchvision numbers them on from features.1.
    const STAGES: [usize; 7] = [1, 2, 3, 4, 3, 3, 1];
    let (module, tensor) = match name.rsplit_once('.') {
        Some(p) => p,
        None => return name.to_string(),
    };
    let to = |m: &str| format!("{m}.{tensor}");
    match module {
        "conv_stem" => return to("features.0.0"),
        "bn1" => return to("features.0.1"),
        "conv_head" => return to("features.18.0"),
        "bn2" => return to("features.18.1"),
        "classifier" => return to("classifier.1"),
        _ => {}
    }
    let parts: Vec<&str> = module.split('.').collect();
    let ["blocks", stage, i, layer] = parts[..] else {
        return name.to_string();
    };
    let (Ok(stage), Ok(i)) = (stage.parse::<usize>(), i.parse::<usize>()) else {
        return name.to_string();
    };
    if stage >= STAGES.len() || i >= STAGES[stage] {
        return name.to_string();
    }
    let k = 1 + STAGES[..stage].iter().sum::<usize>() + i;
    let sub = match (stage, layer) {
        (0, "conv_dw") => "conv.0.0",
        (0, "bn1") => "conv.0.1",
        (0, "conv_pw") => "conv.1",
        (0, "bn2") => "conv.2",
        (_, "conv_pw") => "conv.0.0",
        (_, "bn1") => "conv.0.1",
        (_, "conv_dw") => "conv.1.0",
        (_, "bn2") => "conv.1.1",
        (_, "conv_pwl") => "conv.2",
        (_, "bn3") => "conv.3",
        _ => return name.to_string(),
    };
    to(&format!("features.{k}.{sub}"))
}

/// Every pretrained model by name.
pub const SPECS: [Spec; 7] = [
    Spec {
        name: "resnet18",
        repo: "timm/resnet18.tv_in1k",
        file: "model.safetensors",
        params: 11_689_512,
        preset: IMAGENET,
        arch: Arch::ResNet(ResNetDepth::R18),
        rename: same,
    },
    Spec {
        name: "resnet34",
        repo: "timm/resnet34.tv_in1k",
        file: "model.safetensors",
        params: 21_797_672,
        preset: IMAGENET,
        arch: Arch::ResNet(ResNetDepth::R34),
        rename: same,
    },
    Spec {
        name: "resnet50",
        repo: "timm/resnet50.tv_in1k",
        file: "model.safetensors",
        params: 25_557_032,
        preset: IMAGENET,
        arch: Arch::ResNet(ResNetDepth::R50),
        rename: same,
    },
    Spec {
        name: "resnet101",
        repo: "timm/resnet101.tv_in1k",
        file: "model.safetensors",
        params: 44_549_160,
        preset: IMAGENET,
        arch: Arch::ResNet(ResNetDepth::R101),
        rename: same,
    },
    Spec {
        name: "resnet152",
        repo: "timm/resnet152.tv_in1k",
        file: "model.safetensors",
        params: 60_192_808,
        preset: IMAGENET,
        arch: Arch::ResNet(ResNetDepth::R152),
        rename: same,
    },
    Spec {
        name: "seresnet50",
        repo: "timm/seresnet50.a1_in1k",
        file: "model.safetensors",
        params: 28_088_024,
        // timm's A1 recipe evaluates at a crop fraction of 0.95, bicubic.
        preset: Preset {
            crop_fraction: 0.95,
            bicubic: true,
            ..IMAGENET
        },
        arch: Arch::SeResNet50,
        rename: same,
    },
    Spec {
        name: "mobilenet_v2",
        repo: "timm/mobilenetv2_100.ra_in1k",
        file: "model.safetensors",
        params: 3_504_872,
        preset: Preset {
            bicubic: true,
            ..IMAGENET
        },
        arch: Arch::MobileNetV2,
        rename: timm_mobilenet_v2_name,
    },
];

/// The spec named `name` (`resnet50`) or whose repository is `name`
/// (`timm/resnet50.tv_in1k`).
pub fn spec(name: &str) -> Result<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.name == name || s.repo == name)
        .ok_or_else(|| {
            let known: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
            Error::invalid(
                "pretrained",
                "model",
                name,
                format!("known: {}", known.join(", ")),
            )
        })
}

/// What a headless model ends in (Keras's `pooling` with `include_top=False`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Pooling {
    /// The last block's feature maps, `[channels, h, w]`.
    None,
    /// Global average pooling, `[channels]`.
    #[default]
    Avg,
    /// Global max pooling, `[channels]`.
    Max,
}

/// Options of [`pretrained`].
#[derive(Clone, Debug)]
pub struct PretrainedOptions {
    /// Where the weights are cached and fetched from.
    pub hub: Hub,
    /// The hub revision (branch, tag or commit).
    pub revision: String,
    /// Keep the 1,000-class ImageNet head; without it the model ends as `pooling` says.
    pub include_top: bool,
    /// The end of a headless model.
    pub pooling: Pooling,
    /// Input side; `None` for the preset's. ResNets take any side of at least 32.
    pub size: Option<usize>,
    /// A weights file to use instead of the hub.
    pub weights: Option<PathBuf>,
}

impl Default for PretrainedOptions {
    fn default() -> Self {
        PretrainedOptions {
            hub: Hub::from_env(),
            revision: "main".into(),
            include_top: true,
            pooling: Pooling::Avg,
            size: None,
            weights: None,
        }
    }
}

/// A pretrained model, loaded.
pub struct Pretrained {
    /// The model on the GPU, its weights loaded (not compiled: no loss yet).
    pub model: Model,
    /// What it is.
    pub spec: &'static Spec,
    /// The weights file used.
    pub weights: PathBuf,
    /// What the load read; a headless model lists the head's tensors as unexpected.
    pub report: LoadReport,
}

/// The graph of `spec` at input side `size`, cut as `include_top` and `pooling` say.
pub fn graph(spec: &Spec, size: usize, include_top: bool, pooling: Pooling) -> Result<Graph> {
    let full = match spec.arch {
        Arch::ResNet(depth) => resnet(depth, size, 1000, 0)?,
        Arch::SeResNet50 => seresnet50(size, 1000, 0)?,
        Arch::MobileNetV2 => mobilenet_v2(size, 1000, 0)?,
    };
    if include_top {
        return Ok(full);
    }
    // The layer before the global pooling: the last feature maps.
    let nodes = full.nodes();
    let last = nodes
        .iter()
        .position(|n| n.name == "avgpool")
        .and_then(|i| i.checked_sub(1))
        .map(|i| nodes[i].name.clone())
        .ok_or_else(|| Error::Model(format!("{}: no avgpool to cut before", spec.name)))?;
    match pooling {
        Pooling::Avg => GraphBuilder::from_graph(&full, "avgpool").and_then(|(b, y)| b.build(&[y])),
        Pooling::None => GraphBuilder::from_graph(&full, &last).and_then(|(b, y)| b.build(&[y])),
        Pooling::Max => {
            let (mut b, y) = GraphBuilder::from_graph(&full, &last)?;
            let dims = b.shape(y).map(|s| s.dims().to_vec()).unwrap_or_default();
            let [_, h, w] = dims[..] else {
                return Err(Error::Model(format!("{last}: not a [c, h, w] output")));
            };
            let window = (h, w);
            let y = b.add_named("maxpool_global", MaxPool2d::new(window), &[y])?;
            let y = b.add_named("flatten", Flatten, &[y])?;
            b.build(&[y])
        }
    }
}

/// The weights file of `spec`: `opts.weights`, else the hub's cached copy, else downloaded
/// into the cache (`progress` gets bytes so far and total). Load it into a model with a new
/// head through `Model::load_non_strict_renamed` with [`Spec::rename`].
pub fn weights(
    spec: &Spec,
    opts: &PretrainedOptions,
    progress: impl FnMut(u64, u64),
) -> Result<PathBuf> {
    match &opts.weights {
        Some(p) => Ok(p.clone()),
        None => opts.hub.get(spec.repo, &opts.revision, spec.file, progress),
    }
}

/// `name` (see [`spec`]) with its pretrained weights: from `opts.weights`, else the hub
/// cache, else downloaded (`progress` gets bytes so far and total). The ImageNet head is
/// loaded strictly; a headless model loads the backbone and reports the head as unexpected.
pub fn pretrained(
    gpu: &Gpu,
    name: &str,
    opts: &PretrainedOptions,
    progress: impl FnMut(u64, u64),
) -> Result<Pretrained> {
    let spec = spec(name)?;
    let size = opts.size.unwrap_or(spec.preset.size);
    if size < 32 {
        return Err(Error::invalid("pretrained", "size", size, "at least 32"));
    }
    let weights = match &opts.weights {
        Some(p) => p.clone(),
        None => opts
            .hub
            .get(spec.repo, &opts.revision, spec.file, progress)?,
    };
    let mut model = Model::new(gpu, graph(spec, size, opts.include_top, opts.pooling)?)?;
    let report = model.load_non_strict_renamed(&weights, &spec.rename)?;
    if let Some(m) = report.missing.first() {
        return Err(Error::format(
            &weights,
            format!(
                "not {} weights: `{m}` and {} more tensors are missing",
                spec.name,
                report.missing.len() - 1
            ),
        ));
    }
    if opts.include_top && !report.unexpected.is_empty() {
        return Err(Error::format(
            &weights,
            format!(
                "tensor `{}` has no place in {}",
                report.unexpected[0], spec.name
            ),
        ));
    }
    Ok(Pretrained {
        model,
        spec,
        weights,
        report,
    })
}

/// The 1,000 ImageNet class names by index, as Keras's `decode_predictions` names them
/// (`assets/imagenet_classes.txt`).
pub fn imagenet_classes() -> Vec<&'static str> {
    include_str!("../../assets/imagenet_classes.txt")
        .lines()
        .collect()
}

/// The `k` most likely classes of one sample's logits, as (index, softmax probability), most
/// likely first (Keras's `decode_predictions` without the names).
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f64)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&v| f64::from(v - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let mut ranked: Vec<(usize, f64)> = exp.iter().map(|e| e / total).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(k);
    ranked
}
