//! One-shot benchmark tables on the BENCH.md workloads: every conv2d shape, the other
//! kernels (pooling, matmul, softmax cross-entropy, batch norm), and whole training steps
//! (images/s at batch 64, submits and dispatches per step, time to the first step).
//!
//! `cargo run --release --example bench [-- --json] [--runs 5] [--only vgg_c2]`
//!
//! GPU times are wall-clock from recording to a completed device sync (median of `--runs`,
//! after a warm-up run that also compiles the pipelines). The CPU reference is the plain f64
//! loop nest that proves the kernels; it is timed on one image of the batch.

use std::time::Instant;

use clap::Parser;
use wgcnn::ops::conv2d::{self, cpu, Conv2dGeometry, Conv2dKernel, ConvPass, RegisterTile};
use wgcnn::testing::workloads::{
    infer_graph, ConvWorkload, OtherWorkload, TrainWorkload, CONV, INFER, INFER_BATCH, OTHER,
    TRAIN, TRAIN_BATCH,
};
use wgcnn::testing::{to_f64, Rng};
use wgcnn::train::Model;
use wgcnn::{ConvTuning, Gpu, Shape, Tensor};

#[derive(Parser)]
struct Args {
    /// Print one JSON object per workload instead of the table.
    #[arg(long)]
    json: bool,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only the workloads whose name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Skip timing the CPU reference.
    #[arg(long)]
    no_cpu: bool,
    /// Conv kernels: `auto` (the heuristic choice), `tuned` (the autotuner's, per pass), or
    /// force `gemm` (register-blocked) or `tiled` (workgroup memory) forward, or `texture`
    /// (texel-fed), `winograd2` / `winograd4` forward and dX where the shape allows, to compare
    /// them.
    #[arg(long, default_value = "auto")]
    forward: String,
    /// Register tile of the conv GEMM kernels as MRxNR (4x8, 8x8, 8x16, 16x4 or 1x8); default:
    /// each pass's own choice. The matmul rows and training steps keep the adapter's choice.
    #[arg(long)]
    tile: Option<String>,
    /// Only measure the cold start of one training workload (lenet5, simple_cnn, resnet20,
    /// vgg11): process start to the end of its first step, adapter and pipelines included.
    #[arg(long)]
    cold_start: Option<String>,
    /// After the training-step table, one profiled step per workload: device time by kernel.
    #[arg(long)]
    profile: bool,
    /// JSON lines from `tools/bench_pytorch.py` to put beside ours, with ratios.
    #[arg(long)]
    pytorch: Option<std::path::PathBuf>,
}

/// PyTorch's times by workload name (fields of `tools/bench_pytorch.py`).
#[derive(Default)]
struct Torch {
    rows: std::collections::HashMap<String, serde_json::Value>,
    label: String,
}

