//! A model as a graph: nodes are layers, values are the tensors between them. Built with
//! [`Sequential`] for chains or [`GraphBuilder`] for skip connections and concatenation;
//! shapes are inferred as each layer is added, and parameters are initialised from the seed.

mod buckets;
mod builder;
pub(crate) mod params;
pub(crate) mod plan;
pub(crate) mod run;
mod summary;

pub use builder::{GraphBuilder, Sequential};
pub use summary::{LayerRow, Memory, Summary};

use crate::error::{Error, Result};
use crate::nn::{Layer, ParamSpec};
use crate::shape::Shape;

/// A tensor of the graph (an input or a layer's output).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ValueId(pub(crate) usize);

/// One layer applied to its inputs.
#[derive(Clone, Debug)]
pub struct Node {
    /// Unique within the graph: Keras's automatic name (`conv2d_3`) or the one given to
    /// `add_named`. Parameter names (`<name>.weight`) and layer errors use it.
    pub name: String,
    /// The layer and its configuration.
    pub layer: Layer,
    /// The values it reads, in the order the layer takes them.
    pub inputs: Vec<ValueId>,
    /// The value it produces.
    pub output: ValueId,
    /// Indices into [`Graph::params`], in the layer's spec order.
    pub params: Vec<usize>,
    /// Frozen: no gradients for its weights, and batch norm uses its running statistics.
    pub frozen: bool,
}

/// A parameter or buffer with its current host values.
#[derive(Clone, Debug)]
pub struct Param {
    /// `<layer>.<spec name>`, e.g. `layer1.0.conv1.weight`.
    pub name: String,
    /// Its shape, initialiser and whether the optimiser trains it, as the layer declares it.
    pub spec: ParamSpec,
    /// The values, row-major, `spec.shape`'s element count of them: the initialiser's at
    /// build time, then whatever `Model::sync_params` or the caller last wrote.
    pub data: Vec<f32>,
}

/// A built model: layers in a topological order, per-sample value shapes, parameters.
#[derive(Clone, Debug)]
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    /// Per value, the shape of one sample (no batch axis).
    pub(crate) shapes: Vec<Shape>,
    pub(crate) inputs: Vec<ValueId>,
    pub(crate) outputs: Vec<ValueId>,
    pub(crate) params: Vec<Param>,
    pub(crate) seed: u64,
    /// Per output: whether a loss reads it (all of them until a model is compiled). Weights
    /// that reach no loss get no gradient and no update (no weight decay either, as PyTorch
    /// skips parameters without a gradient).
    pub(crate) trained_outputs: Vec<bool>,
}

