//! `fit`, `evaluate` and `predict` on a [`Model`], and what they report.

use std::time::Instant;

use super::callbacks::{Callback, Control, OnEvent};
use super::metrics::Metrics;
use super::source::{for_each_batch, Source};
use super::Dataset;
use super::Model;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Options of [`Model::fit`].
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Epoch to stop before, as Keras's `epochs`: fitting runs epochs
    /// `initial_epoch..epochs`.
    pub epochs: usize,
    /// Samples per training step (at least 1); validation runs in batches of this size too.
    pub batch_size: usize,
    /// Epochs already done (resuming from a checkpoint): fitting starts at this epoch.
    pub initial_epoch: usize,
    /// Shuffle each epoch with a permutation drawn from (seed, epoch).
    pub shuffle: bool,
    /// Seed of the shuffling permutations (the graph's seed keys dropout and augmentation).
    pub seed: u64,
    /// Read the loss back and report a [`Event::Step`] every this many steps (0: only per
    /// epoch). Each read-back waits for the GPU.
    pub log_every: usize,
    /// Drop the last partial batch of an epoch (else it runs as a smaller batch).
    pub drop_last: bool,
    /// When no validation set is given: the fraction of the training samples, taken from the
    /// end before any shuffling, that validates instead (Keras's `validation_split`, in
    /// `[0, 1)`; 0 for none).
    pub validation_split: f64,
    /// Stop with [`Error::NonFiniteLoss`] naming the step whose loss was NaN or infinite
    /// (Keras's TerminateOnNaN). Every step's loss is checked on the GPU; the host looks at
    /// the result every 32 steps (`NAN_CHECK_STEPS`), at each log and at the epoch's end, so at
    /// most that many steps run past the bad one.
    pub terminate_on_nan: bool,
}

/// How often (in steps) `fit` reads back whether a loss was not finite: one small read-back,
/// which waits for the GPU, per this many steps.
pub const NAN_CHECK_STEPS: usize = 32;

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            initial_epoch: 0,
            shuffle: true,
            seed: 0,
            log_every: 0,
            drop_last: false,
            validation_split: 0.0,
            terminate_on_nan: true,
        }
    }
}

/// Progress within an epoch.
#[derive(Clone, Debug)]
pub struct StepLog {
    /// The epoch, from 0 (counting the ones before `initial_epoch`).
    pub epoch: usize,
    /// Steps done in this epoch, and the epoch's total.
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// Since the previous report.
    pub loss: f64,
    /// Training accuracy since the previous report; `None` without a classification head.
    pub accuracy: Option<f64>,
    /// Samples trained per second of wall time since the previous report.
    pub images_per_sec: f64,
    /// Everything logged since the previous report, by name (see [`Metrics::values`]).
    pub values: Vec<(String, f64)>,
}

/// One finished epoch.
#[derive(Clone, Debug)]
pub struct EpochLog {
    /// The epoch, from 0 (counting the ones before `initial_epoch`).
    pub epoch: usize,
    /// Loss and accuracy of the epoch's training steps as they ran (training mode, the
    /// weights changing as it went), as Keras reports them.
    pub train: Metrics,
    /// Metrics of the validation set in inference mode after the epoch, when one was given.
    pub valid: Option<Metrics>,
    /// Wall time of the epoch's training, validation excluded.
    pub seconds: f64,
    /// Training samples per second over `seconds`.
    pub images_per_sec: f64,
    /// The learning rate at the epoch's last step.
    pub lr: f32,
}

impl EpochLog {
    /// A logged value by Keras's name: `val_`-prefixed names read the validation metrics,
    /// `learning_rate` the rate, others the training metrics.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name.strip_prefix("val_") {
            Some(v) => self.valid.as_ref().and_then(|m| m.get(v)),
            None if name == "learning_rate" => Some(f64::from(self.lr)),
            None => self.train.get(name),
        }
    }

    /// Every logged value: the training metrics, the validation ones with `val_`, then
    /// `learning_rate`.
    pub fn logs(&self) -> Vec<(String, f64)> {
        let mut out = self.train.values.clone();
        if let Some(v) = &self.valid {
            out.extend(v.values.iter().map(|(n, x)| (format!("val_{n}"), *x)));
        }
        out.push(("learning_rate".into(), f64::from(self.lr)));
        out
    }
}

