#![allow(dead_code)] // Each example includes this file and uses part of it.
//! Pieces the training examples share: optimiser and schedule flags, a progress bar over
//! `fit`, and the confusion matrix of a test set.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use wgcnn::graph::Graph;
use wgcnn::models::{self, VggDepth};
use wgcnn::ops::optim::Optimizer;
use wgcnn::train::callbacks::{Callback, OnEvent};
use wgcnn::train::{Event, FitOptions, History, Model, Schedule, Source};

pub mod ranks;

/// `println!` on rank 0 only (every process when not under MPI).
#[allow(unused_macros)]
macro_rules! root_println {
    ($ranks:expr, $($arg:tt)*) => {
        if $ranks.root() {
            println!($($arg)*);
        }
    };
}
#[allow(unused_imports)]
pub(crate) use root_println;

/// Samples per step over every rank: `batch` per rank × ranks; rank 0 says so when the
/// model is data-parallel.
pub fn global_batch(model: &Model, batch: usize) -> usize {
    let ranks = model.world().1;
    if ranks > 1 && model.is_root() {
        println!(
            "data-parallel over {ranks} ranks: batch {batch} per rank, global batch {}",
            batch * ranks
        );
    }
    batch * ranks
}

/// Runs an example's `run`: an error is printed to stderr and exits with status 1 (under MPI
/// it ends the whole job, so no other rank is left waiting).
pub fn exit_on_error(result: Result<(), Box<dyn std::error::Error>>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        #[cfg(feature = "mpi")]
        wgcnn::dist::abort_job(1);
        std::process::exit(1);
    }
}

/// The zoo models the examples train, by command-line name.
pub const MODELS: &str = "simple-cnn, resnet20, resnet32, resnet56, vgg11, vgg16, alexnet, googlenet (CIFAR); mnist-cnn, seeds (28×28 grey)";

pub fn zoo(name: &str, classes: usize, seed: u64) -> Result<Graph, String> {
    let (c, s) = (classes, seed);
    let g = match name {
        "simple-cnn" => models::simple_cnn(c, s),
        "resnet20" => models::resnet_cifar(3, c, s),
        "resnet32" => models::resnet_cifar(5, c, s),
        "resnet56" => models::resnet_cifar(9, c, s),
        "vgg11" => models::vgg(VggDepth::V11, true, true, c, s),
        "vgg16" => models::vgg(VggDepth::V16, true, true, c, s),
        "alexnet" => models::alexnet(c, true, true, s),
        "googlenet" => models::googlenet_small(c, s),
        "mnist-cnn" => models::mnist_cnn(c, s),
        "seeds" => models::fashion_mnist_cnn(c, s),
        other => return Err(format!("unknown model `{other}`: use {MODELS}")),
    };
    g.map_err(|e| e.to_string())
}

/// What `classify` needs to rebuild and feed a checkpoint's model, as safetensors metadata.
pub fn metadata(
    model: &str,
    classes: &[&str],
    mean: Option<&[f32]>,
    std: Option<&[f32]>,
) -> Vec<(String, String)> {
    let json = |v: &[f32]| format!("{v:?}");
    let mut m = vec![
        ("model".to_string(), model.to_string()),
        ("classes".to_string(), format!("{classes:?}")),
    ];
    if let (Some(a), Some(b)) = (mean, std) {
        m.push(("mean".into(), json(a)));
        m.push(("std".into(), json(b)));
    }
    m
}