impl Graph {
    /// The layers, in a topological order (each after the nodes of its inputs).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// Every parameter and buffer, in layer order and each layer's spec order; [`Node::params`]
    /// indexes into it.
    pub fn params(&self) -> &[Param] {
        &self.params
    }
    /// The parameters' host values, to set before building a `Model` (each keeps its length:
    /// `Model::new` refuses one that does not match its shape).
    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    /// The model inputs, in the order they were declared with `GraphBuilder::input`.
    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }
    /// The outputs given to `build`, in order; loss heads name them by index.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }
    /// The per-sample shape of a value.
    pub fn shape(&self, v: ValueId) -> &Shape {
        &self.shapes[v.0]
    }
    /// The shape of a value at batch size `n`.
    pub fn batch_shape(&self, v: ValueId, n: usize) -> Shape {
        let mut d = vec![n];
        d.extend_from_slice(self.shapes[v.0].dims());
        Shape::new(d)
    }
    /// The seed the graph was built with: it drew the initial parameters and keys the
    /// dropout masks.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Freezes (or unfreezes) every layer whose name starts with `prefix`; returns how many.
    /// An empty prefix matches every layer.
    pub fn set_trainable(&mut self, prefix: &str, trainable: bool) -> Result<usize> {
        let mut n = 0;
        for node in self.nodes.iter_mut().filter(|n| n.name.starts_with(prefix)) {
            node.frozen = !trainable;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Model(format!(
                "no layer name starts with `{prefix}`"
            )));
        }
        Ok(n)
    }

    /// Makes every batch norm synchronised (or not) across the processes of data-parallel
    /// training (PyTorch's `SyncBatchNorm.convert_sync_batchnorm`); returns how many. Call it
    /// before the graph goes into a `Model`.
    pub fn synchronize_batch_norm(&mut self, on: bool) -> usize {
        let mut n = 0;
        for node in &mut self.nodes {
            if let Layer::BatchNorm2d(b) = &mut node.layer {
                b.0.synchronized = on;
                n += 1;
            } else if let Layer::BatchNorm1d(b) = &mut node.layer {
                b.0.synchronized = on;
                n += 1;
            }
        }
        n
    }

    /// Freezes (or unfreezes) the layers at `range` in graph order (node indices: the inputs
    /// are not layers here, so Keras's `model.layers[56:]`, which counts its input layer, is
    /// `55..`); returns how many.
    pub fn set_trainable_range(
        &mut self,
        range: std::ops::Range<usize>,
        trainable: bool,
    ) -> Result<usize> {
        let n = self.nodes.len();
        if range.start >= range.end || range.end > n {
            return Err(Error::invalid(
                "set_trainable_range",
                "range",
                format!("{range:?}"),
                format!("must be a non-empty range of the {n} layers"),
            ));
        }
        for node in &mut self.nodes[range.clone()] {
            node.frozen = !trainable;
        }
        Ok(range.len())
    }

    /// Per parameter: whether the optimiser updates it (a trainable spec of an unfrozen layer
    /// whose output reaches a trained output).
    pub(crate) fn updated(&self) -> Vec<bool> {
        let reaches = self.reaches_loss();
        let mut u = vec![false; self.params.len()];
        for n in self
            .nodes
            .iter()
            .filter(|n| !n.frozen && reaches[n.output.0])
        {
            for &k in &n.params {
                u[k] |= self.params[k].spec.trainable;
            }
        }
        u
    }

    /// Per value: whether some trained output depends on it.
    pub(crate) fn reaches_loss(&self) -> Vec<bool> {
        let mut r = vec![false; self.shapes.len()];
        for (v, &on) in self.outputs.iter().zip(&self.trained_outputs) {
            r[v.0] |= on;
        }
        for n in self.nodes.iter().rev() {
            if r[n.output.0] {
                for v in &n.inputs {
                    r[v.0] = true;
                }
            }
        }
        r
    }

    /// Per value: whether a gradient must flow into it (some updated weight lies upstream).
    pub(crate) fn needs_grad(&self) -> Vec<bool> {
        let updated = self.updated();
        let mut need = vec![false; self.shapes.len()];
        for node in &self.nodes {
            let own = node.params.iter().any(|&k| updated[k]);
            need[node.output.0] = own || node.inputs.iter().any(|v| need[v.0]);
        }
        need
    }

    /// Index of the node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

impl Graph {
    /// Puts a parameter-free, shape-preserving layer between input `input` and every layer
    /// that read it (e.g. an [`Augment`](crate::nn::Augment) in front of a zoo model).
    pub fn prepend(&mut self, name: &str, layer: impl Into<Layer>, input: usize) -> Result<()> {
        let layer = layer.into();
        let v = *self
            .inputs
            .get(input)
            .ok_or_else(|| Error::Model(format!("the graph has no input {input}")))?;
        let fail = |e: Error| e.in_layer(name);
        if self.nodes.iter().any(|n| n.name == name) {
            return Err(fail(Error::Model(format!(
                "the name `{name}` is already used"
            ))));
        }
        let x = self.batch_shape(v, 1);
        if layer.output_shape(std::slice::from_ref(&x)).map_err(fail)? != x
            || !layer.params(&[x]).is_empty()
        {
            return Err(fail(Error::Model(
                "only parameter-free layers that keep the input's shape can be prepended".into(),
            )));
        }
        let out = ValueId(self.shapes.len());
        self.shapes.push(self.shapes[v.0].clone());
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == v {
                    *i = out;
                }
            }
        }
        for o in &mut self.outputs {
            if *o == v {
                *o = out;
            }
        }
        self.nodes.insert(
            0,
            Node {
                name: name.to_string(),
                layer,
                inputs: vec![v],
                output: out,
                params: Vec::new(),
                frozen: false,
            },
        );
        Ok(())
    }
}
