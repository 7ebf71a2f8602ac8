//! Data-parallel training over MPI (feature `mpi`), run as two ranks: `cargo test --release
//! --features mpi --test distributed` starts itself under `mpirun -np 2` (one lavapipe thread
//! per rank); under a launcher already (`mpirun -np 2 <this binary>`) it runs the cases.
//!
//! - determinism: two runs with the same ranks give bit-identical weights, the same on every
//!   rank, with an uneven last global batch (one rank's shard empty);
//! - equivalence: 2 ranks × batch B equal 1 rank × batch 2B within the f32 bound of the
//!   changed summation order;
//! - a checkpoint written by 2 ranks resumes on 1, and one written by 1 resumes on 2;
//! - batch norm's running statistics are rank 0's on every rank;
//! - synchronised batch norm: 2 ranks × 16 equal 1 rank × 32;
//! - gradient buckets all-reduced during the backward pass equal one all-reduce after it;
//! - an `Err` on one rank (its data, a different seed, a callback) is an `Err` on both, no hang.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wgcnn::dist::World;
use wgcnn::graph::{Graph, Sequential};
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::Rng;
use wgcnn::train::{Batch, Callback, Control, Dataset, EpochLog, FitOptions, Loss, Model, Source};
use wgcnn::Gpu;

const RANKS: usize = 2;
/// Per-rank batch; the single-rank runs use `RANKS × B`.
const B: usize = 8;
/// 97 samples: 6 full global batches of 16, then one sample (rank 1's shard is empty).
const N: usize = 97;

/// One case, run on every rank.
type Case = fn(&Arc<World>, &Gpu);

fn main() -> ExitCode {
    let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !launched {
        return relaunch();
    }
    let world = Arc::new(World::init().expect("MPI"));
    assert_eq!(world.size(), RANKS, "run with mpirun -np {RANKS}");
    let gpu = world.gpu().expect("an adapter");
    if world.is_root() {
        println!("{RANKS} ranks on {}", gpu.describe());
    }
    let cases: [(&str, Case); 8] = [
        ("determinism", determinism),
        ("equivalence with one rank", equivalence),
        ("resume across rank counts", resume_across_rank_counts),
        ("batch norm buffers are rank 0's", batch_norm_buffers),
        ("synchronised batch norm", synchronized_batch_norm),
        ("gradient buckets", gradient_buckets),
        ("an Err on one rank ends both", one_rank_fails),
        ("different weights are refused", different_weights),
    ];
    for (name, case) in cases {
        case(&world, &gpu);
        world.barrier().expect("barrier");
        if world.is_root() {
            println!("test {name} ... ok");
        }
    }
    if world.is_root() {
        println!("test result: ok. {} passed (2 ranks)", cases.len());
    }
    ExitCode::SUCCESS
}

/// Runs this binary as two ranks on this machine, each on one lavapipe thread.
fn relaunch() -> ExitCode {
    let exe = std::env::current_exe().expect("own path");
    let status = Command::new("mpirun")
        .args(["--oversubscribe", "-np", &RANKS.to_string()])
        .arg(exe)
        .env("LP_NUM_THREADS", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("mpirun -np {RANKS}: {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot start mpirun ({e}): install openmpi-bin (README, feature mpi)");
            ExitCode::FAILURE
        }
    }
}

/// Four classes of 1×8×8 pictures: a bright quadrant, with noise.
fn quadrants(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i * 7 % 4) as u32;
        for h in 0..8 {
            for w in 0..8 {
                let q = (h / 4) * 2 + w / 4;
                x.push(if q == label as usize { 1.0 } else { 0.0 } + 0.5 * rng.uniform());
            }
        }
        labels.push(label);
    }
    Dataset::classification(x, [1, 8, 8], labels, 4).unwrap()
}

/// Which batch norm a test model has.
#[derive(Clone, Copy, PartialEq)]
enum Norm {
    None,
    PerRank,
    Synchronized,
}

/// (Augmentation,) conv + ReLU (+ batch norm), max-pool, dense (+ batch norm 1-D, or
/// dropout), dense. Without batch norm the model draws augmentations and dropout masks,
/// which a rank must draw for its samples as one process would for the same samples.
fn cnn(seed: u64, norm: Norm) -> Graph {
    let sync = norm == Norm::Synchronized;
    let mut s = Sequential::new([1, 8, 8]).seed(seed);
    if norm == Norm::None {
        s = s.add(Augment::flip_and_shift(1));
    }
    s = s.add(Conv2d::new(6, 3).activation(Activation::Relu));
    if norm != Norm::None {
        s = s.add(BatchNorm2d::new().synchronized(sync));
    }
    s = s.add(MaxPool2d::new(2)).add(Flatten).add(Dense::new(8));
    s = match norm {
        Norm::None => s.add(Dropout::new(0.3)),
        _ => s.add(BatchNorm1d::new().synchronized(sync)),
    };
    s.add(Dense::new(4)).build().unwrap()
}

