//! Training: losses, learning-rate schedules, in-memory datasets, the GPU [`Model`] with
//! `fit` / `evaluate` / `predict`, safetensors checkpoints, and the f64 reference trainer that
//! proves it.

pub mod checkpoint;
mod dataset;
mod fit;
pub mod loss;
mod model;
mod plot;
mod reference;
mod schedule;

pub use dataset::{Dataset, Targets};
pub use fit::{EpochLog, Event, FitOptions, History, Metrics, StepLog};
pub use loss::{Head, Loss};
pub use model::Model;
pub use reference::ReferenceTrainer;
pub use schedule::Schedule;