/// What `fit` reports to its callback (the library never prints).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Every `FitOptions::log_every` steps, except at an epoch's last step.
    Step(&'a StepLog),
    /// At the end of each epoch, after validation.
    Epoch(&'a EpochLog),
}

/// Every epoch's log.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// One log per epoch run, in order (the same the callback received).
    pub epochs: Vec<EpochLog>,
}

impl Model {
    /// Trains for `opts.epochs` (from `opts.initial_epoch`), validating after each epoch when
    /// `valid` is given (or `opts.validation_split` cuts a validation set off the end).
    /// `callback` receives step and epoch reports; [`Model::fit_with`] takes callbacks that
    /// can also stop training, save checkpoints or change the learning rate.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        opts: &FitOptions,
        callback: impl FnMut(Event<'_>),
    ) -> Result<History> {
        self.fit_with(train, valid, opts, &mut [&mut OnEvent(callback)])
    }

    /// [`Model::fit`] with Keras-style callbacks, called in order at each report; training
    /// stops after the step or epoch at which any of them returns [`Control::Stop`] (the
    /// epoch still ends, is validated and logged).
    pub fn fit_with(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        opts: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let split;
        let (train, valid) = match (valid, opts.validation_split) {
            (Some(v), _) => (train, Some(v)),
            (None, 0.0) => (train, None),
            (None, f) => {
                split = validation_split(train, f)?;
                (&split.0, Some(&split.1))
            }
        };
        let opts = FitOptions {
            validation_split: 0.0,
            ..opts.clone()
        };
        self.fit_from(train, valid.map(|v| v as &dyn Source), &opts, callbacks)
    }

