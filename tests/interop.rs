//! The zoo against PyTorch without PyTorch: `tools/export_interop.py` set every parameter and
//! buffer of torchvision's and timm's models from a formula of its name, ran them in float64
//! and committed the logits (`tests/interop/logits.json`); here the zoo models get the same
//! values and must give the same logits. timm's models are filled under timm's names, written
//! as a state dict and loaded through `models::pretrained`'s name mapping.

use wgcnn::graph::Graph;
use wgcnn::models::{self, pretrained, ResNetDepth};
use wgcnn::testing::gpu;
use wgcnn::train::Model;

const SIZE: usize = 64;
const CLASSES: usize = 10;

fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// The export script's formula for tensor `name` of `shape`.
fn formula(name: &str, shape: &[usize]) -> Vec<f32> {
    let k: usize = shape.iter().product();
    let p = (fnv1a(name) % 1000) as f64 / 1000.0;
    (0..k)
        .map(|i| {
            let s = (2.399963 * i as f64 + 1.3 + 2.0 * std::f64::consts::PI * p).sin();
            let v = if name.ends_with("running_mean") {
                0.1 * s
            } else if name.ends_with("running_var") {
                1.0 + 0.25 * s
            } else if name.ends_with("bias") {
                0.1 * s
            } else if shape.len() >= 2 {
                s / (k as f64 / shape[0] as f64).sqrt()
            } else {
                1.0 + 0.2 * s
            };
            v as f32
        })
        .collect()
}

fn zoo(name: &str) -> Graph {
    match name {
        "resnet18" => models::resnet(ResNetDepth::R18, SIZE, CLASSES, 0),
        "resnet50" => models::resnet(ResNetDepth::R50, SIZE, CLASSES, 0),
        "resnet101" => models::resnet(ResNetDepth::R101, SIZE, CLASSES, 0),
        "resnet152" => models::resnet(ResNetDepth::R152, SIZE, CLASSES, 0),
        "mobilenet_v2" | "mobilenetv2_100" => models::mobilenet_v2(SIZE, CLASSES, 0),
        "legacy_xception" => models::xception(SIZE, CLASSES, 0),
        "googlenet" => models::googlenet(SIZE, CLASSES, 0),
        "seresnet50" => models::seresnet50(SIZE, CLASSES, 0),
        other => panic!("no zoo model for the case {other}"),
    }
    .unwrap()
}

/// A state dict under timm's names, as a safetensors file.
fn timm_file(case: &serde_json::Value, path: &std::path::Path) {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = case["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t[0].as_str().unwrap().to_string();
            let shape: Vec<usize> = t[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let bytes = formula(&name, &shape)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.clone(), v.unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn zoo_models_give_pytorchs_float64_logits() {
    let json = include_str!("interop/logits.json");
    let golden: serde_json::Value = serde_json::from_str(json).unwrap();
    let n = 2 * 3 * SIZE * SIZE;
    let x: Vec<f32> = (0..n).map(|i| (0.1 * i as f64).sin() as f32).collect();
    let gpu = gpu();
    let cases = golden["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 9);
    for (name, case) in cases {
        let mut g = zoo(name);
        let mut m = match case["names"].as_str().unwrap() {
            "zoo" => {
                for p in g.params_mut() {
                    p.data = formula(&p.name, p.spec.shape.dims());
                }
                Model::new(&gpu, g).unwrap()
            }
            _ => {
                let file = std::env::temp_dir().join(format!(
                    "wgcnn-interop-{}-{name}.safetensors",
                    std::process::id()
                ));
                timm_file(case, &file);
                let mut m = Model::new(&gpu, g).unwrap();
                let rename = pretrained::spec("mobilenet_v2").unwrap().rename;
                let report = m.load_non_strict_renamed(&file, &rename).unwrap();
                assert!(report.missing.is_empty(), "{name}: {:?}", report.missing);
                assert!(
                    report.unexpected.is_empty(),
                    "{name}: {:?}",
                    report.unexpected
                );
                std::fs::remove_file(&file).unwrap();
                m
            }
        };
        let ours = m.predict(&x, 2).unwrap().swap_remove(0);
        let want: Vec<f64> = case["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), want.len(), "{name}");
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let err = ours
            .iter()
            .zip(&want)
            .fold(0.0f64, |a, (o, w)| a.max((f64::from(*o) - w).abs()));
        eprintln!(
            "{name}: max |ours − PyTorch f64| = {:.2e} of the largest logit",
            err / scale
        );
        assert!(err <= 1e-5 * scale, "{name}: {err} of {scale}");
    }
}
