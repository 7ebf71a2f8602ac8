//! Training: losses, learning-rate schedules, in-memory datasets, the GPU [`Model`] with
//! `fit` / `evaluate` / `predict`, safetensors checkpoints, and the f64 reference trainer that
//! proves it.

pub mod checkpoint;
mod dataset;
pub mod loss;
mod model;
mod plot;
mod reference;
mod schedule;

pub use dataset::{Dataset, Targets};
pub use loss::{Head, Loss};
pub use model::{EpochLog, Event, FitOptions, History, Metrics, Model, StepLog};
pub use reference::ReferenceTrainer;
pub use schedule::Schedule;