    /// [`Model::fit_with`] from any [`Source`]: a [`Dataset`] in memory or a streamed one such
    /// as `data::ImageFolder`, whose batches are made on its loader threads a few steps ahead
    /// of the GPU. `opts.validation_split` needs a `Dataset` (split a folder with
    /// `ImageFolder::split`).
    pub fn fit_from(
        &mut self,
        train: &dyn Source,
        valid: Option<&dyn Source>,
        opts: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        if opts.batch_size == 0 {
            return Err(Error::invalid("fit", "batch_size", 0, "must be at least 1"));
        }
        if opts.validation_split != 0.0 {
            return Err(Error::invalid(
                "fit_from",
                "validation_split",
                opts.validation_split,
                "needs an in-memory Dataset (Model::fit); pass a validation source instead",
            ));
        }
        let checked = (|| -> Result<(bool, bool)> {
            let scan_train = !self.check_source(train)?;
            let scan_valid = match valid {
                Some(v) => !self.check_source(v)?,
                None => false,
            };
            Ok((scan_train, scan_valid))
        })();
        let counts = [train.len(), valid.map_or(0, |v| v.len())];
        let (scan_train, scan_valid) = self.check_ranks(checked, &counts)?;
        let (rank, ranks) = self.world();
        let parallel = self.parallel.is_some();
        // Data-parallel: each step's global batch, `batch_size` per rank, cut into the
        // ranks' shards.
        let global = opts.batch_size.saturating_mul(ranks);
        let n = train.len();
        let steps = match opts.drop_last {
            true => n / global,
            false => n.div_ceil(global),
        };
        if steps == 0 {
            return Err(Error::Model(format!(
                "{n} training samples make no batch of {global}"
            )));
        }
        let per = train.sample().numel();
        self.take_sums(true)?;
        self.take_nonfinite()?;
        self.callbacks(callbacks, |c, m| {
            c.on_train_begin(m).map(|()| Control::Continue)
        })?;
        let mut history = History::default();
        let mut stop = false;
        for epoch in opts.initial_epoch..opts.epochs {
            let order = epoch_order(n, opts, epoch);
            let (offsets, batches): (Vec<usize>, Vec<&[usize]>) = order
                .chunks(global)
                .take(steps)
                .map(|c| super::parallel::shard(c, rank, ranks))
                .unzip();
            let start = Instant::now();
            let (mut since, mut since_samples, mut since_t) = (0usize, 0usize, Instant::now());
            let mut sums = vec![0.0; self.log_names().len()];
            // Steps of this epoch before the tracker's current window.
            let mut checked = 0;
            // Batches are made on loader threads, ahead of this one, which records and
            // submits: the GPU never waits for the host to gather or decode samples.
            for_each_batch(train, &batches, |s, batch| {
                let b = match parallel {
                    true => self.parallel_step(batch, scan_train, (epoch, s), offsets[s])?,
                    false => {
                        let batch = batch?;
                        if scan_train {
                            batch.check_finite(epoch, s)?;
                        }
                        if !batch.x.is_empty() {
                            let t: Vec<&[f32]> =
                                batch.targets.iter().map(|v| v.as_slice()).collect();
                            self.train_on_batch(&batch.x, &t)?;
                        }
                        batch.x.len() / per
                    }
                };
                since += b;
                since_samples += b;
                let log_now = opts.log_every > 0 && (s + 1) % opts.log_every == 0;
                if opts.terminate_on_nan && (log_now || (s + 1) % NAN_CHECK_STEPS == 0) {
                    let r = self.check_finite_loss(epoch, checked);
                    checked += self.agree(r, |_| false)?.0;
                }
                if log_now && s + 1 < steps {
                    let mut got = self.take_sums(true)?;
                    self.reduce_logged(&mut got, &mut [])?;
                    sums.iter_mut().zip(&got).for_each(|(a, g)| *a += g);
                    let m = self.metrics(&got, since);
                    let log = StepLog {
                        epoch,
                        step: s + 1,
                        steps,
                        loss: m.loss,
                        accuracy: m.accuracy,
                        images_per_sec: since as f64 / since_t.elapsed().as_secs_f64(),
                        values: m.values,
                    };
                    stop |= self.callbacks(callbacks, |c, m| c.on_step(m, &log))?;
                    (since, since_t) = (0, Instant::now());
                }
                Ok(!stop)
            })?;
            if since_samples == 0 {
                return Err(Error::Model(format!(
                    "epoch {epoch} had no sample the source could read"
                )));
            }
            let r = match opts.terminate_on_nan {
                true => self.check_finite_loss(epoch, checked).map(drop),
                false => self.take_nonfinite().map(drop),
            };
            self.agree(r, |_| false)?;
            let mut got = self.take_sums(true)?;
            self.reduce_logged(&mut got, &mut [])?;
            sums.iter_mut().zip(&got).for_each(|(a, g)| *a += g);
            let seconds = start.elapsed().as_secs_f64();
            let train_m = self.metrics(&sums, since_samples);
            // Batch norm's running statistics: rank 0's on every rank, as validation and
            // checkpoints read them.
            self.sync_buffers()?;
            let valid_m = match valid {
                Some(v) => Some(self.evaluate_checked(v, opts.batch_size, scan_valid)?),
                None => None,
            };
            let log = EpochLog {
                epoch,
                train: train_m,
                valid: valid_m,
                seconds,
                images_per_sec: since_samples as f64 / seconds,
                lr: self.schedule.lr(self.base_lr, self.step.saturating_sub(1)),
            };
            stop |= self.callbacks(callbacks, |c, m| c.on_epoch_end(m, &log))?;
            history.epochs.push(log);
            if stop {
                break;
            }
        }
        self.callbacks(callbacks, |c, m| {
            c.on_train_end(m, &history).map(|()| Control::Continue)
        })?;
        Ok(history)
    }

    /// Runs `f` on each callback in order; whether any said stop. Data-parallel: every rank
    /// runs them, and the outcome (an `Err` anywhere, a stop anywhere) is every rank's.
    fn callbacks(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        mut f: impl FnMut(&mut dyn Callback, &mut Model) -> Result<Control>,
    ) -> Result<bool> {
        let mut run = || -> Result<bool> {
            let mut stop = false;
            for c in callbacks.iter_mut() {
                stop |= f(&mut **c, self)? == Control::Stop;
            }
            Ok(stop)
        };
        let local = run();
        Ok(self.agree(local, |s| *s)?.1)
    }