fn model(gpu: &Gpu, seed: u64, norm: Norm) -> Model {
    let mut m = Model::new(gpu, cnn(seed, norm)).unwrap();
    let sgd = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    m.compile(Loss::SparseCategoricalCrossentropy, sgd).unwrap();
    m
}

fn opts(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        epochs,
        batch_size,
        seed: 3,
        log_every: 2,
        ..FitOptions::default()
    }
}

fn weights(m: &Model) -> Vec<f32> {
    m.parameters()
        .unwrap()
        .into_iter()
        .flat_map(|p| p.1)
        .collect()
}

/// Trains a distributed model from seed 1 for `epochs` and returns its weights.
fn distributed(world: &Arc<World>, gpu: &Gpu, epochs: usize) -> Vec<f32> {
    distributed_in_buckets(world, gpu, epochs, 0)
}

/// [`distributed`] with gradient buckets of `bytes` (0: one all-reduce after the step).
fn distributed_in_buckets(world: &Arc<World>, gpu: &Gpu, epochs: usize, bytes: usize) -> Vec<f32> {
    let mut m = model(gpu, 1, Norm::None);
    m.distribute(world.clone()).unwrap();
    m.set_gradient_buckets(bytes).unwrap();
    let data = quadrants(N, 5);
    let h = m.fit(&data, None, &opts(epochs, B), |_| {}).unwrap();
    assert!(h
        .epochs
        .iter()
        .all(|e| e.train.samples == N && e.train.loss.is_finite()));
    weights(&m)
}

/// 2 ranks × 16 with synchronised batch norm equal 1 rank × 32, running statistics
/// included; per-rank statistics do not.
fn synchronized_batch_norm(world: &Arc<World>, gpu: &Gpu) {
    // 98 samples: the last global batch is one sample per rank, which per-rank statistics
    // cannot normalise (one value per channel) and synchronised ones can.
    let n = 98;
    let data = quadrants(n, 7);
    let (b, epochs) = (16, 2);
    let steps = epochs * n.div_ceil(RANKS * b);
    let run = |norm, ranks: usize| {
        let mut m = model(gpu, 4, norm);
        if ranks > 1 {
            m.distribute(world.clone()).unwrap();
        }
        let o = FitOptions {
            drop_last: norm == Norm::PerRank,
            ..opts(epochs, b * RANKS / ranks)
        };
        let h = m.fit(&data, Some(&data), &o, |_| {}).unwrap();
        assert!(h.epochs.iter().all(|e| e.train.loss.is_finite()));
        (
            weights(&m),
            h.epochs[epochs - 1].valid.as_ref().map(|v| v.loss),
        )
    };
    let (one, one_loss) = run(Norm::Synchronized, 1);
    let (two, two_loss) = run(Norm::Synchronized, RANKS);
    let (per_rank, _) = run(Norm::PerRank, RANKS);
    same_on_every_rank(world, &two);
    // Batch norm divides by σ, so the rounding of the combined statistics (f64 from each
    // rank's f32 mean and variance, against one f32 two-pass reduction) grows through the
    // steps faster than a plain gradient's: measured 1.7e-4 of the weights' scale after 8
    // steps (the last batch's two-sample variance the largest), against 1e-1 for per-rank
    // statistics. The bound sits between, 1e-3, and the per-rank run must land 30× beyond it.
    let gap = |a: &[f32]| {
        let scale = one.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter()
            .zip(&one)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    };
    let (synced, apart) = (gap(&two), gap(&per_rank));
    assert!(
        synced <= 1e-3,
        "synchronised: {synced:e} of the scale after {steps} steps"
    );
    assert!(apart >= 3e-2, "per-rank statistics moved only {apart:e}");
    let l = (one_loss.unwrap(), two_loss.unwrap());
    assert!(
        (l.0 - l.1).abs() <= 1e-3 * l.0.abs(),
        "validation losses {l:?}"
    );
}

/// Every rank's values equal rank 0's, bit for bit.
fn same_on_every_rank(world: &World, v: &[f32]) {
    let mut root = v.to_vec();
    wgcnn::train::Collective::broadcast(world, &mut root, 0).unwrap();
    let differ = root
        .iter()
        .zip(v)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differ,
        0,
        "rank {}: {differ} values differ from rank 0's",
        world.rank()
    );
}

