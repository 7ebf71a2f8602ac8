//! [`ModelCheckpoint`].

use std::path::PathBuf;

use super::{Callback, Control, Mode, Monitor};
use crate::error::Result;
use crate::train::fit::EpochLog;
use crate::train::Model;

/// Saves the model after every epoch, or only when the monitored value improves (Keras's
/// `ModelCheckpoint`). `{epoch}` in the path becomes the epoch number from 1, as Keras
/// counts; each file is written to a temporary and renamed, so a crash never leaves a
/// half-written one, with the epoch and the monitored value in its metadata.
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    path: String,
    monitor: Monitor,
    save_best_only: bool,
    best: f64,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `path` after every epoch, monitoring `val_loss` for [`Self::save_best_only`].
    pub fn new(path: impl Into<String>) -> ModelCheckpoint {
        ModelCheckpoint {
            path: path.into(),
            monitor: Monitor::new("val_loss", Mode::Auto, 0.0),
            save_best_only: false,
            best: f64::INFINITY,
            saved: Vec::new(),
        }
    }
    /// The value compared for `save_best_only` (and written in the metadata).
    pub fn monitor(mut self, name: &str, mode: Mode) -> Self {
        self.monitor = Monitor::new(name, mode, 0.0);
        self
    }
    /// Saves only epochs whose monitored value beats every earlier one.
    pub fn save_best_only(mut self, on: bool) -> Self {
        self.save_best_only = on;
        self
    }
    /// The files written, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _model: &mut Model) -> Result<()> {
        self.best = self.monitor.worst();
        Ok(())
    }

    fn on_epoch_end(&mut self, model: &mut Model, log: &EpochLog) -> Result<Control> {
        let value = match self.save_best_only {
            true => Some(self.monitor.read(log)?),
            false => log.get(&self.monitor.name),
        };
        if self.save_best_only {
            let v = value.unwrap_or(f64::NAN);
            if !self.monitor.improves(v, self.best) {
                return Ok(Control::Continue);
            }
            self.best = v;
        }
        let path = PathBuf::from(self.path.replace("{epoch}", &(log.epoch + 1).to_string()));
        let epoch = (log.epoch + 1).to_string();
        let shown = value.map_or_else(|| "none".to_string(), |v| v.to_string());
        model.save_with(
            &path,
            &[
                ("epoch", epoch.as_str()),
                ("monitor", self.monitor.name.as_str()),
                ("monitor_value", shown.as_str()),
            ],
        )?;
        self.saved.push(path);
        Ok(Control::Continue)
    }
}
