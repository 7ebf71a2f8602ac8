//! Data-parallel training across processes: every process ("rank") holds the same model,
//! trains on its own shard of each global batch, and the gradients are summed across ranks
//! before every rank applies the same optimiser step. The transport is a [`Collective`]
//! (`dist::World` over MPI with feature `mpi`); this module only says what is reduced when.
//!
//! Every collective call carries a status, so an `Err` on one rank (a bad batch, an
//! unreadable file, a failed callback) ends `fit` on every rank instead of leaving the others
//! waiting in the next all-reduce.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::Batch;
use super::Model;
use crate::error::{Error, Result};
use crate::gpu::exchange::Exchange;
use crate::graph::plan::UpdatePlan;
use crate::nn::Layer;

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
    /// In the all-reduce of the gradients (the transport, and waiting for slower ranks).
    pub all_reduce: Duration,
    /// Writing the averaged gradients back and submitting the optimiser's step.
    pub update: Duration,
}

/// A model's process group and its optimiser plan.
pub(super) struct Parallel {
    pub comm: Arc<dyn Collective>,
    pub update: Option<UpdatePlan>,
    pub times: ParallelTimes,
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

    fn comm(&self) -> Option<Arc<dyn Collective>> {
        self.parallel.as_ref().map(|p| p.comm.clone())
    }

    /// Every rank's `local` outcome and `flag` of it: `Ok((value, any rank's flag))` when
    /// all are `Ok`; else this rank's own `Err`, or one naming the ranks that failed. Not
    /// distributed: `local` and its own flag.
    pub(super) fn agree<T>(
        &self,
        local: Result<T>,
        flag: impl FnOnce(&T) -> bool,
    ) -> Result<(T, bool)> {
        let Some(comm) = self.comm() else {
            return local.map(|v| {
                let f = flag(&v);
                (v, f)
            });
        };
        let mine = [
            f64::from(u8::from(local.is_err())),
            f64::from(u8::from(local.as_ref().is_ok_and(flag))),
        ];
        let all = comm.all_gather_f64(&mine)?;
        let failed: Vec<usize> = (0..comm.size()).filter(|&r| all[2 * r] > 0.0).collect();
        let value = local?;
        if !failed.is_empty() {
            return Err(Error::Model(format!(
                "data-parallel training stopped: rank(s) {failed:?} failed (their own error is \
                 theirs to report)"
            )));
        }
        Ok((value, all.chunks(2).any(|c| c[1] > 0.0)))
    }

    /// At the start of a distributed `fit`: every rank got here without an `Err` (`local`)
    /// and has the same parameters, step and sample counts (`counts`).
    pub(super) fn check_ranks<T>(&self, local: Result<T>, counts: &[usize]) -> Result<T> {
        let Some(comm) = self.comm() else {
            return local;
        };
        let mut v = vec![f64::from(u8::from(local.is_err())), 0.0, 0.0, 0.0];
        if local.is_ok() {
            let h = self.state_hash()?;
            v[1..].copy_from_slice(&[(h >> 32) as f64, (h & 0xFFFF_FFFF) as f64, self.step as f64]);
        }
        v.extend(counts.iter().map(|&c| c as f64));
        let all = comm.all_gather_f64(&v)?;
        let per: Vec<&[f64]> = all.chunks(v.len()).collect();
        let failed: Vec<usize> = (0..per.len()).filter(|&r| per[r][0] > 0.0).collect();
        let value = local?;
        if !failed.is_empty() {
            return Err(Error::Model(format!(
                "data-parallel fit: rank(s) {failed:?} failed before the first step"
            )));
        }
        let names = ["parameters", "parameters", "training step"];
        for (r, row) in per.iter().enumerate().skip(1) {
            if let Some(k) = (1..v.len()).find(|&k| row[k] != per[0][k]) {
                let what = names.get(k - 1).copied().unwrap_or("sample counts");
                return Err(Error::Model(format!(
                    "data-parallel fit: rank {r}'s {what} differ from rank 0's: build every \
                     rank's model from the same seed (or load the same checkpoint) and give \
                     each the same data"
                )));
            }
        }
        Ok(value)
    }

    /// A hash of every parameter's bits and the optimiser's counters.
    fn state_hash(&self) -> Result<u64> {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        let mut eat = |x: u64| {
            h ^= x;
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        };
        for v in self.store.read(&self.graph)? {
            v.iter().for_each(|x| eat(u64::from(x.to_bits())));
        }
        if let Some(o) = &self.optimizer {
            let (t, mu) = o.counters();
            eat(t);
            eat(mu.to_bits());
        }
        Ok(h)
    }

