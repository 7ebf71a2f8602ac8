//! [`EarlyStopping`].

use super::{Callback, Control, Mode, Monitor};
use crate::error::Result;
use crate::train::fit::{EpochLog, History};
use crate::train::Model;

/// Stops training once the monitored value has not improved for `patience` epochs (Keras's
/// `EarlyStopping`); with `restore_best_weights`, the model ends with the best epoch's
/// weights.
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    restore_best_weights: bool,
    baseline: Option<f64>,
    start_from_epoch: usize,
    wait: usize,
    best: f64,
    best_epoch: Option<usize>,
    best_weights: Option<Vec<(String, Vec<f32>)>>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor` (e.g. `val_loss`) with Keras's defaults: `min_delta` 0, patience 0,
    /// mode auto, no weight restoring, no baseline.
    pub fn new(monitor: &str) -> EarlyStopping {
        EarlyStopping {
            monitor: Monitor::new(monitor, Mode::Auto, 0.0),
            patience: 0,
            restore_best_weights: false,
            baseline: None,
            start_from_epoch: 0,
            wait: 0,
            best: f64::INFINITY,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }
    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.monitor.min_delta = delta.abs();
        self
    }
    /// Whether the monitored value improves by falling or rising.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor = Monitor::new(&self.monitor.name, mode, self.monitor.min_delta);
        self
    }
    /// Ends training with the weights (and batch-norm statistics) of the best epoch.
    pub fn restore_best_weights(mut self, on: bool) -> Self {
        self.restore_best_weights = on;
        self
    }
    /// A value the monitored one must beat before patience is reset.
    pub fn baseline(mut self, v: f64) -> Self {
        self.baseline = Some(v);
        self
    }
    /// Epochs to wait before watching at all (a warm-up).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }
    /// The epoch at which training stopped, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
    /// The epoch with the best monitored value so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _model: &mut Model) -> Result<()> {
        self.wait = 0;
        self.best = self.monitor.worst();
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, model: &mut Model, log: &EpochLog) -> Result<Control> {
        let current = self.monitor.read(log)?;
        if log.epoch < self.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            // Until something improves, the first watched epoch's weights are the best.
            self.best_weights = Some(model.parameters()?);
            self.best_epoch = Some(log.epoch);
        }
        self.wait += 1;
        if self.monitor.improves(current, self.best) {
            self.best = current;
            self.best_epoch = Some(log.epoch);
            if self.restore_best_weights {
                self.best_weights = Some(model.parameters()?);
            }
            // Patience restarts only past the baseline too.
            if self
                .baseline
                .is_none_or(|b| self.monitor.improves(current, b))
            {
                self.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.wait >= self.patience && log.epoch > 0 {
            self.stopped_epoch = Some(log.epoch);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, model: &mut Model, _history: &History) -> Result<()> {
        match self.best_weights.take() {
            Some(w) if self.restore_best_weights => model.set_parameters(&w),
            _ => Ok(()),
        }
    }
}