/// The largest difference relative to the weights' scale, with the bound it must meet: each
/// of the `steps` SGD steps may move by the rounding of a batch-mean gradient reduced over
/// `reduced` samples in another order, `reduced·ε` relative.
fn close(a: &[f32], b: &[f32], steps: usize, reduced: usize) {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    let bound = steps as f32 * reduced as f32 * f32::EPSILON * scale;
    assert!(
        worst <= bound,
        "largest difference {worst:e} passes the bound {bound:e} (scale {scale})"
    );
}

fn determinism(world: &Arc<World>, gpu: &Gpu) {
    let a = distributed(world, gpu, 2);
    let b = distributed(world, gpu, 2);
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "runs differ"
    );
    same_on_every_rank(world, &a);
}

fn equivalence(world: &Arc<World>, gpu: &Gpu) {
    let two = distributed(world, gpu, 2);
    // One rank × 2B on the same samples in the same order (local: no collective).
    let mut one = model(gpu, 1, Norm::None);
    one.fit(&quadrants(N, 5), None, &opts(2, RANKS * B), |_| {})
        .unwrap();
    close(&two, &weights(&one), 2 * N.div_ceil(RANKS * B), RANKS * B);
}

/// Buckets all-reduced while the backward pass runs give the same weights, bit for bit, as
/// one all-reduce after it (the same sums in the same order), with synchronised batch norm's
/// exchange points between them too, and an `Err` on one rank still ends both.
fn gradient_buckets(world: &Arc<World>, gpu: &Gpu) {
    let whole = distributed(world, gpu, 2);
    // 100 bytes: three buckets, each exchanged as its layer's backward finishes: the last
    // dense layer's, the first dense layer's, then the conv's at the end.
    let cut = distributed_in_buckets(world, gpu, 2, 100);
    assert!(
        whole
            .iter()
            .zip(&cut)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "buckets differ"
    );
    let data = quadrants(98, 7);
    let synced = |bytes| {
        let mut m = model(gpu, 4, Norm::Synchronized);
        m.distribute(world.clone()).unwrap();
        m.set_gradient_buckets(bytes).unwrap();
        m.fit(&data, None, &opts(1, 16), |_| {}).unwrap();
        weights(&m)
    };
    let (a, b) = (synced(0), synced(200));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "sync BN buckets differ"
    );
    let mut m = model(gpu, 1, Norm::None);
    m.distribute(world.clone()).unwrap();
    m.set_gradient_buckets(100).unwrap();
    loader_fails_on_rank_one(world, &mut m);
}

fn resume_across_rank_counts(world: &Arc<World>, gpu: &Gpu) {
    let dir = std::env::temp_dir().join(format!("wgcnn-dist-{}", std::process::id()));
    let data = quadrants(N, 5);
    let steps = 2 * N.div_ceil(RANKS * B);
    // Two ranks write after epoch 1; each rank then resumes alone at 2B. The resuming models
    // are built from the same seed (their dropout and augmentation seeds are the graph's).
    let shared = std::env::temp_dir().join("wgcnn-dist-two-ranks.safetensors");
    let mut m = model(gpu, 1, Norm::None);
    m.distribute(world.clone()).unwrap();
    m.fit(&data, None, &opts(1, B), |_| {}).unwrap();
    m.save(&shared).unwrap();
    world.barrier().unwrap();
    let mut alone = model(gpu, 1, Norm::None);
    alone.load(&shared).unwrap();
    let o = FitOptions {
        initial_epoch: 1,
        ..opts(2, RANKS * B)
    };
    alone.fit(&data, None, &o, |_| {}).unwrap();
    let straight = distributed(world, gpu, 2);
    close(&weights(&alone), &straight, steps, RANKS * B);
    // One rank writes after epoch 1 (each rank its own file); two ranks resume at B.
    std::fs::create_dir_all(&dir).unwrap();
    let own = dir.join(format!("one-rank-{}.safetensors", world.rank()));
    let mut one = model(gpu, 1, Norm::None);
    one.fit(&data, None, &opts(1, RANKS * B), |_| {}).unwrap();
    one.save(&own).unwrap();
    let mut two = model(gpu, 1, Norm::None);
    two.load(&own).unwrap();
    two.distribute(world.clone()).unwrap();
    let o = FitOptions {
        initial_epoch: 1,
        ..opts(2, B)
    };
    two.fit(&data, None, &o, |_| {}).unwrap();
    let mut whole = model(gpu, 1, Norm::None);
    whole.fit(&data, None, &opts(2, RANKS * B), |_| {}).unwrap();
    close(&weights(&two), &weights(&whole), steps, RANKS * B);
    world.barrier().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    if world.is_root() {
        let _ = std::fs::remove_file(&shared);
    }
}