    /// One data-parallel training step on this rank's shard `batch` (scanned for non-finite
    /// values when `scan`), which starts at sample `offset` of the global batch; returns the
    /// samples of the global batch. A rank whose shard is
    /// empty (or failed before its plan ran) still takes part in every exchange and in the
    /// all-reduce, with nothing to add.
    pub(super) fn parallel_step(
        &mut self,
        batch: Result<Batch>,
        scan: bool,
        at: (usize, usize),
        offset: usize,
    ) -> Result<usize> {
        let comm = self
            .comm()
            .ok_or_else(|| Error::Model("not distributed".into()))?;
        let t0 = Instant::now();
        let mut ex = Exchanger {
            comm: &*comm,
            share: 0.0,
            spent: Duration::ZERO,
        };
        let mut ran = false;
        let mut local = self.local_gradients(batch, (scan, at, offset), &mut ex, &mut ran);
        if !ran {
            let sat = self.sit_out(&mut ex);
            if let (Ok(_), Err(e)) = (&local, sat) {
                local = Err(e);
            }
        }
        let t1 = Instant::now();
        let len: usize = self.grad_banks().map(|g| g.numel()).sum();
        let mut buf = match &local {
            Ok(Some(g)) => g.clone(),
            _ => vec![0.0; len + 2],
        };
        buf[len + 1] = f32::from(u8::from(local.is_err()));
        comm.all_reduce_sum(&mut buf)?;
        let t2 = Instant::now();
        if buf[len + 1] > 0.0 {
            local?;
            return Err(Error::Model(format!(
                "data-parallel training stopped in step {} of epoch {}: another rank failed \
                 (its own error is its to report)",
                at.1 + 1,
                at.0
            )));
        }
        let total = buf[len];
        if total > 0.0 {
            let mut at = 0;
            for g in self.grad_banks() {
                let part = &mut buf[at..at + g.numel()];
                part.iter_mut().for_each(|v| *v /= total);
                g.gpu()
                    .queue()
                    .write_buffer(g.buffer(), g.offset(), bytemuck::cast_slice(part));
                at += g.numel();
            }
            self.apply_update()?;
        }
        if let Some(p) = self.parallel.as_mut() {
            p.times.steps += 1;
            p.times.compute += (t1 - t0).saturating_sub(ex.spent);
            p.times.exchange += ex.spent;
            p.times.all_reduce += t2 - t1;
            p.times.update += t2.elapsed();
        }
        Ok(total as usize)
    }

    /// This rank's gradients summed over its shard (`n ×` the mean), every bank's after
    /// another's, then `[n, 0]`; `None` for an empty shard. `ran`: whether the plan ran (and
    /// with it the exchanges).
    fn local_gradients(
        &mut self,
        batch: Result<Batch>,
        (scan, at, offset): (bool, (usize, usize), usize),
        ex: &mut Exchanger<'_>,
        ran: &mut bool,
    ) -> Result<Option<Vec<f32>>> {
        let b = batch?;
        if scan {
            b.check_finite(at.0, at.1)?;
        }
        if b.x.is_empty() {
            return Ok(None);
        }
        let t: Vec<&[f32]> = b.targets.iter().map(|v| v.as_slice()).collect();
        let n = self.check_batch(&b.x, &t)?;
        let i = self.plan(true, n)?;
        *ran = true;
        let mut handler = |e, v: &mut [f32]| ex.exchange(e, v);
        let step = (self.step as u32, offset as u32);
        self.plans[i].step_exchanging(&[&b.x], &t, step, &mut handler)?;
        let mut out = Vec::new();
        for g in self.grad_banks() {
            out.extend(g.to_vec()?.into_iter().map(|v| v * n as f32));
        }
        out.extend([n as f32, 0.0]);
        Ok(Some(out))
    }

    /// Takes part in a step's exchanges with nothing to add (an empty or failed shard): the
    /// points of any training plan, which are the same at every batch size.
    fn sit_out(&mut self, ex: &mut Exchanger<'_>) -> Result<()> {
        let synced = self.graph.nodes.iter().any(|n| match &n.layer {
            Layer::BatchNorm2d(b) => b.0.synchronized,
            Layer::BatchNorm1d(b) => b.0.synchronized,
            _ => false,
        });
        if !synced {
            return Ok(());
        }
        let i = match self.plans.iter().position(|p| p.training) {
            Some(i) => i,
            None => self.plan(true, 2)?,
        };
        for (e, len) in self.plans[i].exchanges() {
            let e = match e {
                Exchange::Statistics { groups, .. } => Exchange::Statistics { groups, count: 0 },
                other => other,
            };
            ex.exchange(e, &mut vec![0.0; len])?;
        }
        Ok(())
    }

