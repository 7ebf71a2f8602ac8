//! Answers a plan's exchange points over the ranks: synchronised batch norm's statistics and
//! sums, and the gradient buckets.

use std::time::{Duration, Instant};

use super::Collective;
use crate::error::{Error, Result};
use crate::gpu::exchange::Exchange;

pub(super) struct Exchanger<'a> {
    pub comm: &'a dyn Collective,
    /// This rank's share of the values of the step's last `Statistics` exchange.
    share: f64,
    /// This rank's samples in the step (0: an empty shard, or one sitting out).
    pub samples: usize,
    /// Whether this rank failed before its plan ran.
    pub failed: bool,
    /// After a gradient bucket: (the global batch's samples, whether any rank failed).
    pub buckets: Option<(f32, bool)>,
    /// Time in batch norm's collectives, and in the buckets' all-reduces.
    pub spent: (Duration, Duration),
}

impl<'a> Exchanger<'a> {
    pub fn new(comm: &'a dyn Collective) -> Exchanger<'a> {
        Exchanger {
            comm,
            share: 0.0,
            samples: 0,
            failed: false,
            buckets: None,
            spent: (Duration::ZERO, Duration::ZERO),
        }
    }

    pub fn exchange(&mut self, e: Exchange, v: &mut [f32]) -> Result<()> {
        let t = Instant::now();
        let r = self.combine(e, v);
        match e {
            Exchange::Deferred => self.spent.1 += t.elapsed(),
            _ => self.spent.0 += t.elapsed(),
        }
        r
    }

    fn combine(&mut self, e: Exchange, v: &mut [f32]) -> Result<()> {
        match e {
            Exchange::Statistics { groups: c, count } => {
                // A rank sitting out adds no values.
                let count = if self.samples == 0 { 0 } else { count };
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
            Exchange::Deferred => {
                // A bucket of batch-mean gradients: weighted by the rank's samples, summed
                // with the samples and the failure flags, divided by the global batch.
                let n = self.samples as f32;
                let mut sum: Vec<f32> = v.iter().map(|&g| g * n).collect();
                sum.extend([n, f32::from(u8::from(self.failed))]);
                self.comm.all_reduce_sum(&mut sum)?;
                let failed = sum.pop().unwrap_or(0.0) > 0.0;
                let total = sum.pop().unwrap_or(0.0);
                self.buckets = Some((total, failed));
                for (d, s) in v.iter_mut().zip(sum) {
                    *d = if total > 0.0 { s / total } else { 0.0 };
                }
            }
        }
        Ok(())
    }
}
