//! Gradient buckets of a data-parallel training plan: as the backward pass finishes
//! parameters' gradients, the finished end of each gradient bank is cut into buckets of about
//! `bytes` and each gets a deferred exchange point (`gpu::exchange`), so a replay reads a
//! bucket back and all-reduces it while the device computes the rest (PyTorch DDP's buckets).
//!
//! Parameters sit in their banks in index order and the backward pass finishes them roughly
//! in reverse, so a bank fills from its end; a bucket is only ever the contiguous run of
//! finished gradients below the last bucket, whatever order they finish in.

use super::params::ParamStore;
use crate::error::Result;
use crate::gpu::exchange::Exchange;
use crate::shape::Shape;

/// One bank's progress.
struct Bank {
    /// (element offset, parameter) of its updated parameters, highest offset first.
    params: Vec<(usize, usize)>,
    /// How many of `params`, from the first, are finished and contiguous.
    finished: usize,
    /// Elements from here to the end of the bank have been given to buckets.
    emitted: usize,
}

pub(crate) struct Buckets<'a> {
    store: &'a ParamStore,
    /// Elements per bucket (at least).
    size: usize,
    banks: Vec<Option<Bank>>,
    done: Vec<bool>,
}

impl<'a> Buckets<'a> {
    pub fn new(store: &'a ParamStore, bytes: usize) -> Buckets<'a> {
        let banks = store
            .banks
            .iter()
            .enumerate()
            .map(|(b, bank)| {
                let (_, grads) = bank.updated.as_ref()?;
                let mut params: Vec<(usize, usize)> = (0..store.slots.len())
                    .filter(|&k| store.slots[k].0 == b && store.grad_views[k].is_some())
                    .map(|k| (store.slots[k].1, k))
                    .collect();
                params.sort_unstable_by(|x, y| y.cmp(x));
                Some(Bank {
                    params,
                    finished: 0,
                    emitted: grads.numel(),
                })
            })
            .collect();
        Buckets {
            store,
            size: (bytes / 4).max(1),
            banks,
            done: vec![false; store.slots.len()],
        }
    }

    /// Parameter `k`'s gradient is in its bank: a bucket point when the finished end has
    /// grown by a bucket.
    pub fn finished(&mut self, k: usize) -> Result<()> {
        self.done[k] = true;
        let b = self.store.slots[k].0;
        let Some(bank) = self.banks[b].as_mut() else {
            return Ok(());
        };
        while let Some(&(_, p)) = bank.params.get(bank.finished) {
            if !self.done[p] {
                break;
            }
            bank.finished += 1;
        }
        // Everything from the lowest finished parameter's offset up is final.
        let low = match bank.finished {
            0 => return Ok(()),
            n => bank.params[n - 1].0,
        };
        if bank.emitted - low >= self.size {
            let hi = bank.emitted;
            bank.emitted = low;
            self.point(b, low, hi)?;
        }
        Ok(())
    }

    /// After the backward pass: the rest of every bank.
    pub fn finish(&mut self) -> Result<()> {
        for b in 0..self.banks.len() {
            let Some(bank) = self.banks[b].as_mut() else {
                continue;
            };
            let hi = std::mem::take(&mut bank.emitted);
            if hi > 0 {
                self.point(b, 0, hi)?;
            }
        }
        Ok(())
    }

    fn point(&self, b: usize, lo: usize, hi: usize) -> Result<()> {
        let Some((_, grads)) = &self.store.banks[b].updated else {
            return Ok(());
        };
        let range = grads.view(lo, Shape::new([hi - lo]))?;
        grads
            .gpu()
            .exchange_point(&range, hi - lo, Exchange::Deferred)
    }
}
