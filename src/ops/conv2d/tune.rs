//! Autotuning of the conv2d kernel choice: on first use of a shape class, every kernel variant
//! that supports it is timed on the adapter and the fastest is kept — in memory, and on disk
//! under the user cache directory, one file per adapter and driver, so a later process starts
//! tuned. The heuristic of `kernel.rs` is the fallback when tuning is off
//! (`WGCNN_AUTOTUNE=0` or [`ConvTuning::set_autotune`]) and for classes not tuned yet. Every variant
//! is proven against the reference, so tuning changes speed, not results beyond tolerance.
//!
//! A shape class is the pass, the kernel-relevant flags (pointwise, depthwise) and the
//! power-of-two buckets of the GEMM sizes M (output pixels), N (channels per group) and K
//! (reduction length): shapes in one class run best with the same tile.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use md5::{Digest, Md5};

use super::kernel::{choose_backward_data, choose_backward_filter, choose_direct, choose_forward};
use super::{gpu, shaders, winograd, Conv2dGeometry, Conv2dKernel, RegisterTile};
use crate::error::Result;
use crate::gpu::disk_cache::{cache_dir, store};
use crate::gpu::Gpu;
use crate::ops::matmul::gpu::SHADER as MATMUL;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Which conv2d pass a kernel runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConvPass {
    /// `y = conv2d(x, w)`.
    Forward,
    /// The input gradient `dx` from `dy` and `w`.
    BackwardData,
    /// The weight gradient `dw` from `x` and `dy`.
    BackwardFilter,
}

/// A tuned kernel choice's class (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ShapeClass {
    pass: ConvPass,
    pointwise: bool,
    depthwise: bool,
    /// Winograd applies (3×3, stride 1, no dilation, one group).
    winograd: bool,
    m: u32,
    n: u32,
    k: u32,
}

fn bucket(v: usize) -> u32 {
    usize::BITS - v.max(1).leading_zeros()
}

impl ShapeClass {
    /// The class of `g`'s `pass`: GEMM sizes M = `n·h_out·w_out`, N = `c_out/groups` and
    /// K = `c_in/groups·kh·kw`, each bucketed by its bit length.
    pub fn of(g: &Conv2dGeometry, pass: ConvPass) -> ShapeClass {
        ShapeClass {
            pass,
            pointwise: g.is_pointwise(),
            depthwise: g.is_depthwise(),
            winograd: winograd::eligible(g),
            m: bucket(g.n * g.h_out * g.w_out),
            n: bucket(g.cog()),
            k: bucket(g.reduction_len()),
        }
    }

    fn text(&self) -> String {
        let p = match self.pass {
            ConvPass::Forward => "fwd",
            ConvPass::BackwardData => "dx",
            ConvPass::BackwardFilter => "dw",
        };
        format!(
            "{p}:pw{}:dw{}:wg{}:m{}:n{}:k{}",
            u8::from(self.pointwise),
            u8::from(self.depthwise),
            u8::from(self.winograd),
            self.m,
            self.n,
            self.k
        )
    }
}

fn kernel_text(k: Conv2dKernel) -> String {
    match k {
        Conv2dKernel::Gemm(t) => format!("gemm{}x{}", t.mr, t.nr),
        Conv2dKernel::Pointwise(t) => format!("pointwise{}x{}", t.mr, t.nr),
        Conv2dKernel::Depthwise => "depthwise".into(),
        Conv2dKernel::Tiled => "tiled".into(),
        Conv2dKernel::Texture => "texture".into(),
        Conv2dKernel::Winograd(m) => format!("winograd{m}"),
    }
}

fn parse_kernel(s: &str) -> Option<Conv2dKernel> {
    let tile = |t: &str| {
        let (mr, nr) = t.split_once('x')?;
        Some(RegisterTile {
            mr: mr.parse().ok()?,
            nr: nr.parse().ok()?,
        })
    };
    match s {
        "depthwise" => Some(Conv2dKernel::Depthwise),
        "tiled" => Some(Conv2dKernel::Tiled),
        "texture" => Some(Conv2dKernel::Texture),
        _ => s
            .strip_prefix("pointwise")
            .and_then(tile)
            .map(Conv2dKernel::Pointwise)
            .or_else(|| {
                s.strip_prefix("gemm")
                    .and_then(tile)
                    .map(Conv2dKernel::Gemm)
            })
            .or_else(|| {
                let m = s.strip_prefix("winograd")?.parse().ok()?;
                Some(Conv2dKernel::Winograd(m))
            }),
    }
}

