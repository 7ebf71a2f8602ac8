//! Runs outside-framework golden cases (the format of GOLDEN_FORMAT.md: a `cases.json`
//! manifest and one folder of raw little-endian f32 files per case) against the GPU ops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::shape::{Padding, Shape, HW};
use crate::tensor::Tensor;

mod conv;
mod elementwise;
mod matmul;
mod norm;
mod optim;
mod pool;
mod reduce;

/// What happened to one case.
#[derive(Clone, Debug)]
pub enum Status {
    /// Every output within its bound; the worst error as a fraction of its bound.
    Passed { worst: f64 },
    /// Some output outside its bound, or the case could not be read or run.
    Failed { worst: f64, why: String },
    /// The crate does not implement this op yet.
    Skipped,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub op: String,
    pub status: Status,
}

/// Ops the runner can check.
pub const SUPPORTED_OPS: &[&str] = &[
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "linear",
    "relu",
    "softmax_cross_entropy",
    "sgd_step",
    "adam_step",
    "adamw_step",
    "batch_norm2d_train",
    "batch_norm2d_eval",
    "conv_transpose2d",
];

/// Reads `dir/cases.json` and runs every case on `gpu`. A broken manifest is an `Err`; a
/// broken case is a failed case.
pub fn run_dir(gpu: &Gpu, dir: &Path) -> Result<Vec<Outcome>> {
    let path = dir.join("cases.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| Error::Format {
        path: path.clone(),
        what: format!("not valid JSON: {e}"),
    })?;
    let cases = manifest["cases"].as_array().ok_or_else(|| Error::Format {
        path: path.clone(),
        what: "no `cases` array".into(),
    })?;
    Ok(cases.iter().map(|c| run_case(gpu, dir, c)).collect())
}

fn run_case(gpu: &Gpu, dir: &Path, case: &Value) -> Outcome {
    let name = case["name"].as_str().unwrap_or("<unnamed>").to_string();
    let op = case["op"].as_str().unwrap_or("<no op>").to_string();
    let status = if !SUPPORTED_OPS.contains(&op.as_str()) {
        Status::Skipped
    } else {
        let folder = dir.join(&name);
        let run = |c: Case| match op.as_str() {
            "conv2d" => c.run_conv2d(gpu),
            "conv_transpose2d" => c.run_conv_transpose2d(gpu),
            "max_pool2d" => c.run_max_pool2d(gpu),
            "avg_pool2d" => c.run_avg_pool2d(gpu),
            "relu" => c.run_relu(gpu),
            "linear" => c.run_linear(gpu),
            "softmax_cross_entropy" => c.run_softmax_cross_entropy(gpu),
            "sgd_step" => c.run_sgd_step(gpu),
            "batch_norm2d_train" => c.run_batch_norm(gpu, true),
            "batch_norm2d_eval" => c.run_batch_norm(gpu, false),
            "adam_step" | "adamw_step" => c.run_adam_step(gpu, op == "adamw_step"),
            "adaptive_avg_pool2d" => c.run_adaptive_avg_pool2d(gpu),
            other => Err(Error::format(
                &c.folder,
                format!("no runner for op `{other}`"),
            )),
        };
        match Case::read(&folder, case).and_then(run) {
            Ok(status) => status,
            Err(e) => Status::Failed {
                worst: f64::INFINITY,
                why: e.to_string(),
            },
        }
    };
    Outcome { name, op, status }
}

pub(super) struct Tensor32 {
    shape: Vec<usize>,
    data: Vec<f32>,
    max_abs: f64,
}

pub(super) struct Case<'a> {
    folder: PathBuf,
    pub(super) params: &'a Value,
    tensors: HashMap<String, Tensor32>,
}