impl Torch {
    fn load(path: Option<&std::path::Path>) -> Result<Torch, Box<dyn std::error::Error>> {
        let Some(path) = path else {
            return Ok(Torch::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut t = Torch::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = v["workload"].as_str().unwrap_or_default().to_string();
            t.label = v["adapter"].as_str().unwrap_or_default().to_string();
            t.rows.insert(name, v);
        }
        Ok(t)
    }
    fn get(&self, name: &str, field: &str) -> Option<f64> {
        self.rows.get(name)?.get(field)?.as_f64()
    }
    /// " theirs | ours ÷ theirs |" cells for a throughput (higher is better), or empty.
    fn cells(&self, ours: f64, theirs: Option<f64>) -> String {
        match (self.rows.is_empty(), theirs) {
            (true, _) => String::new(),
            (false, Some(t)) => format!(" {t:.2} | {:.2}× |", ours / t),
            (false, None) => " - | - |".into(),
        }
    }
}

struct Row {
    name: &'static str,
    gflop: f64,
    fwd_ms: f64,
    train_ms: f64,
    cpu_gflops: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(gpu: &Gpu, runs: usize, mut f: impl FnMut() -> wgcnn::Result<()>) -> wgcnn::Result<f64> {
    f()?;
    gpu.sync()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        gpu.sync()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

fn measure(gpu: &Gpu, wl: &ConvWorkload, args: &Args, tile: RegisterTile) -> wgcnn::Result<Row> {
    let g = wl.geometry();
    let mut rng = Rng::new(1);
    let x = Tensor::from_slice(gpu, g.x_shape(), &rng.vec(g.x_shape().numel()))?;
    let w = Tensor::from_slice(gpu, g.w_shape(), &rng.vec(g.w_shape().numel()))?;
    let b = Tensor::from_slice(gpu, Shape::new([g.c_out]), &rng.vec(g.c_out))?;
    let dy = Tensor::from_slice(gpu, g.y_shape(), &rng.vec(g.y_shape().numel()))?;
    let info = gpu.adapter_info();
    let pick = |k: Conv2dKernel| match k {
        Conv2dKernel::Gemm(_) => Conv2dKernel::Gemm(tile),
        Conv2dKernel::Pointwise(_) => Conv2dKernel::Pointwise(tile),
        other => other,
    };
    // Kernels that run dX too.
    let both = match args.forward.as_str() {
        "texture" => Some(Conv2dKernel::Texture),
        f => (f.strip_prefix("winograd"))
            .and_then(|m| m.parse().ok())
            .map(Conv2dKernel::Winograd),
    };
    let tuned = args.forward == "tuned";
    // --tile forces one tile on every pass of a conv row; by default each pass takes its own choice.
    let forced = |k: Conv2dKernel| if args.tile.is_some() { pick(k) } else { k };
    let choose = |pass: ConvPass, heuristic: Conv2dKernel| -> wgcnn::Result<Conv2dKernel> {
        Ok(match both {
            Some(k) if k.supports(&g, pass) => k,
            _ if tuned => gpu.tune_conv2d(&g, pass)?,
            _ => forced(heuristic),
        })
    };
    let kernel = match args.forward.as_str() {
        "gemm" if !g.is_depthwise() => Conv2dKernel::Gemm(tile),
        "tiled" if !g.is_depthwise() => Conv2dKernel::Tiled,
        _ => choose(ConvPass::Forward, pick(conv2d::choose_forward(&g, info)))?,
    };
    let backward_data = choose(
        ConvPass::BackwardData,
        conv2d::choose_backward_data(&g, info),
    )?;
    let backward_filter = choose(
        ConvPass::BackwardFilter,
        conv2d::choose_backward_filter(&g, info),
    )?;
    let forward = || conv2d::conv2d_with(&x, &w, Some(&b), &g, kernel);
    let fwd_ms = time(gpu, args.runs, || forward().map(drop))?;
    let train_ms = time(gpu, args.runs, || {
        forward()?;
        conv2d::conv2d_backward_data_with(&dy, &w, &g, backward_data)?;
        conv2d::conv2d_backward_filter_with(&x, &dy, &g, backward_filter)?;
        conv2d::conv2d_backward_bias(&dy).map(drop)
    })?;
    let cpu_gflops = (!args.no_cpu).then(|| cpu_reference_gflops(&g));
    Ok(Row {
        name: wl.name,
        gflop: g.flops() / 1e9,
        fwd_ms,
        train_ms,
        cpu_gflops,
    })
}

/// The f64 reference forward on a single image.
fn cpu_reference_gflops(g: &Conv2dGeometry) -> f64 {
    let one = Conv2dGeometry { n: 1, ..*g };
    let mut rng = Rng::new(2);
    let x = to_f64(&rng.vec(one.x_shape().numel()));
    let w = to_f64(&rng.vec(one.w_shape().numel()));
    let start = Instant::now();
    let y = cpu::forward(&one, &x, &w, None);
    let s = start.elapsed().as_secs_f64();
    std::hint::black_box(y);
    one.flops() / s / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let process = Instant::now();
    let args = Args::parse();
    let gpu = Gpu::new()?;
    if let Some(name) = &args.cold_start {
        let (_, wl) = TRAIN.iter().find(|(n, _)| n == name).ok_or_else(|| {
            format!("--cold-start {name}: use lenet5, simple_cnn, resnet20 or vgg11")
        })?;
        let adapter = process.elapsed().as_secs_f64() * 1e3;
        let mut t = wl.prepare(&gpu, TRAIN_BATCH)?;
        t.step()?;
        gpu.sync()?;
        let total = process.elapsed().as_secs_f64() * 1e3;
        println!("cold start of {name} on {}: {total:.0} ms from process start to the end of the first training step (adapter and device {adapter:.0} ms)", gpu.describe());
        return Ok(());
    }
    let tile = match &args.tile {
        Some(t) => *RegisterTile::ALL
            .iter()
            .find(|r| format!("{}x{}", r.mr, r.nr) == *t)
            .ok_or_else(|| format!("--tile {t}: use 4x8, 8x8, 8x16, 16x4 or 1x8"))?,
        None => RegisterTile::for_adapter(gpu.adapter_info()),
    };
    let torch = Torch::load(args.pytorch.as_deref())?;
    let torch_head = |cols: &str| {
        if torch.rows.is_empty() {
            String::new()
        } else {
            cols.to_string()
        }
    };
    if !torch.rows.is_empty() && !args.json {
        println!("PyTorch: {}", torch.label);
    }
    let selected: Vec<&ConvWorkload> = CONV
        .iter()
        .filter(|w| args.only.as_deref().is_none_or(|o| w.name.contains(o)))
        .collect();
    if !args.json {
        println!("adapter: {}", gpu.describe());
        println!(
            "| workload | GFLOP fwd | fwd ms | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP/s | CPU ref GFLOP/s |{}",
            torch_head(" PyTorch fwd GFLOP/s | fwd ratio | PyTorch fwd+bwd GFLOP/s | fwd+bwd ratio |")
        );
        println!(
            "|---|---|---|---|---|---|---|{}",
            torch_head("---|---|---|---|")
        );
    }
    for wl in selected {
        let r = measure(&gpu, wl, &args, tile)?;
        let fwd = r.gflop / (r.fwd_ms / 1e3);
        // BENCH.md: a backward pass (dX + dW) counts twice the forward FLOPs.
        let train = 3.0 * r.gflop / (r.train_ms / 1e3);
        let cpu = r.cpu_gflops.map_or("-".to_string(), |c| format!("{c:.2}"));
        if args.json {
            println!(
                "{{\"workload\":\"{}\",\"adapter\":\"{}\",\"gflop_fwd\":{:.4},\"fwd_ms\":{:.3},\"fwd_gflops\":{:.2},\"fwd_bwd_ms\":{:.3},\"fwd_bwd_gflops\":{:.2},\"cpu_ref_gflops\":{}}}",
                r.name,
                gpu.describe().replace('"', "'"),
                r.gflop,
                r.fwd_ms,
                fwd,
                r.train_ms,
                train,
                r.cpu_gflops.map_or("null".to_string(), |c| format!("{c:.3}"))
            );
        } else {
            let t_fwd = torch.get(r.name, "fwd_ms").map(|ms| r.gflop / (ms / 1e3));
            let t_train = torch
                .get(r.name, "fwd_bwd_ms")
                .map(|ms| 3.0 * r.gflop / (ms / 1e3));
            println!(
                "| {} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} | {} |{}{}",
                r.name,
                r.gflop,
                r.fwd_ms,
                fwd,
                r.train_ms,
                train,
                cpu,
                torch.cells(fwd, t_fwd),
                torch.cells(train, t_train)
            );
        }
    }
    let others: Vec<_> = OTHER
        .iter()
        .filter(|(name, _)| args.only.as_deref().is_none_or(|o| name.contains(o)))
        .collect();
    if !args.json && !others.is_empty() {
        println!();
        println!("| kernel | ms | throughput |");
        println!("|---|---|---|");
    }
    for (name, wl) in others {
        let (ms, rate) = measure_other(&gpu, wl, args.runs)?;
        if args.json {
            println!("{{\"workload\":\"{name}\",\"adapter\":\"{}\",\"ms\":{ms:.3},\"throughput\":\"{rate}\"}}", gpu.describe().replace('"', "'"));
        } else {
            println!("| {name} | {ms:.2} | {rate} |");
        }
    }
    if !args.json && args.only.is_none() {
        let (us, n) = dispatch_cost(&gpu)?;
        println!();
        println!("dispatch overhead: {us:.1} µs per eager dispatch ({n} tiny dispatches recorded and submitted once)");
    }
    let steps: Vec<_> = TRAIN
        .iter()
        .filter(|(name, _)| args.only.as_deref().is_none_or(|o| name.contains(o)))
        .collect();
    if !args.json && !steps.is_empty() {
        println!();
        println!("| training step (batch {TRAIN_BATCH}) | ms/step | images/s | submits/step | dispatches/step | first step ms | training memory MiB | inference ms/batch |{}", torch_head(" PyTorch images/s | ratio |"));
        println!(
            "|---|---|---|---|---|---|---|---|{}",
            torch_head("---|---|")
        );
    }
    let mut profiles = Vec::new();
    for (name, wl) in steps {
        let r = measure_train(&gpu, *wl, args.runs, args.profile)?;
        if args.profile {
            profiles.push((name, r.profile.clone()));
        }
        if args.json {
            println!("{{\"workload\":\"{name}\",\"adapter\":\"{}\",\"ms_per_step\":{:.3},\"images_per_s\":{:.1},\"submits_per_step\":{},\"dispatches_per_step\":{},\"first_step_ms\":{:.1},\"training_mib\":{:.2},\"predict_ms\":{:.3}}}", gpu.describe().replace('"', "'"), r.ms, r.images, r.submits, r.dispatches, r.first_ms, r.mib, r.predict_ms);
        } else {
            println!(
                "| {name} | {:.1} | {:.1} | {} | {} | {:.0} | {:.1} | {:.1} |{}",
                r.ms,
                r.images,
                r.submits,
                r.dispatches,
                r.first_ms,
                r.mib,
                r.predict_ms,
                torch.cells(r.images, torch.get(name, "images_per_s"))
            );
        }
    }
    for (name, times) in profiles {
        print_profile(name, &times);
    }
    let infers: Vec<&str> = INFER
        .iter()
        .copied()
        .filter(|name| args.only.as_deref().is_none_or(|o| name.contains(o)))
        .collect();
    if !args.json && !infers.is_empty() {
        println!();
        println!("| inference (batch {INFER_BATCH}, 1,000 classes) | ms/batch | images/s | first batch ms | inference memory MiB |{}", torch_head(" PyTorch images/s | ratio |"));
        println!("|---|---|---|---|---|{}", torch_head("---|---|"));
    }
    for name in infers {
        match measure_infer(&gpu, name, args.runs) {
            Ok(r) if args.json => println!("{{\"workload\":\"{name}\",\"adapter\":\"{}\",\"ms_per_batch\":{:.3},\"images_per_s\":{:.2},\"first_ms\":{:.1},\"inference_mib\":{:.2}}}", gpu.describe().replace('"', "'"), r.ms, r.images, r.first_ms, r.mib),
            Ok(r) => println!(
                "| {name} | {:.1} | {:.2} | {:.0} | {:.1} |{}",
                r.ms,
                r.images,
                r.first_ms,
                r.mib,
                torch.cells(r.images, torch.get(name, "images_per_s"))
            ),
            // A tensor past the adapter's limits (an activation past its binding limit).
            Err(e @ wgcnn::Error::TooLarge { .. }) if !args.json => {
                println!("| {name} | skipped: {e} | | | |{}", torch_head(" | |"))
            }
            Err(wgcnn::Error::TooLarge { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

struct InferRow {
    ms: f64,
    images: f64,
    first_ms: f64,
    mib: f64,
}

/// Median milliseconds of one inference batch of an [`INFER`] workload (logits read back),
/// the first batch from building the model (plan compile included) and the planned memory.
fn measure_infer(gpu: &Gpu, name: &str, runs: usize) -> wgcnn::Result<InferRow> {
    let start = Instant::now();
    let g = infer_graph(name)?;
    let per = g.shape(g.inputs()[0]).numel();
    let mut model = Model::new(gpu, g)?;
    let x = Rng::new(3).vec(INFER_BATCH * per);
    model.predict(&x, INFER_BATCH)?;
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    let ms = time(gpu, runs, || model.predict(&x, INFER_BATCH).map(drop))?;
    let mem = model.summary(INFER_BATCH)?.memory.unwrap_or_default();
    Ok(InferRow {
        ms,
        images: INFER_BATCH as f64 / (ms / 1e3),
        first_ms,
        mib: (mem.params + mem.inference_activations) as f64 / (1024.0 * 1024.0),
    })
}

/// The kernels of one profiled training step, by total device time (the top ten).
fn print_profile(name: &str, times: &[wgcnn::gpu::timing::KernelTime]) {
    let total: f64 = times.iter().map(|t| t.ms).sum();
    println!();
    println!(
        "profile of one {name} training step: {total:.1} ms of device time in {} dispatches",
        times.len()
    );
    println!("| kernel | dispatches | ms | share |");
    println!("|---|---|---|---|");
    for (kernel, ms, n) in wgcnn::gpu::timing::by_kernel(times).into_iter().take(10) {
        println!("| {kernel} | {n} | {ms:.1} | {:.0}% |", 100.0 * ms / total);
    }
}

/// Microseconds per eager dispatch of a 64-element kernel: uniform upload, bind group and
/// recording on the host plus the adapter's launch cost, amortised over one submit.
fn dispatch_cost(gpu: &Gpu) -> wgcnn::Result<(f64, usize)> {
    let x = Tensor::from_slice(gpu, [64], &[1.0; 64])?;
    let n = 1000;
    let ms = time(gpu, 3, || {
        for _ in 0..n {
            wgcnn::ops::elementwise::scale(&x, 1.0)?;
        }
        Ok(())
    })?;
    Ok((ms * 1e3 / n as f64, n))
}

struct TrainRow {
    ms: f64,
    profile: Vec<wgcnn::gpu::timing::KernelTime>,
    predict_ms: f64,
    images: f64,
    submits: u64,
    dispatches: u64,
    first_ms: f64,
    mib: f64,
}

/// A training step's median time, counters per step, time from building the model to the
/// end of its first step (plan compile included) and the planned training memory.
fn measure_train(
    gpu: &Gpu,
    wl: TrainWorkload,
    runs: usize,
    profile: bool,
) -> wgcnn::Result<TrainRow> {
    let start = Instant::now();
    let mut t = wl.prepare(gpu, TRAIN_BATCH)?;
    t.step()?;
    gpu.sync()?;
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    let before = gpu.counters();
    let ms = time(gpu, runs, || t.step())?;
    let after = gpu.counters();
    // `time` runs one warm-up step and `runs` timed steps, each followed by a sync (which
    // submits nothing new).
    let steps = runs as u64 + 1;
    let predict_ms = time(gpu, runs, || t.predict())?;
    let mem = t.model.summary(TRAIN_BATCH)?.memory.unwrap_or_default();
    Ok(TrainRow {
        ms,
        profile: if profile { t.profile()? } else { Vec::new() },
        predict_ms,
        images: t.batch() as f64 / (ms / 1e3),
        submits: (after.submits - before.submits) / steps,
        dispatches: (after.dispatches - before.dispatches) / steps,
        first_ms,
        mib: mem.training_total() as f64 / (1024.0 * 1024.0),
    })
}

/// Median milliseconds of one run of an other-kernel workload, and its throughput.
fn measure_other(gpu: &Gpu, wl: &OtherWorkload, runs: usize) -> wgcnn::Result<(f64, String)> {
    let mut run = wl.prepare(gpu)?;
    let ms = time(gpu, runs, &mut run)?;
    let (work, unit) = wl.work();
    Ok((ms, format!("{:.2} G{unit}/s", work / (ms / 1e3) / 1e9)))
}
