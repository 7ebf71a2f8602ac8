//! [`ReduceLROnPlateau`].

use super::{Callback, Control, Mode, Monitor};
use crate::error::{Error, Result};
use crate::train::fit::EpochLog;
use crate::train::Model;

/// Multiplies the learning rate by `factor` once the monitored value has not improved for
/// `patience` epochs (Keras's `ReduceLROnPlateau`), down to `min_lr`, then waits `cooldown`
/// epochs before watching again.
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    cooldown: usize,
    min_lr: f64,
    wait: usize,
    cooldown_left: usize,
    best: f64,
}

impl ReduceLROnPlateau {
    /// Watches `monitor` with Keras's defaults: factor 0.1, patience 10, `min_delta` 1e-4,
    /// cooldown 0, `min_lr` 0, mode auto.
    pub fn new(monitor: &str) -> ReduceLROnPlateau {
        ReduceLROnPlateau {
            monitor: Monitor::new(monitor, Mode::Auto, 1e-4),
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_left: 0,
            best: f64::INFINITY,
        }
    }
    /// The factor the rate is multiplied by, in (0, 1).
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }
    /// Epochs without improvement before a reduction.
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }
    /// Epochs after a reduction before watching again.
    pub fn cooldown(mut self, epochs: usize) -> Self {
        self.cooldown = epochs;
        self
    }
    /// The rate is never reduced below this.
    pub fn min_lr(mut self, lr: f64) -> Self {
        self.min_lr = lr;
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
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _model: &mut Model) -> Result<()> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(Error::invalid(
                "ReduceLROnPlateau",
                "factor",
                self.factor,
                "must be in (0, 1)",
            ));
        }
        self.wait = 0;
        self.cooldown_left = 0;
        self.best = self.monitor.worst();
        Ok(())
    }

    fn on_epoch_end(&mut self, model: &mut Model, log: &EpochLog) -> Result<Control> {
        let current = self.monitor.read(log)?;
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(current, self.best) {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = f64::from(model.learning_rate());
                if old > self.min_lr {
                    model.set_learning_rate((old * self.factor).max(self.min_lr) as f32)?;
                    self.cooldown_left = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(Control::Continue)
    }
}