fn batch_norm_buffers(world: &Arc<World>, gpu: &Gpu) {
    let mut m = model(gpu, 2, Norm::PerRank);
    m.distribute(world.clone()).unwrap();
    let data = quadrants(N, 6);
    // The last global batch of one sample would leave a rank one value per channel.
    let o = FitOptions {
        drop_last: true,
        ..opts(1, B)
    };
    let h = m.fit(&data, Some(&data), &o, |_| {}).unwrap();
    assert_eq!(h.epochs[0].valid.as_ref().map(|v| v.samples), Some(N));
    // Every parameter, the running statistics among them, is the same on both ranks.
    same_on_every_rank(world, &weights(&m));
}

/// Fails (or asks to stop) on rank 1 only.
struct OnRankOne(usize, Control);
impl Callback for OnRankOne {
    fn on_epoch_end(&mut self, _m: &mut Model, _log: &EpochLog) -> wgcnn::Result<Control> {
        match (self.0, self.1) {
            (1, Control::Continue) => Err(wgcnn::Error::Model("rank 1's callback failed".into())),
            (1, Control::Stop) => Ok(Control::Stop),
            _ => Ok(Control::Continue),
        }
    }
}

/// A dataset whose loader fails on its fourth batch, on rank 1 only (in the first epoch).
struct BrokenOnRankOne {
    data: Dataset,
    rank: usize,
    calls: AtomicUsize,
}
impl Source for BrokenOnRankOne {
    fn len(&self) -> usize {
        self.data.len()
    }
    fn sample(&self) -> &wgcnn::Shape {
        &self.data.sample
    }
    fn heads(&self) -> usize {
        1
    }
    fn batch(&self, idx: &[usize]) -> wgcnn::Result<Batch> {
        match self.rank == 1 && self.calls.fetch_add(1, Ordering::Relaxed) == 3 {
            true => Err(wgcnn::Error::Model("rank 1 cannot read its batch".into())),
            false => self.data.batch(idx),
        }
    }
}

/// Trains `m` on data whose loader fails mid-epoch on rank 1: both ranks end in that step.
fn loader_fails_on_rank_one(world: &World, m: &mut Model) {
    let broken = BrokenOnRankOne {
        data: quadrants(N, 5),
        rank: world.rank(),
        calls: AtomicUsize::new(0),
    };
    let e = m
        .fit_from(&broken, None, &opts(2, B), &mut [])
        .unwrap_err()
        .to_string();
    let want = if world.rank() == 1 {
        "cannot read"
    } else {
        "another rank failed"
    };
    assert!(e.contains(want), "rank {}: {e}", world.rank());
}

fn one_rank_fails(world: &Arc<World>, gpu: &Gpu) {
    // Rank 1's data holds a NaN: it refuses it, rank 0 learns that rank 1 failed.
    let mut data = quadrants(N, 5);
    if world.rank() == 1 {
        data.x[10] = f32::NAN;
    }
    let mut m = model(gpu, 1, Norm::None);
    m.distribute(world.clone()).unwrap();
    let e = m
        .fit(&data, None, &opts(1, B), |_| {})
        .unwrap_err()
        .to_string();
    let want = if world.rank() == 1 {
        "finite"
    } else {
        "rank(s) [1]"
    };
    assert!(e.contains(want), "rank {}: {e}", world.rank());
    // A callback failing on rank 1 ends fit on both.
    let data = quadrants(N, 5);
    let mut cb = OnRankOne(world.rank(), Control::Continue);
    let e = m
        .fit_with(&data, None, &opts(1, B), &mut [&mut cb])
        .unwrap_err()
        .to_string();
    let want = if world.rank() == 1 {
        "callback failed"
    } else {
        "rank(s) [1]"
    };
    assert!(e.contains(want), "rank {}: {e}", world.rank());
    // A loader failing in the middle of an epoch on rank 1: both end in that step.
    loader_fails_on_rank_one(world, &mut m);
    // A stop asked by rank 1's callback stops both after the same epoch.
    let mut cb = OnRankOne(world.rank(), Control::Stop);
    let h = m
        .fit_with(&data, None, &opts(3, B), &mut [&mut cb])
        .unwrap();
    assert_eq!(h.epochs.len(), 1, "rank {}", world.rank());
}

fn different_weights(world: &Arc<World>, gpu: &Gpu) {
    let mut m = model(gpu, 1 + world.rank() as u64, Norm::None);
    m.distribute(world.clone()).unwrap();
    let e = m
        .fit(&quadrants(N, 5), None, &opts(1, B), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("differ from rank 0"),
        "rank {}: {e}",
        world.rank()
    );
}
