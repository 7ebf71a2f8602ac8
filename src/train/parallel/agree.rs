//! Agreement between the ranks: an outcome every rank shares (errors, stops), the check that
//! every rank starts from the same state, the logged sums, rank 0's buffers.

use super::super::Model;
use crate::error::{Error, Result};

impl Model {
    /// Every rank's `local` outcome and `flag` of it: `Ok((value, any rank's flag))` when
    /// all are `Ok`; else this rank's own `Err`, or one naming the ranks that failed. Not
    /// distributed: `local` and its own flag.
    pub(crate) fn agree<T>(
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
        let failed = failed_ranks(&all, 2);
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
    pub(crate) fn check_ranks<T>(&self, local: Result<T>, counts: &[usize]) -> Result<T> {
        let Some(comm) = self.comm() else {
            return local;
        };
        // A failed read of the parameters is this rank's failure too, still gathered.
        let local = local.and_then(|v| self.state_hash().map(|h| (v, h)));
        let mut v = vec![f64::from(u8::from(local.is_err())), 0.0, 0.0, 0.0];
        if let Ok((_, h)) = &local {
            v[1..].copy_from_slice(&[(h >> 32) as f64, (h & 0xFFFF_FFFF) as f64, self.step as f64]);
        }
        v.extend(counts.iter().map(|&c| c as f64));
        let all = comm.all_gather_f64(&v)?;
        let per: Vec<&[f64]> = all.chunks(v.len()).collect();
        let failed = failed_ranks(&all, v.len());
        let (value, _) = local?;
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

    /// Logged sums (`sums`, then counts in `extra`), summed over the ranks.
    pub(crate) fn reduce_logged(&self, sums: &mut Vec<f64>, extra: &mut [usize]) -> Result<()> {
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
    pub(crate) fn sync_buffers(&self) -> Result<()> {
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

/// The ranks whose row (of `width` values, all-gathered in rank order) starts with a failure
/// flag.
fn failed_ranks(all: &[f64], width: usize) -> Vec<usize> {
    (0..all.len() / width)
        .filter(|&r| all[r * width] > 0.0)
        .collect()
}
