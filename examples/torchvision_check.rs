//! Loads safetensors files exported from torchvision and timm (`tools/export_torchvision.py`)
//! into the zoo models of the same architecture and compares the logits with PyTorch's.
//!
//! `python3 tools/export_torchvision.py /tmp/tv && cargo run --release --example torchvision_check -- /tmp/tv`

use std::path::{Path, PathBuf};

use clap::Parser;
use wgcnn::graph::Graph;
use wgcnn::models::{self, pretrained, ResNetDepth, VggDepth};
use wgcnn::train::Model;
use wgcnn::Gpu;

#[derive(Parser)]
struct Args {
    dir: PathBuf,
    /// Largest accepted |ours − PyTorch| as a fraction of the largest |logit|.
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f64,
}

fn tensor(st: &safetensors::SafeTensors<'_>, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
    let t = st.tensor(name).map_err(|e| format!("{name}: {e}"))?;
    let v = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((t.shape().to_vec(), v))
}

/// A map from a file's tensor names to the zoo's.
type Rename = fn(&str) -> String;

/// The largest |ours − PyTorch| over the largest |logit|. A state dict under the zoo's
/// names loads strictly; one under timm's (`rename` given) through the name mapping, every
/// parameter found.
fn check(
    gpu: &Gpu,
    dir: &Path,
    name: &str,
    graph: Graph,
    rename: Option<Rename>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let io = std::fs::read(dir.join(format!("{name}.io.safetensors")))?;
    let st = safetensors::SafeTensors::deserialize(&io)?;
    let ((_, x), (_, logits)) = (tensor(&st, "input")?, tensor(&st, "logits")?);
    let mut m = Model::new(gpu, graph)?;
    let weights = dir.join(format!("{name}.safetensors"));
    match rename {
        None => m.load(&weights)?,
        Some(r) => {
            let report = m.load_non_strict_renamed(&weights, &r)?;
            if let Some(t) = report.missing.first().or(report.unexpected.first()) {
                return Err(format!("`{t}` does not map between timm and the zoo").into());
            }
        }
    }
    let ours = m.predict(&x, 2)?.swap_remove(0);
    let scale = logits
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(0.0, f64::max);
    let err = ours
        .iter()
        .zip(&logits)
        .map(|(a, b)| f64::from(a - b).abs())
        .fold(0.0, f64::max);
    Ok(err / scale.max(1e-12))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let gpu = Gpu::new()?;
    println!("{}", gpu.describe());
    let timm_mobilenet = pretrained::spec("mobilenet_v2")?.rename;
    let cases: Vec<(&str, Graph, Option<Rename>)> = vec![
        (
            "resnet18",
            models::resnet(ResNetDepth::R18, 64, 10, 0)?,
            None,
        ),
        (
            "resnet34",
            models::resnet(ResNetDepth::R34, 64, 10, 0)?,
            None,
        ),
        (
            "resnet50",
            models::resnet(ResNetDepth::R50, 64, 10, 0)?,
            None,
        ),
        (
            "resnet101",
            models::resnet(ResNetDepth::R101, 64, 10, 0)?,
            None,
        ),
        (
            "resnet152",
            models::resnet(ResNetDepth::R152, 64, 10, 0)?,
            None,
        ),
        ("mobilenet_v2", models::mobilenet_v2(64, 10, 0)?, None),
        (
            "vgg19",
            models::vgg(VggDepth::V19, false, false, 10, 0)?,
            None,
        ),
        (
            "vgg19_bn",
            models::vgg(VggDepth::V19, true, false, 10, 0)?,
            None,
        ),
        (
            "vgg11_bn",
            models::vgg(VggDepth::V11, true, false, 10, 0)?,
            None,
        ),
        ("alexnet", models::alexnet(10, false, false, 0)?, None),
        ("legacy_xception", models::xception(64, 10, 0)?, None),
        ("googlenet", models::googlenet(64, 10, 0)?, None),
        ("seresnet50", models::seresnet50(64, 10, 0)?, None),
        (
            "mobilenetv2_100",
            models::mobilenet_v2(64, 10, 0)?,
            Some(timm_mobilenet),
        ),
    ];
    let mut failed = 0;
    for (name, g, rename) in cases {
        let pair = [
            format!("{name}.safetensors"),
            format!("{name}.io.safetensors"),
        ];
        if let Some(absent) = pair.iter().find(|f| !a.dir.join(f).is_file()) {
            println!("{name}: skipped: no {absent} in {}", a.dir.display());
            continue;
        }
        match check(&gpu, &a.dir, name, g, rename) {
            Ok(rel) if rel <= a.tolerance => {
                println!("{name}: ok, max |ours − PyTorch| = {rel:.2e} of the largest logit")
            }
            Ok(rel) => {
                failed += 1;
                println!("{name}: FAILED, max |ours − PyTorch| = {rel:.2e} of the largest logit");
            }
            Err(e) => match e.downcast_ref::<wgcnn::Error>() {
                // A tensor past this adapter's limits (an activation that no op can bind in
                // parts): a limit, not a mismatch.
                Some(wgcnn::Error::TooLarge { .. }) => println!("{name}: skipped: {e}"),
                _ => {
                    failed += 1;
                    println!("{name}: FAILED: {e}");
                }
            },
        }
    }
    if failed > 0 {
        return Err(format!("{failed} models differ from PyTorch").into());
    }
    Ok(())
}
