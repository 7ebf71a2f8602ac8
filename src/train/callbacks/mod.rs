//! Callbacks of [`Model::fit_with`], with Keras's names and semantics: [`EarlyStopping`],
//! [`ModelCheckpoint`], [`ReduceLROnPlateau`], [`CsvLogger`], and [`OnEvent`] for a closure.
//! NaN losses stop training through `FitOptions::terminate_on_nan` (Keras's `TerminateOnNaN`),
//! on by default.

mod checkpoint;
mod csv;
mod early_stopping;
mod plateau;

pub use checkpoint::ModelCheckpoint;
pub use csv::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use plateau::ReduceLROnPlateau;

use super::fit::{EpochLog, Event, History, StepLog};
use super::Model;
use crate::error::{Error, Result};

/// Whether training goes on after a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this step or epoch (the epoch still ends, is validated and logged).
    Stop,
}

/// Something [`Model::fit_with`] reports to. Every method has a default that does nothing.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// Every `FitOptions::log_every` steps (not at an epoch's last step).
    fn on_step(&mut self, _model: &mut Model, _log: &StepLog) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After each epoch and its validation.
    fn on_epoch_end(&mut self, _model: &mut Model, _log: &EpochLog) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch, or the one at which training stopped.
    fn on_train_end(&mut self, _model: &mut Model, _history: &History) -> Result<()> {
        Ok(())
    }
}

/// A closure that sees every [`Event`] and never stops training (what [`Model::fit`] takes).
pub struct OnEvent<F>(pub F);

impl<F: FnMut(Event<'_>)> Callback for OnEvent<F> {
    fn on_step(&mut self, _model: &mut Model, log: &StepLog) -> Result<Control> {
        (self.0)(Event::Step(log));
        Ok(Control::Continue)
    }
    fn on_epoch_end(&mut self, _model: &mut Model, log: &EpochLog) -> Result<Control> {
        (self.0)(Event::Epoch(log));
        Ok(Control::Continue)
    }
}

/// Whether a monitored value improves by becoming smaller or larger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Larger for names containing `acc`, smaller otherwise (Keras's `auto`).
    Auto,
    /// Smaller is better (losses, errors).
    Min,
    /// Larger is better (accuracies).
    Max,
}

/// The monitored quantity: its name, its direction, the improvement that counts.
#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub(crate) name: String,
    larger: bool,
    pub(crate) min_delta: f64,
}

impl Monitor {
    pub(crate) fn new(name: &str, mode: Mode, min_delta: f64) -> Monitor {
        let larger = match mode {
            Mode::Auto => name.contains("acc"),
            Mode::Min => false,
            Mode::Max => true,
        };
        Monitor {
            name: name.to_string(),
            larger,
            min_delta: min_delta.abs(),
        }
    }
    /// The worst value, from which any real one improves.
    pub(crate) fn worst(&self) -> f64 {
        if self.larger {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }
    }
    /// Whether `v` beats `best` by more than `min_delta` (Keras: `v − δ > best` for max,
    /// `v + δ < best` for min).
    pub(crate) fn improves(&self, v: f64, best: f64) -> bool {
        if self.larger {
            v - self.min_delta > best
        } else {
            v + self.min_delta < best
        }
    }
    /// The value in `log`, or an error naming what the log has.
    pub(crate) fn read(&self, log: &EpochLog) -> Result<f64> {
        log.get(&self.name).ok_or_else(|| {
            let have: Vec<String> = log.logs().into_iter().map(|(n, _)| n).collect();
            Error::Model(format!(
                "the monitored `{}` is not logged; the logs have {}",
                self.name,
                have.join(", ")
            ))
        })
    }
}
