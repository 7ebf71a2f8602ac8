//! Exchange points: where a replayed plan stops for the host to read a range, combine it with
//! other processes' (data-parallel training with synchronised batch norm) and write it back
//! before the rest of the plan runs. Outside a plan, or in a plan replayed without a handler
//! (one process), an exchange point changes nothing, so what precedes it must already hold
//! the one-process answer. Handlers are called in the points' order.

use super::capture::Step;
use super::recorder::BufferRange;
use super::Gpu;
use crate::error::Result;

/// What the host does with an exchanged range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// `[mean | biased variance | unbiased variance]`, `groups` values each, of `count` values
    /// per group: becomes the statistics over every process's values.
    Statistics {
        /// Groups (channels).
        groups: usize,
        /// Values per group in this process.
        count: usize,
    },
    /// Sums: become Σ over processes of (the process's share of the values of the step's last
    /// `Statistics`) × its sums.
    WeightedSum,
    /// Values no later step of the plan reads (a bucket of finished gradients): the replay
    /// starts their read-back and goes on recording; the handler gets them once the next
    /// point's steps are submitted (or at the plan's end), so its work overlaps the device's,
    /// and what it writes back lands before the next submit.
    Deferred,
}

/// How a replay answers its exchange points: the kind, and the range's values to change in
/// place.
pub type ExchangeHandler<'a> = dyn FnMut(Exchange, &mut [f32]) -> Result<()> + 'a;

impl Gpu {
    /// Marks `range` (`len` f32) as exchanged at this point of the plan being captured;
    /// outside a capture, nothing (one process).
    pub(crate) fn exchange_point(
        &self,
        range: &impl BufferRange,
        len: usize,
        exchange: Exchange,
    ) -> Result<()> {
        let b = range.binding();
        let step = Step::Exchange {
            buffer: b.buffer.clone(),
            offset: b.offset,
            len,
            exchange,
        };
        self.capturing(|c| c.steps.push(step)).map(drop)
    }
}
