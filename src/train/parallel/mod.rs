//! Data-parallel training across processes: every process ("rank") holds the same model,
//! trains on its own shard of each global batch, and the gradients are summed across ranks
//! before every rank applies the same optimiser step. The transport is a [`Collective`]
//! (`dist::World` over MPI with feature `mpi`); this module only says what is reduced when.
//!
//! Every collective call carries a status, so an `Err` on one rank (a bad batch, an
//! unreadable file, a failed callback) ends `fit` on every rank instead of leaving the others
//! waiting in the next all-reduce.

mod agree;
mod exchanger;
mod step;

use std::sync::Arc;
use std::time::Duration;

use super::Model;
use crate::error::{Error, Result};
use crate::graph::plan::UpdatePlan;

/// What data-parallel training needs of a group of processes. Every rank must make the same
/// calls in the same order; each is collective.
pub trait Collective: Send + Sync {
    /// This process's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Processes in the group.
    fn size(&self) -> usize;
    /// Element-wise sum over the ranks, in place, on every rank.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()>;
    /// [`Collective::all_reduce_sum`] in f64 (logged sums, counts).
    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<()>;
    /// Every rank's `values` (the same length on each), concatenated in rank order.
    fn all_gather_f64(&self, values: &[f64]) -> Result<Vec<f64>>;
    /// Rank `root`'s `values` on every rank.
    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()>;
}

/// Time a data-parallel `fit` spent per part of its steps, summed over the steps since the
/// last [`Model::take_parallel_times`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ParallelTimes {
    /// Steps counted.
    pub steps: u64,
    /// Recording the step and waiting for its gradients on the host (compute and read-back),
    /// the exchanges excluded.
    pub compute: Duration,
    /// In the collectives of the plan's exchange points (synchronised batch norm), waiting
    /// for slower ranks included; the submits and read-backs they need count as compute.
    pub exchange: Duration,
    /// In the all-reduce of the gradients (the transport, and waiting for slower ranks); with
    /// buckets, its time while the device computed the rest of the step is counted here too.
    pub all_reduce: Duration,
    /// Writing the averaged gradients back and submitting the optimiser's step.
    pub update: Duration,
}

/// A model's process group and its optimiser plan.
pub(super) struct Parallel {
    pub comm: Arc<dyn Collective>,
    pub update: Option<UpdatePlan>,
    pub times: ParallelTimes,
    /// Bytes per gradient bucket (`Model::set_gradient_buckets`; 0: one all-reduce after
    /// the step).
    pub bucket_bytes: usize,
}

/// Rank `rank`'s part of one global batch, contiguous, the sizes differing by at most one:
/// (where it starts in the global batch, its samples).
pub(super) fn shard(global: &[usize], rank: usize, size: usize) -> (usize, &[usize]) {
    let (q, r) = (global.len() / size, global.len() % size);
    let start = rank * q + rank.min(r);
    (start, &global[start..start + q + usize::from(rank < r)])
}

impl Model {
    /// Makes `fit` data-parallel over `comm`'s processes: each trains on its shard of every
    /// global batch of `batch_size × size` samples and the gradients are averaged over the
    /// whole global batch. Every rank must build the same model (same seed, or the same
    /// checkpoint loaded) and call `fit` with the same data and options; `fit` checks the
    /// parameters and the sample count agree. Logs are reduced over the ranks, batch norm's
    /// running statistics are rank 0's (PyTorch DDP's broadcast buffers), and
    /// [`Model::save`] writes on rank 0 only.
    pub fn distribute(&mut self, comm: Arc<dyn Collective>) -> Result<()> {
        if comm.size() == 0 || comm.rank() >= comm.size() {
            return Err(Error::invalid(
                "distribute",
                "rank",
                format!("{} of {}", comm.rank(), comm.size()),
                "must be below the group's size",
            ));
        }
        self.parallel = Some(Parallel {
            comm,
            update: None,
            times: ParallelTimes::default(),
            bucket_bytes: 0,
        });
        self.clear_plans();
        Ok(())
    }

    /// This process's rank and the group's size: (0, 1) unless [`Model::distribute`]d.
    pub fn world(&self) -> (usize, usize) {
        self.parallel
            .as_ref()
            .map_or((0, 1), |p| (p.comm.rank(), p.comm.size()))
    }

    /// Whether this process reports and saves (rank 0, or not distributed).
    pub fn is_root(&self) -> bool {
        self.world().0 == 0
    }

    /// The step time by part since the last call (zero unless distributed).
    pub fn take_parallel_times(&mut self) -> ParallelTimes {
        self.parallel
            .as_mut()
            .map_or_else(ParallelTimes::default, |p| std::mem::take(&mut p.times))
    }

    /// Cuts each step's gradients into buckets of `bytes` (0: none, the default), each
    /// all-reduced as soon as the backward pass has finished it, while the device computes
    /// the rest (PyTorch DDP's `bucket_cap_mb`). Without buckets the gradients are read back
    /// after the step and all-reduced in one call; BENCH.md measures both.
    pub fn set_gradient_buckets(&mut self, bytes: usize) -> Result<()> {
        let p = self.parallel.as_mut().ok_or_else(|| {
            Error::Model("gradient buckets are for a distributed model (Model::distribute)".into())
        })?;
        p.bucket_bytes = bytes;
        self.clear_plans();
        Ok(())
    }

    fn comm(&self) -> Option<Arc<dyn Collective>> {
        self.parallel.as_ref().map(|p| p.comm.clone())
    }
}
