//! Data-parallel scaling on this machine (feature `mpi`): the BENCH.md training workloads
//! lenet5 and resnet20 at batch 64 per rank, step time, images per second over all ranks,
//! and where a rank's step goes (compute and read-back, all-reduce, update).
//!
//! `mpirun -np 2 target/release/examples/dist_scaling` (add `--oversubscribe` and
//! `-x LP_NUM_THREADS=1` on a 2-core machine with lavapipe); one rank is the plain
//! one-submit step.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use wgcnn::dist::World;
use wgcnn::testing::workloads::{TrainWorkload, TRAIN, TRAIN_BATCH};

#[derive(Parser)]
struct Args {
    /// Workloads to run (BENCH.md names).
    #[arg(long, value_delimiter = ',', default_value = "lenet5,resnet20")]
    workloads: Vec<String>,
    /// Timed steps per workload (after two warm-up steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Synchronise batch norm across the ranks (two exchanges per batch-norm layer a step).
    #[arg(long)]
    sync_bn: bool,
    /// Gradient buckets of this many KiB, all-reduced while the backward pass runs (0: one
    /// all-reduce after the step).
    #[arg(long, default_value_t = 0)]
    bucket_kib: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let world = Arc::new(World::init()?);
    let gpu = world.gpu()?;
    if world.is_root() {
        let bn = if a.sync_bn {
            ", batch norm synchronised"
        } else {
            ""
        };
        let buckets = match a.bucket_kib {
            0 => String::new(),
            k => format!(", gradient buckets of {k} KiB"),
        };
        println!(
            "{} rank(s) on {}{bn}{buckets}",
            world.size(),
            gpu.describe()
        );
        println!("| workload | ranks | step ms | img/s (all ranks) | compute | exchanges | all-reduce | update | parameters |");
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    for name in &a.workloads {
        let w: TrainWorkload = TRAIN
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| *w)
            .ok_or_else(|| format!("no training workload {name}"))?;
        let mut run = w.prepare_with(&gpu, TRAIN_BATCH, |g| {
            g.synchronize_batch_norm(a.sync_bn);
        })?;
        if world.size() > 1 {
            run.model.distribute(world.clone())?;
            run.model.set_gradient_buckets(a.bucket_kib * 1024)?;
        }
        let floats: usize = run.model.parameters()?.iter().map(|p| p.1.len()).sum();
        for _ in 0..2 {
            run.step()?;
        }
        gpu.sync()?;
        run.model.take_parallel_times();
        world.barrier()?;
        let t = Instant::now();
        for _ in 0..a.steps {
            run.step()?;
        }
        gpu.sync()?;
        let secs = t.elapsed().as_secs_f64();
        let p = run.model.take_parallel_times();
        let share = |d: std::time::Duration| match world.size() {
            1 => "-".to_string(),
            _ => format!("{:.0}%", 100.0 * d.as_secs_f64() / secs),
        };
        if world.is_root() {
            println!(
                "| {name} | {} | {:.1} | {:.0} | {} | {} | {} | {} | {floats} |",
                world.size(),
                1e3 * secs / a.steps as f64,
                (a.steps * TRAIN_BATCH * world.size()) as f64 / secs,
                share(p.compute),
                share(p.exchange),
                share(p.all_reduce),
                share(p.update),
            );
        }
    }
    Ok(())
}