/// A picture as the input of `graph`'s model: resized (shorter side) and centre-cropped to
/// its size, grey for one-channel models, normalised with the checkpoint metadata's mean and
/// std when it has them (see [`metadata`]).
pub fn picture_input(
    graph: &Graph,
    meta: &std::collections::HashMap<String, String>,
    path: &std::path::Path,
) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let input = graph.shape(graph.inputs()[0]).dims().to_vec();
    let (channels, size) = (input[0], input[1]);
    let rgb = wgcnn::data::load_image(path, size as u32)?;
    let plane = size * size;
    let mut x: Vec<f32> = match channels {
        3 => rgb,
        1 => (0..plane)
            .map(|i| 0.299 * rgb[i] + 0.587 * rgb[plane + i] + 0.114 * rgb[2 * plane + i])
            .collect(),
        c => return Err(format!("models with {c} input channels are not supported here").into()),
    };
    let floats = |s: &str| -> Result<Vec<f32>, String> {
        serde_json::from_str(s).map_err(|e| format!("bad metadata `{s}`: {e}"))
    };
    if let (Some(m), Some(s)) = (meta.get("mean"), meta.get("std")) {
        let (m, s) = (floats(m)?, floats(s)?);
        if m.len() < channels || s.len() < channels {
            return Err(format!("the metadata's mean and std need {channels} values").into());
        }
        for (i, v) in x.iter_mut().enumerate() {
            let c = i / plane;
            *v = (*v - m[c]) / s[c];
        }
    }
    Ok(x)
}

/// Saves `model` with `meta` (see [`metadata`]).
pub fn save(model: &Model, path: &std::path::Path, meta: &[(String, String)]) -> wgcnn::Result<()> {
    let pairs: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    model.save_with(path, &pairs)
}

/// `adam`, `adamw`, `sgd` (momentum 0.9, Nesterov), `nadam` or `rmsprop` at rate `lr`, with
/// weight decay `wd`.
pub fn optimizer(name: &str, lr: f32, wd: f32) -> Result<Optimizer, String> {
    Ok(match name {
        "adam" => match Optimizer::adam(lr) {
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay: wd,
                decoupled: false,
            },
            o => o,
        },
        "adamw" => Optimizer::adamw(lr, wd),
        "sgd" => Optimizer::Sgd {
            lr,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: wd,
            nesterov: true,
        },
        "nadam" => Optimizer::nadam(lr),
        "rmsprop" => Optimizer::rmsprop(lr),
        other => {
            return Err(format!(
                "--optimizer {other}: use adam, adamw, sgd, nadam or rmsprop"
            ))
        }
    })
}

/// `constant`, `step` (×0.1 at half and three quarters), `cosine` or `onecycle` over `total`
/// steps with peak / base rate `lr`.
pub fn schedule(name: &str, total: u64, lr: f32) -> Result<Schedule, String> {
    Ok(match name {
        "constant" => Schedule::Constant,
        "step" => Schedule::Step {
            every: (total / 2).max(1),
            gamma: 0.1,
        },
        "cosine" => Schedule::Cosine { total, min_lr: 0.0 },
        "onecycle" => Schedule::OneCycle {
            total,
            max_lr: lr,
            pct_start: 0.3,
        },
        other => {
            return Err(format!(
                "--schedule {other}: use constant, step, cosine or onecycle"
            ))
        }
    })
}

/// `fit` with a progress bar per epoch (loss, accuracy, images/s) and a line per epoch.
pub fn fit_with_progress(
    model: &mut Model,
    train: &dyn Source,
    valid: Option<&dyn Source>,
    opts: &FitOptions,
    callbacks: &mut [&mut dyn Callback],
) -> wgcnn::Result<History> {
    let ranks = model.world().1;
    let steps = train.len().div_ceil(opts.batch_size * ranks) as u64;
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let started = Instant::now();
    let mut progress = OnEvent(|e: Event<'_>| match e {
        Event::Step(s) => {
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(steps).with_style(style.clone());
                b.set_prefix(format!("{}/{}", s.epoch + 1, opts.epochs));
                b
            });
            b.set_position(s.step as u64);
            let acc = s
                .accuracy
                .map_or(String::new(), |a| format!(" acc {:.1}%", 100.0 * a));
            b.set_message(format!(
                "loss {:.4}{acc} {:.0} img/s",
                s.loss, s.images_per_sec
            ));
        }
        Event::Epoch(l) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let pct = |m: Option<f64>| m.map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
            let valid = l.valid.as_ref().map_or(String::new(), |v| {
                format!(", valid loss {:.4} acc {}", v.loss, pct(v.accuracy))
            });
            println!(
                "epoch {}/{}: loss {:.4} acc {}{valid} ({:.0} s, {:.0} img/s, lr {:.2e}, {:.0} s total)",
                l.epoch + 1,
                opts.epochs,
                l.train.loss,
                pct(l.train.accuracy),
                l.seconds,
                l.images_per_sec,
                l.lr,
                started.elapsed().as_secs_f64()
            );
        }
    });
    // Data-parallel: rank 0 reports, the others train quietly.
    let mut all: Vec<&mut dyn Callback> = Vec::new();
    if model.is_root() {
        all.push(&mut progress);
    }
    all.extend(callbacks.iter_mut().map(|c| &mut **c as &mut dyn Callback));
    model.fit_from(train, valid, opts, &mut all)
}

