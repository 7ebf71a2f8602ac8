//! Where `fit` and `evaluate` read samples from: an in-memory [`Dataset`] or a streamed one
//! (`data::ImageFolder`), and the loader threads that prepare batches ahead of the GPU.

use std::sync::mpsc::{sync_channel, Receiver};

use super::Dataset;
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The inputs and per-head targets of one batch.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Inputs, sample after sample.
    pub x: Vec<f32>,
    /// One target array per loss head, sample after sample.
    pub targets: Vec<Vec<f32>>,
}

impl Batch {
    /// An `Err` naming the value when an input or target of step `step` of `epoch` is not
    /// finite: one such value turns the loss into NaN for the rest of training.
    pub(crate) fn check_finite(&self, epoch: usize, step: usize) -> Result<()> {
        let bad = std::iter::once(&self.x)
            .chain(&self.targets)
            .flatten()
            .find(|v| !v.is_finite());
        match bad {
            Some(v) => Err(Error::invalid(
                "fit",
                "batch value",
                format!("{v} in step {} of epoch {epoch}", step + 1),
                "inputs and targets must be finite",
            )),
            None => Ok(()),
        }
    }
}

/// A set of samples that `Model::fit_from` and `Model::evaluate_from` read batch by batch.
/// Batches are requested from [`Source::loaders`] threads at once, so a source that decodes
/// files does so in parallel while the GPU trains; only the batches in flight are in memory.
pub trait Source: Sync {
    /// Number of samples (indices `0..len()`).
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shape of one input sample, no batch axis; it must be the model's input shape.
    fn sample(&self) -> &Shape;
    /// Number of target sets (one per loss head).
    fn heads(&self) -> usize;
    /// The samples `idx` (each below `len()`), in that order. A source may leave out a
    /// sample it cannot produce (an unreadable file it is told to skip): the batch is then
    /// smaller, and may be empty.
    fn batch(&self, idx: &[usize]) -> Result<Batch>;
    /// How many threads prepare batches at once (each holds at most two batches).
    fn loaders(&self) -> usize {
        1
    }
    /// Checks what can be checked before the first batch; `Ok(true)` when every value a
    /// batch can hold is then known to be finite, so `fit_from` need not scan each batch
    /// (the default, `Ok(false)`, has every batch scanned).
    fn validate(&self) -> Result<bool> {
        Ok(false)
    }
}

impl Source for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn sample(&self) -> &Shape {
        &self.sample
    }
    fn heads(&self) -> usize {
        self.targets.len()
    }
    /// [`Dataset::check`]: sizes, labels and every value.
    fn validate(&self) -> Result<bool> {
        self.check().map(|()| true)
    }
    fn batch(&self, idx: &[usize]) -> Result<Batch> {
        if let Some(&i) = idx.iter().find(|&&i| i >= Dataset::len(self)) {
            return Err(Error::invalid(
                "Dataset",
                "index",
                i,
                format!("the dataset has {} samples", Dataset::len(self)),
            ));
        }
        let (x, targets) = self.gather(idx);
        Ok(Batch { x, targets })
    }
}

/// Runs `consume(step, batch)` for every step of `batches` in order, with the batches made
/// by `source.loaders()` scoped threads: thread `w` makes steps `w, w + W, …` and holds at
/// most one finished batch besides the one it is making, so at most `2·W + 1` batches are in
/// memory. A loader's `Err` is handed to `consume` as that step's batch (data-parallel
/// training must still meet the other ranks); it stops at the first `Err` from `consume` or
/// when `consume` returns `false`, and the loaders then stop after the batch they are making.
pub(crate) fn for_each_batch(
    source: &dyn Source,
    batches: &[&[usize]],
    mut consume: impl FnMut(usize, Result<Batch>) -> Result<bool>,
) -> Result<()> {
    let workers = source.loaders().clamp(1, batches.len().max(1));
    std::thread::scope(|scope| -> Result<()> {
        let queues: Vec<Receiver<Result<Batch>>> = (0..workers)
            .map(|w| {
                let (tx, rx) = sync_channel(1);
                scope.spawn(move || {
                    for idx in batches.iter().skip(w).step_by(workers) {
                        let b = source.batch(idx);
                        let failed = b.is_err();
                        if tx.send(b).is_err() || failed {
                            break;
                        }
                    }
                });
                rx
            })
            .collect();
        for step in 0..batches.len() {
            let b = queues[step % workers]
                .recv()
                .map_err(|_| Error::Model("a batch loader thread stopped".into()))
                .and_then(|b| b);
            if !consume(step, b)? {
                break;
            }
        }
        Ok(())
    })
}
