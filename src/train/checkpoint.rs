//! Checkpoints in safetensors: every parameter and buffer under PyTorch's names
//! (`layer1.0.conv1.weight`, `bn1.running_var`, …, plus `num_batches_tracked` for each batch
//! norm so `load_state_dict` accepts the file), the optimiser state per parameter
//! (`optimizer.s1.<name>`, …) and the step counters in the metadata. Writes go to a temporary
//! file that is renamed over the target, so a crash never leaves a half-written checkpoint.
//! Loading checks every tensor (present, f32, right shape) before changing anything, and a
//! checksum written by wgcnn catches corrupted data.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::Model;
use crate::error::{write_atomic, Error, Result};
use crate::graph::params::BankOptimizers;
use crate::nn::Layer;
use crate::ops::optim::Optimizer;

const STEP: &str = "wgcnn.step";
const OPT_STEP: &str = "wgcnn.optimizer.step";
const OPT_MU: &str = "wgcnn.optimizer.mu_product";
const CHECKSUM: &str = "wgcnn.fnv1a64";
const OPT_KIND: &str = "wgcnn.optimizer";

/// The optimiser's family, which fixes what its state slots hold.
fn optimizer_kind(o: &Optimizer) -> &'static str {
    match o {
        Optimizer::Sgd { .. } => "sgd",
        Optimizer::Adam { .. } => "adam",
        Optimizer::Nadam { .. } => "nadam",
        Optimizer::RmsProp { .. } => "rmsprop",
    }
}
const SLOTS: [&str; 3] = ["s1", "s2", "s3"];

/// FNV-1a over the metadata (but the checksum itself), then each tensor's name, dtype, shape
/// and bytes, tensors in name order.
fn checksum<'a>(
    meta: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut keys: Vec<&String> = meta.keys().filter(|k| *k != CHECKSUM).collect();
    keys.sort();
    for k in keys {
        eat(k.as_bytes());
        eat(meta[k].as_bytes());
    }
    for (name, dtype, shape, bytes) in tensors {
        eat(name.as_bytes());
        eat(format!("{dtype:?}{shape:?}").as_bytes());
        eat(bytes);
    }
    h
}

/// Names of batch-norm layers (they get a `num_batches_tracked` entry).
pub(super) fn batch_norms(model: &Model) -> Vec<String> {
    model
        .graph
        .nodes()
        .iter()
        .filter(|n| matches!(n.layer, Layer::BatchNorm2d(_) | Layer::BatchNorm1d(_)))
        .map(|n| n.name.clone())
        .collect()
}