    /// An `Err` when a training step since the last check had a non-finite loss (`checked`
    /// steps of `epoch` came before them); else the number of steps checked.
    fn check_finite_loss(&mut self, epoch: usize, checked: usize) -> Result<usize> {
        match self.take_nonfinite()? {
            (Some((before, loss)), _) => Err(Error::NonFiniteLoss {
                epoch,
                step: checked + before + 1,
                loss,
            }),
            (None, steps) => Ok(steps),
        }
    }

    /// Mean loss and accuracy over `data` in inference mode.
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Metrics> {
        self.evaluate_from(data, batch_size)
    }

    /// [`Model::evaluate`] over any [`Source`], its batches made on its loader threads.
    pub fn evaluate_from(&mut self, data: &dyn Source, batch_size: usize) -> Result<Metrics> {
        let scan = !self.check_source(data)?;
        self.evaluate_checked(data, batch_size, scan)
    }

    /// [`Model::evaluate_from`] for a source already checked, scanning each batch for
    /// non-finite values when `scan`.
    fn evaluate_checked(
        &mut self,
        data: &dyn Source,
        batch_size: usize,
        scan: bool,
    ) -> Result<Metrics> {
        if self.heads.is_empty() {
            return Err(Error::Model("compile the model with a loss first".into()));
        }
        if batch_size == 0 {
            return Err(Error::invalid(
                "evaluate",
                "batch_size",
                batch_size,
                "must be at least 1",
            ));
        }
        self.take_sums(false)?;
        // Data-parallel: rank r evaluates batches r, r + ranks, …; the sums are reduced.
        let (rank, ranks) = self.world();
        let order: Vec<usize> = (0..data.len()).collect();
        let batches: Vec<&[usize]> = order.chunks(batch_size).skip(rank).step_by(ranks).collect();
        let mut n = 0;
        let local = for_each_batch(data, &batches, |s, batch| {
            let batch = batch?;
            if scan {
                batch.check_finite(0, s * ranks + rank)?;
            }
            if batch.x.is_empty() {
                return Ok(true);
            }
            let t: Vec<&[f32]> = batch.targets.iter().map(|v| v.as_slice()).collect();
            let b = self.check_batch(&batch.x, &t)?;
            let i = self.plan(false, b)?;
            self.plans[i].step(&[&batch.x], &t, self.step as u32, None)?;
            n += b;
            Ok(true)
        });
        let local = local.and_then(|()| self.take_sums(false));
        let (mut sums, _) = self.agree(local, |_| false)?;
        let mut count = [n];
        self.reduce_logged(&mut sums, &mut count)?;
        if count[0] == 0 {
            return Err(Error::Model(
                "no sample of the evaluation source could be read".into(),
            ));
        }
        Ok(self.metrics(&sums, count[0]))
    }
}

/// The sample order of `epoch`: a permutation drawn from (seed, epoch), or 0..n.
fn epoch_order(n: usize, opts: &FitOptions, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if opts.shuffle {
        Rng::new(opts.seed ^ (epoch as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F))
            .shuffle(&mut order);
    }
    order
}

/// Keras's `validation_split`: (the first `1 − fraction` of the samples, the rest), in their
/// order (before any shuffling).
fn validation_split(data: &Dataset, fraction: f64) -> Result<(Dataset, Dataset)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::invalid(
            "fit",
            "validation_split",
            fraction,
            "must be in [0, 1)",
        ));
    }
    let n = data.len();
    let at = (n as f64 * (1.0 - fraction)).floor() as usize;
    if at == 0 || at == n {
        return Err(Error::invalid(
            "fit",
            "validation_split",
            fraction,
            format!("leaves an empty training or validation set of {n} samples"),
        ));
    }
    let idx: Vec<usize> = (0..n).collect();
    Ok((data.subset(&idx[..at])?, data.subset(&idx[at..])?))
}
