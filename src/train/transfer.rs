//! Loading part of a checkpoint into a model of another shape (a pretrained backbone under a
//! new head): PyTorch's `load_state_dict(strict=False)`.

use std::path::Path;

use super::checkpoint::{batch_norms, deserialize, f32_tensor, read_verified};
use super::Model;
use crate::error::Result;

/// What [`Model::load_non_strict`] did, as PyTorch reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The model's parameters and buffers read from the file.
    pub loaded: Vec<String>,
    /// The model's parameters and buffers the file lacks (they keep their values).
    pub missing: Vec<String>,
    /// The file's tensors the model has no place for (ignored; optimiser state is not
    /// listed).
    pub unexpected: Vec<String>,
}

impl Model {
    /// Loads every parameter and buffer the file has under the model's names and reports the
    /// rest, for a backbone saved by [`Model::save`] or exported from PyTorch loading into a
    /// model with a new head. A tensor of the right name but another shape or dtype is an
    /// `Err` naming it (as is a corrupt file), and then nothing changes. The optimiser state
    /// and the step counters are left as they are.
    pub fn load_non_strict(&mut self, path: impl AsRef<Path>) -> Result<LoadReport> {
        let path = path.as_ref();
        let (bytes, _) = read_verified(path)?;
        let st = deserialize(path, &bytes)?;
        let mut report = LoadReport::default();
        let mut values = Vec::new();
        for (k, p) in self.graph.params().iter().enumerate() {
            match f32_tensor(&st, path, &p.name, p.spec.shape.dims())? {
                Some(v) => {
                    values.push((k, v));
                    report.loaded.push(p.name.clone());
                }
                None => report.missing.push(p.name.clone()),
            }
        }
        let counters: Vec<String> = batch_norms(self)
            .iter()
            .map(|b| format!("{b}.num_batches_tracked"))
            .collect();
        let params = self.graph.params();
        let mut unexpected: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| !n.starts_with("optimizer."))
            .filter(|n| !params.iter().any(|p| p.name == **n) && !counters.iter().any(|c| c == n))
            .map(str::to_string)
            .collect();
        unexpected.sort();
        report.unexpected = unexpected;
        for (k, v) in &values {
            self.store.write(*k, v)?;
        }
        self.sync_params()?;
        Ok(report)
    }
}