/// Forward FLOPs below which a class is not tuned (its pass runs the heuristic's kernel).
pub const MIN_TUNED_FLOPS: f64 = 5e7;

/// The tuner's state on a `Gpu`.
pub(crate) struct Tuner {
    enabled: Mutex<bool>,
    /// Largest workspace a conv kernel may make (see `ConvTuning::set_conv_workspace_limit`).
    workspace: Mutex<usize>,
    choices: Mutex<HashMap<ShapeClass, Conv2dKernel>>,
    /// The disk cache (none when no cache directory is known).
    file: Option<PathBuf>,
}

fn file_name(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map_or(String::new(), |f| f.display().to_string())
}

/// `<cache>/wgcnn/autotune/<adapter and driver>_<kernels>.json`, where `<kernels>` digests the
/// crate's conv kernels (their names and shaders): choices timed among another version's
/// kernels would otherwise hide a new or changed kernel from every tuned class for good.
fn cache_file(info: &wgpu::AdapterInfo) -> Option<PathBuf> {
    let name: String = format!("{} {} {:?}", info.name, info.driver_info, info.backend)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut kernels = Md5::new();
    for k in Conv2dKernel::all() {
        kernels.update(kernel_text(k));
    }
    for def in shaders::DEFS.into_iter().chain([&MATMUL]) {
        kernels.update(def.source);
    }
    let digest: String = kernels.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(
        cache_dir()?
            .join("autotune")
            .join(format!("{name}_{digest}.json")),
    )
}

impl Tuner {
    pub(crate) fn new(info: &wgpu::AdapterInfo) -> Tuner {
        let enabled = std::env::var("WGCNN_AUTOTUNE").map_or(true, |v| v != "0");
        let file = cache_file(info);
        let mut choices = HashMap::new();
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            // A damaged cache is only a lost cache: it is rewritten on the next tuning.
            let parsed = serde_json::from_str(&text);
            if !matches!(parsed, Ok(serde_json::Value::Object(_))) {
                log::warn!("damaged autotune cache ignored: {}", file_name(&file));
            }
            if let Ok(serde_json::Value::Object(map)) = parsed {
                for (k, v) in map {
                    if let (Some(class), Some(kernel)) =
                        (parse_class(&k), v.as_str().and_then(parse_kernel))
                    {
                        choices.insert(class, kernel);
                    }
                }
            }
        }
        Tuner {
            enabled: Mutex::new(enabled),
            workspace: Mutex::new(winograd::MAX_TEMP_BYTES),
            choices: Mutex::new(choices),
            file,
        }
    }

    fn save(&self, choices: &HashMap<ShapeClass, Conv2dKernel>) {
        let Some(file) = &self.file else { return };
        let map: serde_json::Map<String, serde_json::Value> = choices
            .iter()
            .map(|(c, k)| (c.text(), serde_json::Value::String(kernel_text(*k))))
            .collect();
        let Ok(text) = serde_json::to_string_pretty(&map) else {
            return;
        };
        // Best effort and atomic: a cache that cannot be written only costs a re-tune.
        store(file, text.as_bytes());
    }
}

fn parse_class(s: &str) -> Option<ShapeClass> {
    let mut it = s.split(':');
    let pass = match it.next()? {
        "fwd" => ConvPass::Forward,
        "dx" => ConvPass::BackwardData,
        "dw" => ConvPass::BackwardFilter,
        _ => return None,
    };
    let mut field = |prefix: &str| it.next()?.strip_prefix(prefix)?.parse::<u32>().ok();
    Some(ShapeClass {
        pass,
        pointwise: field("pw")? == 1,
        depthwise: field("dw")? == 1,
        winograd: field("wg")? == 1,
        m: field("m")?,
        n: field("n")?,
        k: field("k")?,
    })
}

fn heuristic(g: &Conv2dGeometry, pass: ConvPass, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    match pass {
        ConvPass::Forward => choose_forward(g, info),
        ConvPass::BackwardData => choose_backward_data(g, info),
        ConvPass::BackwardFilter => choose_backward_filter(g, info),
    }
}