/// Reads a raw little-endian f32 file that must hold exactly `numel` values.
pub fn read_f32(path: &Path, numel: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if Some(bytes.len()) != numel.checked_mul(4) {
        return Err(Error::format(
            path,
            format!("{} bytes, expected 4 × {numel} for its shape", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

impl<'a> Case<'a> {
    fn read(folder: &Path, case: &'a Value) -> Result<Case<'a>> {
        let mut tensors = HashMap::new();
        let list = case["tensors"]
            .as_array()
            .ok_or_else(|| Error::format(folder, "case has no `tensors` list"))?;
        for t in list {
            let (Some(name), Some(file), Some(shape)) = (
                t["name"].as_str(),
                t["file"].as_str(),
                t["shape"].as_array(),
            ) else {
                return Err(Error::format(
                    folder,
                    "a tensor entry lacks name, file or shape",
                ));
            };
            let shape: Vec<usize> = shape
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    Error::format(
                        folder,
                        format!("tensor {name}: shape is not a list of sizes"),
                    )
                })?;
            let numel = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| Error::format(folder, format!("tensor {name}: shape overflows")))?;
            let data = read_f32(&folder.join(file), numel)?;
            let max_abs = t["max_abs"].as_f64().unwrap_or_else(|| {
                data.iter()
                    .fold(0.0, |m: f64, &v| m.max(f64::from(v).abs()))
            });
            tensors.insert(
                name.to_string(),
                Tensor32 {
                    shape,
                    data,
                    max_abs,
                },
            );
        }
        Ok(Case {
            folder: folder.to_path_buf(),
            params: &case["params"],
            tensors,
        })
    }

    pub(super) fn pair(&self, key: &str) -> Result<HW<usize>> {
        match self.params[key]
            .as_array()
            .map(|a| a.iter().map(Value::as_u64).collect::<Vec<_>>())
        {
            Some(v) if v.len() == 2 && v.iter().all(Option::is_some) => Ok(HW::new(
                v[0].unwrap_or(0) as usize,
                v[1].unwrap_or(0) as usize,
            )),
            _ => Err(Error::format(
                &self.folder,
                format!("param `{key}` is not [h, w]"),
            )),
        }
    }

    pub(super) fn usize_param(&self, key: &str) -> Result<usize> {
        self.params[key]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| {
                Error::format(
                    &self.folder,
                    format!("param `{key}` is missing or not a count"),
                )
            })
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// `padding` as `[top, bottom, left, right]`.
    pub(super) fn padding(&self) -> Result<Padding> {
        let pads: Vec<usize> = self.params["padding"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|v| v as usize)
                    .collect()
            })
            .unwrap_or_default();
        match pads[..] {
            [top, bottom, left, right] => Ok(Padding::Explicit {
                top,
                bottom,
                left,
                right,
            }),
            _ => Err(Error::format(
                &self.folder,
                "param `padding` is not [top, bottom, left, right]",
            )),
        }
    }

    pub(super) fn tensor(&self, name: &str) -> Result<&Tensor32> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::format(&self.folder, format!("tensor `{name}` missing")))
    }

    pub(super) fn upload(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        let t = self.tensor(name)?;
        Tensor::from_slice(gpu, Shape::new(t.shape.clone()), &t.data)
    }
}

/// GOLDEN_FORMAT.md's bound for an f32 implementation with its own summation order:
/// `1e-5 · max(1, max_abs) · max(1, sqrt(k / 64))` for a reduction of length `k`.
pub fn tolerance(max_abs: f64, k: usize) -> f64 {
    1e-5 * max_abs.max(1.0) * (k as f64 / 64.0).sqrt().max(1.0)
}

/// Dimension `i` of `t`, or 0 when `t` has fewer dimensions: a misshapen case then fails in the
/// op's own shape check, with its message, instead of panicking here.
pub(super) fn dim(t: &Tensor, i: usize) -> usize {
    t.dims().get(i).copied().unwrap_or(0)
}

/// Compares outputs with their golden values and keeps the worst error as a fraction of its
/// bound.
#[derive(Default)]
pub(super) struct Checker {
    worst: f64,
    why: Vec<String>,
}

impl Checker {
    /// `tol` = 0 demands exact equality.
    pub(super) fn check(&mut self, name: &str, got: &[f32], want: &Tensor32, tol: f64) {
        if got.len() != want.data.len() {
            self.why.push(format!(
                "{name}: {} values, golden has {}",
                got.len(),
                want.data.len()
            ));
            self.worst = f64::INFINITY;
            return;
        }
        let (mut err, mut at) = (0.0f64, 0);
        for (i, (&a, &e)) in got.iter().zip(&want.data).enumerate() {
            // A NaN or infinite golden value (where PyTorch defines one) must be met exactly.
            let d = if e.is_finite() {
                (f64::from(a) - f64::from(e)).abs()
            } else if a.is_nan() && e.is_nan() || a == e {
                0.0
            } else {
                f64::INFINITY
            };
            if d > err || d.is_nan() {
                err = if d.is_nan() { f64::INFINITY } else { d };
                at = i;
            }
        }
        let ratio = if tol > 0.0 {
            err / tol
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        self.worst = self.worst.max(ratio);
        if ratio > 1.0 {
            self.why.push(format!(
                "{name}[{at}]: got {} golden {} (|err| {err:.3e} > {tol:.3e})",
                got[at], want.data[at]
            ));
        }
    }

    pub(super) fn status(self) -> Status {
        if self.why.is_empty() {
            Status::Passed { worst: self.worst }
        } else {
            Status::Failed {
                worst: self.worst,
                why: self.why.join("; "),
            }
        }
    }
}