    /// The gradient buffer of every bank the optimiser updates, in bank order.
    fn grad_banks(&self) -> impl Iterator<Item = &crate::tensor::Tensor> {
        self.store
            .banks
            .iter()
            .filter_map(|b| b.updated.as_ref().map(|(_, g)| g))
    }

    /// The optimiser's step from the gradient banks, at the schedule's learning rate.
    fn apply_update(&mut self) -> Result<()> {
        let lr = self.schedule.lr(self.base_lr, self.step);
        let (Some(p), Some(opt)) = (self.parallel.as_mut(), self.optimizer.as_mut()) else {
            return Err(Error::Model(
                "compile the model with an optimiser first".into(),
            ));
        };
        opt.set_lr(lr);
        if p.update.is_none() {
            p.update = Some(UpdatePlan::compile(&self.gpu, &self.store, opt)?);
        }
        if let Some(u) = &p.update {
            u.step(opt)?;
        }
        self.step += 1;
        Ok(())
    }

    /// Logged sums (`sums`, then counts in `extra`), summed over the ranks.
    pub(super) fn reduce_logged(&self, sums: &mut Vec<f64>, extra: &mut [usize]) -> Result<()> {
        if let Some(comm) = self.comm() {
            let n = sums.len();
            sums.extend(extra.iter().map(|&c| c as f64));
            comm.all_reduce_sum_f64(sums)?;
            for (e, v) in extra.iter_mut().zip(&sums[n..]) {
                *e = *v as usize;
            }
            sums.truncate(n);
        }
        Ok(())
    }

    /// Rank 0's values of the parameters the optimiser does not update (batch norm's running
    /// statistics, frozen layers) on every rank.
    pub(super) fn sync_buffers(&self) -> Result<()> {
        let Some(comm) = self.comm() else {
            return Ok(());
        };
        for bank in &self.store.banks {
            let from = bank.updated.as_ref().map_or(0, |(u, _)| u.numel());
            let rest = bank.flat.numel() - from;
            if rest == 0 {
                continue;
            }
            let mut v = bank
                .flat
                .view(from, crate::shape::Shape::new([rest]))?
                .to_vec()?;
            comm.broadcast(&mut v, 0)?;
            let f = &bank.flat;
            f.gpu().queue().write_buffer(
                f.buffer(),
                f.offset() + from as u64 * 4,
                bytemuck::cast_slice(&v),
            );
        }
        Ok(())
    }
}

/// Answers a plan's exchange points over the ranks (synchronised batch norm).
struct Exchanger<'a> {
    comm: &'a dyn Collective,
    /// This rank's share of the values of the step's last `Statistics` exchange.
    share: f64,
    /// Time in the collectives.
    spent: Duration,
}

impl Exchanger<'_> {
    fn exchange(&mut self, e: Exchange, v: &mut [f32]) -> Result<()> {
        let t = Instant::now();
        let r = self.combine(e, v);
        self.spent += t.elapsed();
        r
    }

    fn combine(&mut self, e: Exchange, v: &mut [f32]) -> Result<()> {
        match e {
            Exchange::Statistics { groups: c, count } => {
                // Every rank's count, means and variances; combined in f64, in rank order
                // (Chan et al.'s pairwise formula for the variance).
                let mut mine = vec![count as f64];
                mine.extend(v[..2 * c].iter().map(|&x| f64::from(x)));
                let all = self.comm.all_gather_f64(&mine)?;
                let rows: Vec<&[f64]> = all.chunks(1 + 2 * c).collect();
                let total: f64 = rows.iter().map(|r| r[0]).sum();
                if total < 2.0 {
                    return Err(Error::Model(format!(
                        "synchronised batch norm over {total} values per channel: needs 2"
                    )));
                }
                self.share = count as f64 / total;
                for ch in 0..c {
                    let mean = rows.iter().map(|r| r[0] * r[1 + ch]).sum::<f64>() / total;
                    let var = rows
                        .iter()
                        .map(|r| r[0] * (r[1 + c + ch] + (r[1 + ch] - mean).powi(2)))
                        .sum::<f64>()
                        / total;
                    v[ch] = mean as f32;
                    v[c + ch] = var as f32;
                    v[2 * c + ch] = (var * total / (total - 1.0)) as f32;
                }
            }
            Exchange::WeightedSum => {
                let mut w: Vec<f64> = v.iter().map(|&x| f64::from(x) * self.share).collect();
                self.comm.all_reduce_sum_f64(&mut w)?;
                v.iter_mut().zip(w).for_each(|(d, s)| *d = s as f32);
            }
        }
        Ok(())
    }
}
