//! Loading part of a checkpoint into a model of another shape (a pretrained backbone under a
//! new head): PyTorch's `load_state_dict(strict=False)`.

use std::collections::HashMap;
use std::path::Path;

use super::checkpoint::{batch_norms, deserialize, f32_tensor, read_verified};
use super::Model;
use crate::error::{Error, Result};

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
        self.load_non_strict_renamed(path, &|n| n.to_string())
    }

    /// [`Model::load_non_strict`] for a file of another naming: `rename` maps each of the
    /// file's tensor names to the model's name for it (timm's `conv_stem.weight` to the
    /// zoo's `features.0.0.weight`). The report uses the model's names; unexpected tensors
    /// are listed under their renamed names.
    pub fn load_non_strict_renamed(
        &mut self,
        path: impl AsRef<Path>,
        rename: &dyn Fn(&str) -> String,
    ) -> Result<LoadReport> {
        let path = path.as_ref();
        let (bytes, _) = read_verified(path)?;
        let st = deserialize(path, &bytes)?;
        // The model's name → the file's; two file tensors under one model name are an error.
        let mut in_file: HashMap<String, String> = HashMap::new();
        for n in st.names() {
            if let Some(other) = in_file.insert(rename(n), n.to_string()) {
                return Err(Error::format(
                    path,
                    format!("tensors `{other}` and `{n}` both load as `{}`", rename(n)),
                ));
            }
        }
        let mut report = LoadReport::default();
        let mut values = Vec::new();
        for (k, p) in self.graph.params().iter().enumerate() {
            let found = match in_file.get(&p.name) {
                Some(f) => f32_tensor(&st, path, f, p.spec.shape.dims())?,
                None => None,
            };
            match found {
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
        let mut unexpected: Vec<String> = in_file
            .keys()
            .filter(|n| !n.starts_with("optimizer."))
            .filter(|n| !params.iter().any(|p| p.name == **n) && !counters.iter().any(|c| c == *n))
            .cloned()
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