impl Model {
    /// Saves parameters, buffers, optimiser state and counters to `path` atomically. A
    /// [`Model::distribute`]d model writes on rank 0 only (every rank holds the same values)
    /// and returns `Ok` on the others.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with(path, &[])
    }

    /// [`Model::save`] with extra string metadata (what a later program needs to rebuild
    /// the model: its name, class names, input normalisation …); keys starting with
    /// `wgcnn.` are reserved.
    pub fn save_with(&self, path: impl AsRef<Path>, extra: &[(&str, &str)]) -> Result<()> {
        let path = path.as_ref();
        if let Some((k, _)) = extra.iter().find(|(k, _)| k.starts_with("wgcnn.")) {
            return Err(Error::invalid(
                "save",
                "metadata key",
                k,
                "keys starting with `wgcnn.` are reserved",
            ));
        }
        if !self.is_root() {
            return Ok(());
        }
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let params = self.store.read(&self.graph)?;
        for (p, v) in self.graph.params().iter().zip(&params) {
            let bytes = bytemuck::cast_slice(v).to_vec();
            tensors.push((
                p.name.clone(),
                Dtype::F32,
                p.spec.shape.dims().to_vec(),
                bytes,
            ));
        }
        for bn in batch_norms(self) {
            let count = (self.step as i64).to_le_bytes().to_vec();
            tensors.push((
                format!("{bn}.num_batches_tracked"),
                Dtype::I64,
                vec![],
                count,
            ));
        }
        let mut meta: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        meta.insert(STEP.to_string(), self.step.to_string());
        if let Some(opt) = &self.optimizer {
            let updated = self.graph.updated();
            // Per bank: its three state vectors.
            let mut state = std::collections::BTreeMap::new();
            for (b, s) in &opt.states {
                state.insert(*b, [s.s1.to_vec()?, s.s2.to_vec()?, s.s3.to_vec()?]);
            }
            for (k, p) in self.graph.params().iter().enumerate() {
                let (b, at) = self.store.slots[k];
                let Some(bank) = state.get(&b).filter(|_| updated[k]) else {
                    continue;
                };
                for (slot, s) in SLOTS.iter().zip(bank) {
                    let v = &s[at..at + p.data.len()];
                    let bytes = bytemuck::cast_slice(v).to_vec();
                    let name = format!("optimizer.{slot}.{}", p.name);
                    tensors.push((name, Dtype::F32, p.spec.shape.dims().to_vec(), bytes));
                }
            }
            let (step, mu) = opt.counters();
            meta.insert(
                OPT_KIND.to_string(),
                optimizer_kind(&opt.optimizer()).into(),
            );
            meta.insert(OPT_STEP.to_string(), step.to_string());
            meta.insert(OPT_MU.to_string(), format!("{mu:?}"));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let items = tensors
            .iter()
            .map(|t| (t.0.as_str(), t.1, t.2.as_slice(), t.3.as_slice()));
        let sum = checksum(&meta, items);
        meta.insert(CHECKSUM.to_string(), format!("{sum:016x}"));
        let views = tensors
            .iter()
            .map(|(n, d, s, b)| {
                safetensors::tensor::TensorView::new(*d, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Error::format(path, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::format(path, e.to_string()))?;
        write_atomic(path, &bytes)
    }

    /// Loads a checkpoint written by [`Model::save`] or exported from PyTorch with the same
    /// architecture and names. Nothing changes unless every tensor checks out.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let (bytes, meta) = read_verified(path)?;
        let st = deserialize(path, &bytes)?;
        let f32s = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            f32_tensor(&st, path, name, shape)?
                .ok_or_else(|| Error::format(path, format!("tensor `{name}` is missing")))
        };
        let mut values = Vec::new();
        for p in self.graph.params() {
            values.push(f32s(&p.name, p.spec.shape.dims())?);
        }
        let known: Vec<String> = self
            .graph
            .params()
            .iter()
            .map(|p| p.name.clone())
            .chain(
                batch_norms(self)
                    .iter()
                    .map(|b| format!("{b}.num_batches_tracked")),
            )
            .collect();
        if let Some(extra) = st
            .names()
            .into_iter()
            .find(|n| !n.starts_with("optimizer.") && !known.iter().any(|k| k == n))
        {
            return Err(Error::format(
                path,
                format!("tensor `{extra}` has no place in this model"),
            ));
        }
        let counter = |key: &str| -> Result<Option<u64>> {
            meta.get(key)
                .map(|v| {
                    v.parse().map_err(|_| {
                        Error::format(path, format!("metadata `{key}` = `{v}` is not a count"))
                    })
                })
                .transpose()
        };
        let step = counter(STEP)?;
        // Optimiser state: all of it or none (a file from PyTorch carries none).
        let mut opt_state = None;
        let updated = self.graph.updated();
        if let Some(opt) = &self.optimizer {
            // All of it or none: a file saved with other layers frozen or other heads lacks
            // some parameters' state, and the optimiser then starts afresh.
            let names = st.names();
            let has = self
                .graph
                .params()
                .iter()
                .enumerate()
                .filter(|(k, _)| updated[*k])
                .all(|(_, p)| {
                    SLOTS
                        .iter()
                        .all(|s| names.contains(&format!("optimizer.{s}.{}", p.name).as_str()))
                })
                && names.iter().any(|n| n.starts_with("optimizer."));
            let kind = meta.get(OPT_KIND);
            if has && kind.is_some_and(|k| k != optimizer_kind(&opt.optimizer())) {
                return Err(Error::format(
                    path,
                    format!(
                        "the optimiser state is {}'s, the model is compiled with {}",
                        kind.map_or("", |k| k.as_str()),
                        optimizer_kind(&opt.optimizer())
                    ),
                ));
            }
            if has {
                // Per optimiser bank: its three state vectors, filled per parameter.
                let mut flat: Vec<[Vec<f32>; 3]> = opt
                    .states
                    .iter()
                    .map(|(_, st)| std::array::from_fn(|_| vec![0.0f32; st.s1.numel()]))
                    .collect();
                for (k, p) in self.graph.params().iter().enumerate() {
                    let (b, at) = self.store.slots[k];
                    let i = opt.states.iter().position(|(bb, _)| *bb == b);
                    let Some(i) = i.filter(|_| updated[k]) else {
                        continue;
                    };
                    for (slot, dst) in SLOTS.iter().zip(flat[i].iter_mut()) {
                        let v = f32s(&format!("optimizer.{slot}.{}", p.name), p.spec.shape.dims())?;
                        dst[at..at + v.len()].copy_from_slice(&v);
                    }
                }
                let t = counter(OPT_STEP)?
                    .ok_or_else(|| Error::format(path, "optimizer step count missing"))?;
                let mu: f64 = meta
                    .get(OPT_MU)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Error::format(path, "optimizer momentum product missing"))?;
                opt_state = Some((flat, t, mu));
            }
        }
        for (k, v) in values.iter().enumerate() {
            self.store.write(k, v)?;
        }
        // A file without optimiser state (a PyTorch export) starts the optimiser afresh.
        if let (Some(opt), None) = (&self.optimizer, &opt_state) {
            self.optimizer = Some(BankOptimizers::new(
                self.gpu(),
                opt.optimizer(),
                &self.store,
            )?);
        }
        if let (Some(opt), Some((flat, t, mu))) = (self.optimizer.as_mut(), opt_state) {
            for ((_, st), bank) in opt.states.iter().zip(&flat) {
                for (dst, v) in [&st.s1, &st.s2, &st.s3].into_iter().zip(bank) {
                    dst.gpu().queue().write_buffer(
                        dst.buffer(),
                        dst.offset(),
                        bytemuck::cast_slice(v),
                    );
                }
            }
            opt.set_counters(t, mu);
        }
        if let Some(s) = step {
            self.step = s;
        }
        self.sync_params()
    }
}

