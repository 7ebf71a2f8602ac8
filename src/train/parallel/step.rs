//! One data-parallel training step: the rank's shard through its plan (answering the plan's
//! exchange points), the gradient all-reduce, the optimiser's plan.

use std::time::Instant;

use super::super::source::Batch;
use super::super::Model;
use super::exchanger::Exchanger;
use crate::error::{Error, Result};
use crate::graph::plan::UpdatePlan;
use crate::nn::Layer;

impl Model {
    /// One data-parallel training step on this rank's shard `batch` (scanned for non-finite
    /// values when `scan`), which starts at sample `offset` of the global batch; returns the
    /// samples of the global batch. A rank whose shard is empty (or failed before its plan
    /// ran) still takes part in every exchange and all-reduce, with nothing to add.
    pub(crate) fn parallel_step(
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
        let mut ex = Exchanger::new(&*comm);
        let mut ran = false;
        let mut local = self.local_gradients(batch, (scan, at, offset), &mut ex, &mut ran);
        if !ran {
            ex.failed = local.is_err();
            let sat = self.sit_out(&mut ex);
            if let (Ok(_), Err(e)) = (&local, sat) {
                local = Err(e);
            }
        }
        let t1 = Instant::now();
        let (total, failed) = match ex.buckets {
            // The buckets were all-reduced and written back while the plan ran.
            Some(done) => done,
            None => self.all_reduce_after(&local)?,
        };
        let t2 = Instant::now();
        if failed {
            local?;
            return Err(Error::Model(format!(
                "data-parallel training stopped in step {} of epoch {}: another rank failed \
                 (its own error is its to report)",
                at.1 + 1,
                at.0
            )));
        }
        if total > 0.0 {
            self.apply_update()?;
        }
        if let Some(p) = self.parallel.as_mut() {
            let (norm, buckets) = ex.spent;
            p.times.steps += 1;
            p.times.compute += (t1 - t0).saturating_sub(norm + buckets);
            p.times.exchange += norm;
            p.times.all_reduce += buckets + (t2 - t1);
            p.times.update += t2.elapsed();
        }
        Ok(total as usize)
    }

    /// The gradients of a step without buckets: `local` (this rank's, `n ×` the mean, then
    /// `[n, 0]`) summed over the ranks with the failure flags in one all-reduce, divided by
    /// the global batch and written back; returns (global batch, whether any rank failed).
    fn all_reduce_after(&self, local: &Result<Option<Vec<f32>>>) -> Result<(f32, bool)> {
        let comm = self
            .comm()
            .ok_or_else(|| Error::Model("not distributed".into()))?;
        let len: usize = self.grad_banks().map(|g| g.numel()).sum();
        let mut buf = match local {
            Ok(Some(g)) => g.clone(),
            _ => vec![0.0; len + 2],
        };
        buf[len + 1] = f32::from(u8::from(local.is_err()));
        comm.all_reduce_sum(&mut buf)?;
        let (total, failed) = (buf[len], buf[len + 1] > 0.0);
        if total > 0.0 && !failed {
            let mut at = 0;
            for g in self.grad_banks() {
                let part = &mut buf[at..at + g.numel()];
                part.iter_mut().for_each(|v| *v /= total);
                g.gpu()
                    .queue()
                    .write_buffer(g.buffer(), g.offset(), bytemuck::cast_slice(part));
                at += g.numel();
            }
        }
        Ok((total, failed))
    }

    /// Runs this rank's shard through its plan. Without gradient buckets, returns its
    /// gradients summed over the shard (`n ×` the mean), every bank's after another's, then
    /// `[n, 0]`; `None` for an empty shard (or with buckets, which the plan all-reduced).
    /// `ran`: whether the plan ran, and with it the exchanges.
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
        ex.samples = n;
        let step = (self.step as u32, offset as u32);
        let mut handler = |e, v: &mut [f32]| ex.exchange(e, v);
        self.plans[i].step_exchanging(&[&b.x], &t, step, &mut handler)?;
        if ex.buckets.is_some() {
            return Ok(None);
        }

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
        let bucketed = self.parallel.as_ref().is_some_and(|p| p.bucket_bytes > 0);
        if !synced && !bucketed {
            return Ok(());
        }
        let i = match self.plans.iter().position(|p| p.training) {
            Some(i) => i,
            None => self.plan(true, 2)?,
        };
        ex.samples = 0;
        self.plans[i].sit_out(&mut |e, v: &mut [f32]| ex.exchange(e, v))
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
}