/// The conv2d autotuner's controls, as methods of the `Gpu` whose choices they keep (the
/// tuner's state lives in the device's extension slot, owned by this module).
pub trait ConvTuning {
    /// Turns autotuning on or off for this `Gpu` (default: on unless `WGCNN_AUTOTUNE=0`).
    fn set_autotune(&self, on: bool);
    /// Whether autotuning is on.
    fn autotune(&self) -> bool;
    /// Caps the temporary memory one conv kernel may use, in bytes (default: 128 MiB, where
    /// Winograd's transformed tensors may take up to about 4.5× the conv's input and output,
    /// and the texture kernel's textures about its padded input and weights;
    /// 0 keeps every conv to the direct kernels, for the leanest plans). Plans compiled
    /// afterwards follow it.
    fn set_conv_workspace_limit(&self, bytes: usize);
    /// The conv workspace limit in bytes.
    fn conv_workspace_limit(&self) -> usize;
    /// The kernel for `g`'s `pass`: the tuned choice of its class if there is one (and tuning
    /// is on), else the heuristic; a direct kernel where those need more workspace than the
    /// limit allows.
    fn conv2d_kernel(&self, g: &Conv2dGeometry, pass: ConvPass) -> Conv2dKernel;
    /// Times the candidate kernels for `g`'s `pass` (unless its class is tuned already, its
    /// work is too small to matter or tuning is off) and keeps the fastest for the class.
    /// Returns the kernel `conv2d_kernel` will pick.
    fn tune_conv2d(&self, g: &Conv2dGeometry, pass: ConvPass) -> Result<Conv2dKernel>;
}

/// This device's tuner, made (and its disk cache read) on first use.
fn tuner(gpu: &Gpu) -> Arc<Tuner> {
    gpu.extension(|gpu| Tuner::new(gpu.adapter_info()))
}

impl ConvTuning for Gpu {
    fn set_autotune(&self, on: bool) {
        if let Ok(mut e) = tuner(self).enabled.lock() {
            *e = on;
        }
    }

    fn autotune(&self) -> bool {
        tuner(self).enabled.lock().map(|e| *e).unwrap_or(false)
    }

    fn set_conv_workspace_limit(&self, bytes: usize) {
        if let Ok(mut w) = tuner(self).workspace.lock() {
            *w = bytes;
        }
    }

    fn conv_workspace_limit(&self) -> usize {
        tuner(self).workspace.lock().map(|w| *w).unwrap_or(0)
    }

    fn conv2d_kernel(&self, g: &Conv2dGeometry, pass: ConvPass) -> Conv2dKernel {
        let tuner = tuner(self);
        let tuned = self.autotune().then(|| {
            let choices = tuner.choices.lock().ok()?;
            choices.get(&ShapeClass::of(g, pass)).copied()
        });
        let info = self.adapter_info();
        match tuned.flatten() {
            Some(k) if allowed(self, k, g, pass) => k,
            _ => match heuristic(g, pass, info) {
                k if allowed(self, k, g, pass) => k,
                k => {
                    let direct = choose_direct(g, pass, info);
                    log::debug!(
                        "conv2d {pass:?} {g}: {k:?} needs more than the workspace or binding \
                         limit, {direct:?} instead"
                    );
                    direct
                }
            },
        }
    }

    fn tune_conv2d(&self, g: &Conv2dGeometry, pass: ConvPass) -> Result<Conv2dKernel> {
        let class = ShapeClass::of(g, pass);
        let tuner = tuner(self);
        let known = tuner
            .choices
            .lock()
            .map(|c| c.get(&class).is_some_and(|k| allowed(self, *k, g, pass)))
            .unwrap_or(true);
        // Timing pays only where a choice can matter: below MIN_TUNED_FLOPS a worse kernel
        // costs a few milliseconds a step, while compiling the candidates costs seconds on a
        // software adapter with a cold shader cache.
        if !self.autotune() || known || g.flops() < MIN_TUNED_FLOPS {
            return Ok(self.conv2d_kernel(g, pass));
        }
        // On software adapters every candidate compiles through LLVM (a quarter to half a
        // second each when the shader cache is cold) and the register tiles were chosen by
        // hand there: only the heuristic's choice, its direct alternative and the Winograd
        // variants compete.
        let info = self.adapter_info();
        let hand_tuned = [heuristic(g, pass, info), choose_direct(g, pass, info)];
        let candidates: Vec<Conv2dKernel> = Conv2dKernel::all()
            .into_iter()
            .filter(|k| allowed(self, *k, g, pass))
            .filter(|k| {
                !self.is_software()
                    || hand_tuned.contains(k)
                    || matches!(k, Conv2dKernel::Winograd(_))
            })
            .collect();
        let choice = match candidates[..] {
            [] => self.conv2d_kernel(g, pass),
            [only] => only,
            _ => fastest(self, g, pass, &candidates)?,
        };
        log::info!(
            "conv2d autotune {}: {choice:?} (of {} candidates)",
            class.text(),
            candidates.len()
        );
        if let Ok(mut c) = tuner.choices.lock() {
            c.insert(class, choice);
            tuner.save(&c);
        }
        Ok(choice)
    }
}