/// The string metadata of a safetensors file (what [`Model::save_with`] stored), without
/// loading its tensors into a model.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// The bytes and metadata of a safetensors file whose checksum, if it has one, checks out.
pub(super) fn read_verified(path: &Path) -> Result<(Vec<u8>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = deserialize(path, &bytes)?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    // A wgcnn file always carries its checksum: wgcnn metadata without one is a damaged
    // checksum entry (one flipped bit in its key), not a PyTorch export.
    if !meta.contains_key(CHECKSUM) && meta.keys().any(|k| k.starts_with("wgcnn.")) {
        return Err(Error::format(
            path,
            "the file carries wgcnn metadata but no checksum entry: it is corrupt",
        ));
    }
    if let Some(want) = meta.get(CHECKSUM) {
        let mut names = st.names();
        names.sort();
        let views: Vec<_> = names
            .iter()
            .map(|n| st.tensor(n).map(|v| (*n, v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::format(path, e.to_string()))?;
        let items = views
            .iter()
            .map(|(n, v)| (*n, v.dtype(), v.shape(), v.data()));
        let got = checksum(&meta, items);
        if format!("{got:016x}") != *want {
            return Err(Error::format(
                path,
                "checksum mismatch: the file is corrupt",
            ));
        }
    }
    Ok((bytes, meta))
}

pub(super) fn deserialize<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))
}

/// Tensor `name` of `st` as f32 values of `shape`, `None` when the file lacks it; an error
/// naming it when it is not f32 or has another shape.
pub(super) fn f32_tensor(
    st: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Option<Vec<f32>>> {
    let Ok(v) = st.tensor(name) else {
        return Ok(None);
    };
    if v.dtype() != Dtype::F32 {
        return Err(Error::format(
            path,
            format!("tensor `{name}` is {:?}, expected F32", v.dtype()),
        ));
    }
    if v.shape() != shape {
        return Err(Error::format(
            path,
            format!(
                "tensor `{name}` has shape {:?}, the model expects {shape:?}",
                v.shape()
            ),
        ));
    }
    Ok(Some(
        v.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    ))
}
