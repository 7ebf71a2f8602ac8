//! `summary()`: Keras's table (layer, output shape, parameters) plus the planned device
//! memory for inference and training at a batch size.

use std::fmt;

use super::Graph;
use crate::shape::Shape;

/// One row of the summary.
#[derive(Clone, Debug)]
pub struct LayerRow {
    /// The node's name ([`super::Node::name`]).
    pub name: String,
    /// The layer type's Keras name stem (`conv2d`, `dense`, …).
    pub kind: &'static str,
    /// Per-sample output shape (Keras prints the batch axis as `None`).
    pub output: Shape,
    /// Trainable elements (weights of an unfrozen layer).
    pub trainable: usize,
    /// Frozen weights and buffers (batch-norm running statistics).
    pub non_trainable: usize,
}

/// Planned device memory of a compiled model, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// The batch size the plans were made for.
    pub batch: usize,
    /// Parameters and buffers (the flat parameter banks, alignment padding included).
    pub params: u64,
    /// Activations and temporaries of the inference plan (its buffer pool and batch).
    pub inference_activations: u64,
    /// Activations kept for backward, gradients of activations and temporaries.
    pub training_activations: u64,
    /// Parameter gradients and optimiser state.
    pub training_state: u64,
    /// The largest sum of two consecutive layers' outputs (the inference floor).
    pub two_largest_consecutive: u64,
    /// Dispatches per step of each plan.
    pub inference_dispatches: u64,
    /// Dispatches per training step; 0, like the training bytes, before `compile`.
    pub training_dispatches: u64,
}

impl Memory {
    /// Bytes of an inference at `batch`: parameters and inference activations.
    pub fn inference_total(&self) -> u64 {
        self.params + self.inference_activations
    }
    /// Bytes of training at `batch`: parameters, training activations, gradients and
    /// optimiser state.
    pub fn training_total(&self) -> u64 {
        self.params + self.training_activations + self.training_state
    }
}

/// A model's summary; `Display` prints the table.
#[derive(Clone, Debug)]
pub struct Summary {
    /// One row per layer, in the graph's order.
    pub rows: Vec<LayerRow>,
    /// Sum of the rows' trainable elements.
    pub trainable: usize,
    /// Sum of the rows' frozen weights and buffers.
    pub non_trainable: usize,
    /// The planned device memory: `Some` from `Model::summary`, `None` from
    /// `Graph::summary`, which needs no device.
    pub memory: Option<Memory>,
}

impl Graph {
    /// Layer rows and parameter totals (no device needed).
    pub fn summary(&self) -> Summary {
        let updated = self.updated();
        let rows: Vec<LayerRow> = self
            .nodes
            .iter()
            .map(|n| {
                let (mut t, mut f) = (0, 0);
                for &k in &n.params {
                    match updated[k] {
                        true => t += self.params[k].data.len(),
                        false => f += self.params[k].data.len(),
                    }
                }
                LayerRow {
                    name: n.name.clone(),
                    kind: n.layer.kind(),
                    output: self.shapes[n.output.0].clone(),
                    trainable: t,
                    non_trainable: f,
                }
            })
            .collect();
        Summary {
            trainable: rows.iter().map(|r| r.trainable).sum(),
            non_trainable: rows.iter().map(|r| r.non_trainable).sum(),
            rows,
            memory: None,
        }
    }

    /// Bytes of the largest two consecutive layer outputs at batch `n` (inputs included).
    pub(crate) fn two_largest_consecutive(&self, n: usize) -> u64 {
        let sizes: Vec<u64> = self
            .inputs
            .iter()
            .take(1)
            .chain(self.nodes.iter().map(|x| &x.output))
            .map(|v| self.shapes[v.0].numel() as u64 * n as u64 * 4)
            .collect();
        sizes.windows(2).map(|w| w[0] + w[1]).max().unwrap_or(0)
    }
}

impl Summary {
    /// Total parameter count (trainable and not).
    pub fn total(&self) -> usize {
        self.trainable + self.non_trainable
    }
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = |r: &LayerRow| format!("{} ({})", r.name, r.kind);
        let shape = |r: &LayerRow| {
            format!(
                "(None, {})",
                r.output.to_string()[1..].trim_end_matches(']')
            )
        };
        let width = |f: &dyn Fn(&LayerRow) -> String| {
            self.rows
                .iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(0)
                .max(12)
        };
        let (w1, w2) = (width(&label), width(&shape));
        let line = "─".repeat(w1 + w2 + 14);
        writeln!(
            f,
            "{:<w1$} {:<w2$} {:>12}",
            "Layer (type)", "Output Shape", "Param #"
        )?;
        writeln!(f, "{line}")?;
        for r in &self.rows {
            let params = r.trainable + r.non_trainable;
            writeln!(f, "{:<w1$} {:<w2$} {:>12}", label(r), shape(r), params)?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", self.total())?;
        writeln!(f, "Trainable params: {}", self.trainable)?;
        writeln!(f, "Non-trainable params: {}", self.non_trainable)?;
        if let Some(m) = &self.memory {
            writeln!(f, "{line}")?;
            writeln!(f, "Planned device memory at batch {}:", m.batch)?;
            writeln!(f, "  parameters and buffers: {}", mib(m.params))?;
            writeln!(
                f,
                "  inference: {} ({} activations; two largest consecutive layers {}), {} dispatches",
                mib(m.inference_total()),
                mib(m.inference_activations),
                mib(m.two_largest_consecutive),
                m.inference_dispatches
            )?;
            writeln!(
                f,
                "  training:  {} ({} activations, {} gradients and optimiser state), {} dispatches per step",
                mib(m.training_total()),
                mib(m.training_activations),
                mib(m.training_state),
                m.training_dispatches
            )?;
        }
        Ok(())
    }
}
