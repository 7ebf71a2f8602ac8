//! Training: learning-rate schedules, in-memory datasets, the GPU [`Model`] with
//! `fit` / `evaluate` / `predict`, safetensors checkpoints, and the f64 reference trainer that
//! proves it.

pub mod callbacks;
pub mod checkpoint;
mod checks;
mod dataset;
mod fit;
mod metrics;
mod model;
mod parallel;
#[cfg(feature = "plot")]
pub mod plot;
mod predict;
mod reference;
mod schedule;
mod source;
mod transfer;

/// The losses live with the layers (`nn::loss`), below the graphs that compile them.
pub use crate::nn::loss::{self, Head, Loss, Metric};
pub use callbacks::{
    Callback, Control, CsvLogger, EarlyStopping, ModelCheckpoint, OnEvent, ReduceLROnPlateau,
};
pub use dataset::{Dataset, Targets};
pub use fit::{EpochLog, Event, FitOptions, History, StepLog};
pub use metrics::Metrics;
pub use model::Model;
pub use parallel::{Collective, ParallelTimes};
pub use reference::ReferenceTrainer;
pub use schedule::Schedule;
pub use source::{Batch, Source};
pub use transfer::LoadReport;