/// Whether `k` may run `g`'s `pass` on this `Gpu`: supported, within the workspace limit,
/// each temporary within one storage binding of this device.
fn allowed(gpu: &Gpu, k: Conv2dKernel, g: &Conv2dGeometry, pass: ConvPass) -> bool {
    let binding = gpu
        .limits()
        .max_storage_buffer_binding_size
        .min(gpu.limits().max_buffer_size);
    k.supports(g, pass)
        && k.workspace(g, pass) <= gpu.conv_workspace_limit()
        && k.largest_temp(g, pass) as u64 <= binding
}

/// Times each candidate once on seeded inputs of `g`'s shapes, after a warm-up run of
/// each on one image, and returns the fastest. A candidate that fails (the device refuses
/// a buffer or a grid) drops out; if every one fails, the heuristic's choice stands.
fn fastest(
    gpu: &Gpu,
    g: &Conv2dGeometry,
    pass: ConvPass,
    candidates: &[Conv2dKernel],
) -> Result<Conv2dKernel> {
    let fill = |s: Shape| {
        let n = s.numel();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
            .collect();
        Tensor::from_slice(gpu, s, &v)
    };
    // Lavapipe compiles a pipeline at its first dispatch: every candidate runs once on
    // one image first, so the timed runs compare kernels, not compilers.
    let one = Conv2dGeometry { n: 1, ..*g };
    let inputs = |g: &Conv2dGeometry| -> Result<[Tensor; 3]> {
        Ok([fill(g.x_shape())?, fill(g.w_shape())?, fill(g.y_shape())?])
    };
    let (small, full) = (inputs(&one)?, inputs(g)?);
    let run = |k: Conv2dKernel, g: &Conv2dGeometry, [x, w, dy]: &[Tensor; 3]| -> Result<()> {
        match pass {
            ConvPass::Forward => gpu::forward(x, w, None, g, k, None).map(drop),
            ConvPass::BackwardData => gpu::backward_data(dy, w, g, k).map(drop),
            ConvPass::BackwardFilter => gpu::backward_filter(x, dy, g, k).map(drop),
        }
    };
    let runnable: Vec<Conv2dKernel> = candidates
        .iter()
        .copied()
        .filter(|&k| run(k, &one, &small).and_then(|()| gpu.sync()).is_ok())
        .collect();
    let mut best: Option<(f64, Conv2dKernel)> = None;
    for k in runnable {
        gpu.sync()?;
        let start = Instant::now();
        if run(k, g, &full).and_then(|()| gpu.sync()).is_err() {
            continue;
        }
        let t = start.elapsed().as_secs_f64();
        if best.is_none_or(|(b, _)| t < b) {
            best = Some((t, k));
        }
    }
    Ok(best.map_or_else(|| heuristic(g, pass, gpu.adapter_info()), |(_, k)| k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_kernels_round_trip_as_text() {
        let c = ShapeClass {
            pass: ConvPass::BackwardFilter,
            pointwise: true,
            depthwise: false,
            winograd: false,
            m: 17,
            n: 6,
            k: 9,
        };
        assert_eq!(parse_class(&c.text()), Some(c));
        for k in Conv2dKernel::all() {
            assert_eq!(parse_kernel(&kernel_text(k)), Some(k));
        }
        assert_eq!(parse_kernel("gemm4"), None);
        assert_eq!(parse_class("fwd:pw1"), None);
    }
}