/// Test accuracy and the confusion matrix (rows: true class, columns: predicted) of the
/// first head: the largest logit, or for one output (a sigmoid head) whether it is above 0.
pub fn confusion(
    model: &mut Model,
    test: &dyn Source,
    classes: usize,
    batch: usize,
) -> wgcnn::Result<(f64, Vec<Vec<usize>>)> {
    let mut m = vec![vec![0; classes]; classes];
    let order: Vec<usize> = (0..test.len()).collect();
    for idx in order.chunks(batch.max(1)) {
        let b = test.batch(idx)?;
        if b.x.is_empty() {
            continue;
        }
        let logits = model.predict(&b.x, batch)?.swap_remove(0);
        let per = logits.len() / b.targets[0].len().max(1);
        for (row, &t) in logits.chunks(per.max(1)).zip(&b.targets[0]) {
            let p = match row {
                [one] => usize::from(*one > 0.0),
                _ => row
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, &v)| if v > row[b] { i } else { b }),
            };
            m[t as usize][p] += 1;
        }
    }
    let seen: usize = m.iter().flatten().sum();
    let right: usize = (0..classes).map(|i| m[i][i]).sum();
    Ok((right as f64 / seen.max(1) as f64, m))
}

/// Prints a confusion matrix with short class names.
pub fn print_confusion(m: &[Vec<usize>], names: &[&str]) {
    let short: Vec<String> = names.iter().map(|n| n.chars().take(6).collect()).collect();
    print!("{:>8}", "");
    for s in &short {
        print!("{s:>7}");
    }
    println!();
    for (row, s) in m.iter().zip(&short) {
        print!("{s:>8}");
        for v in row {
            print!("{v:>7}");
        }
        println!();
    }
}

/// The Keras tutorials' augmentation (`RandomFlip("horizontal")`, `RandomRotation(0.1)`) as
/// the first layer of `graph`.
pub fn prepend_flip_and_rotation(graph: &mut Graph) -> wgcnn::Result<()> {
    let augment = wgcnn::ops::augment::AugmentParams {
        flip: true,
        max_angle: 0.1 * std::f32::consts::TAU,
        ..Default::default()
    };
    graph.prepend("augment", wgcnn::nn::Augment(augment), 0)
}

/// The weights file of a pretrained model from a `--weights` argument: `hub:<repo>` (it must
/// be the model's repository; also the default when `arg` is `None`) from the Hugging Face
/// cache or downloaded with a progress bar, or a file path.
pub fn pretrained_weights(
    spec: &wgcnn::models::pretrained::Spec,
    arg: Option<&str>,
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let mut opts = wgcnn::models::pretrained::PretrainedOptions::default();
    match arg.map(|w| w.strip_prefix("hub:").ok_or(w)) {
        None => {}
        Some(Ok(repo)) if repo == spec.repo => {}
        Some(Ok(repo)) => {
            let want = spec.repo;
            return Err(format!("{}'s weights are hub:{want}, not hub:{repo}", spec.name).into());
        }
        Some(Err(file)) => opts.weights = Some(file.into()),
    }
    // A bar only when a download starts (a cached file reports no progress).
    let mut bar: Option<ProgressBar> = None;
    let path = wgcnn::models::pretrained::weights(spec, &opts, |got, total| {
        bar.get_or_insert_with(|| {
            ProgressBar::new(total).with_message(format!("{} {}", spec.repo, spec.file))
        })
        .set_position(got);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(path)
}
