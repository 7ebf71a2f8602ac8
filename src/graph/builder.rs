//! Building graphs: the functional [`GraphBuilder`] and the chain-only [`Sequential`].

use std::collections::{HashMap, HashSet};

use super::{Graph, Node, Param, ValueId};
use crate::error::{Error, Result};
use crate::nn::Layer;
use crate::rng::Rng;
use crate::shape::Shape;

/// Functional builder: `input`, then `add` layers on values, then `build` with the outputs.
/// Each `add` infers the output shape and fails with an `Err` naming the layer.
pub struct GraphBuilder {
    nodes: Vec<Node>,
    shapes: Vec<Shape>,
    inputs: Vec<ValueId>,
    params: Vec<Param>,
    names: HashSet<String>,
    counters: HashMap<&'static str, usize>,
    rng: Rng,
    seed: u64,
}

impl GraphBuilder {
    /// `seed` drives parameter initialisation and dropout masks.
    pub fn new(seed: u64) -> GraphBuilder {
        GraphBuilder {
            nodes: Vec::new(),
            shapes: Vec::new(),
            inputs: Vec::new(),
            params: Vec::new(),
            names: HashSet::new(),
            counters: HashMap::new(),
            rng: Rng::new(seed),
            seed,
        }
    }

    /// Continues from `graph` cut at the node named `at` (Keras's `include_top=False` and a
    /// new head): the nodes `at` needs, with their parameters' current values, names and
    /// frozen flags, and the graph's inputs. Returns the builder and `at`'s output to build
    /// the new layers on; they draw their initial values from a seed derived from the graph's.
    pub fn from_graph(graph: &Graph, at: &str) -> Result<(GraphBuilder, ValueId)> {
        let v = layer_output(graph, at)?;
        Ok((cut(graph, &[v]), v))
    }

    /// A model input of per-sample shape `shape` (e.g. `[3, 32, 32]`).
    pub fn input(&mut self, shape: impl Into<Shape>) -> ValueId {
        let v = ValueId(self.shapes.len());
        self.shapes.push(shape.into());
        self.inputs.push(v);
        v
    }

    /// Adds `layer` on `inputs` under Keras's automatic name (`conv2d_3`).
    pub fn add(&mut self, layer: impl Into<Layer>, inputs: &[ValueId]) -> Result<ValueId> {
        let layer = layer.into();
        let kind = layer.kind();
        let name = loop {
            let c = self.counters.entry(kind).or_insert(0);
            *c += 1;
            let name = format!("{kind}_{c}");
            if !self.names.contains(&name) {
                break name;
            }
        };
        self.add_named(&name, layer, inputs)
    }

    /// Adds `layer` under `name` (parameters are saved as `<name>.weight`, …).
    pub fn add_named(
        &mut self,
        name: &str,
        layer: impl Into<Layer>,
        inputs: &[ValueId],
    ) -> Result<ValueId> {
        let layer = layer.into();
        let fail = |e: Error| e.in_layer(name);
        if name.is_empty() || self.names.contains(name) {
            return Err(fail(Error::Model(format!(
                "the name `{name}` is empty or already used"
            ))));
        }
        if !layer.arity().contains(&inputs.len()) {
            return Err(fail(Error::Model(format!(
                "{} takes {:?} inputs, got {}",
                layer.kind(),
                layer.arity(),
                inputs.len()
            ))));
        }
        if let Some(v) = inputs.iter().find(|v| v.0 >= self.shapes.len()) {
            return Err(fail(Error::Model(format!("unknown input value {}", v.0))));
        }
        // Shapes are inferred at batch 1; every layer is batch-size agnostic.
        let x: Vec<Shape> = inputs.iter().map(|v| batch1(&self.shapes[v.0])).collect();
        let y = layer.output_shape(&x).map_err(fail)?;
        let specs = layer.params(&x);
        if let Some(s) = specs.iter().find(|s| s.shape.numel() == 0) {
            return Err(fail(Error::Model(format!("parameter {} is empty", s.name))));
        }
        let mut params = Vec::new();
        for spec in specs {
            let data = spec.init.sample(&spec.shape, &mut self.rng);
            params.push(self.params.len());
            self.params.push(Param {
                name: format!("{name}.{}", spec.name),
                spec,
                data,
            });
        }
        self.names.insert(name.to_string());
        let out = ValueId(self.shapes.len());
        self.shapes.push(Shape::new(&y.dims()[1..]));
        self.nodes.push(Node {
            name: name.to_string(),
            layer,
            inputs: inputs.to_vec(),
            output: out,
            params,
            frozen: false,
        });
        Ok(out)
    }

    /// The per-sample shape of a value built so far.
    pub fn shape(&self, v: ValueId) -> Option<&Shape> {
        self.shapes.get(v.0)
    }

    /// Finishes the graph with `outputs` (the heads the losses apply to, in order).
    pub fn build(self, outputs: &[ValueId]) -> Result<Graph> {
        if self.inputs.is_empty() || outputs.is_empty() {
            return Err(Error::Model(
                "a graph needs at least one input and one output".into(),
            ));
        }
        if let Some(v) = outputs.iter().find(|v| v.0 >= self.shapes.len()) {
            return Err(Error::Model(format!("unknown output value {}", v.0)));
        }
        Ok(Graph {
            nodes: self.nodes,
            shapes: self.shapes,
            inputs: self.inputs,
            outputs: outputs.to_vec(),
            params: self.params,
            seed: self.seed,
            trained_outputs: vec![true; outputs.len()],
        })
    }
}

/// The output of the layer named `at`.
fn layer_output(graph: &Graph, at: &str) -> Result<ValueId> {
    let node = graph.nodes.iter().find(|n| n.name == at);
    node.map(|n| n.output)
        .ok_or_else(|| Error::Model(format!("the graph has no layer named `{at}`")))
}

/// A builder holding the nodes that `values` need, with their parameters' current values,
/// names and frozen flags, and the graph's inputs.
fn cut(graph: &Graph, values: &[ValueId]) -> GraphBuilder {
    let mut needed = vec![false; graph.shapes.len()];
    values.iter().for_each(|v| needed[v.0] = true);
    let mut keep = vec![false; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate().rev() {
        if needed[node.output.0] {
            keep[i] = true;
            node.inputs.iter().for_each(|v| needed[v.0] = true);
        }
    }
    let seed = graph.seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut b = GraphBuilder::new(seed);
    b.shapes = graph.shapes.clone();
    b.inputs = graph.inputs.clone();
    for (node, _) in graph.nodes.iter().zip(&keep).filter(|(_, &k)| k) {
        let mut node = node.clone();
        for k in node.params.iter_mut() {
            b.params.push(graph.params[*k].clone());
            *k = b.params.len() - 1;
        }
        b.names.insert(node.name.clone());
        b.nodes.push(node);
    }
    b
}

impl Graph {
    /// The part of the graph that computes the named layers' outputs, which become its
    /// outputs in that order (inner activations, e.g. feature maps): the nodes they need with
    /// their parameters' current values. An `Err` names a layer the graph lacks.
    pub fn outputs_of(&self, layers: &[&str]) -> Result<Graph> {
        let values: Vec<ValueId> = layers
            .iter()
            .map(|l| layer_output(self, l))
            .collect::<Result<_>>()?;
        let mut g = cut(self, &values).build(&values)?;
        g.seed = self.seed;
        Ok(g)
    }
}

fn batch1(s: &Shape) -> Shape {
    let mut d = vec![1];
    d.extend_from_slice(s.dims());
    Shape::new(d)
}

/// A chain of layers, each fed by the one before (Keras's `Sequential`). Errors surface at
/// [`Sequential::build`], naming the first layer that does not fit.
pub struct Sequential {
    input: Shape,
    layers: Vec<(Option<String>, Layer)>,
    seed: u64,
}

impl Sequential {
    /// A chain over inputs of per-sample shape `input`, seed 0.
    pub fn new(input: impl Into<Shape>) -> Sequential {
        Sequential {
            input: input.into(),
            layers: Vec::new(),
            seed: 0,
        }
    }
    /// Sets the seed of parameter initialisation and dropout masks (see [`GraphBuilder::new`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Appends a layer (Keras's `model.add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Into<Layer>) -> Self {
        self.layers.push((None, layer.into()));
        self
    }
    /// Appends a layer under `name` instead of the automatic one (parameters are saved as
    /// `<name>.weight`, …).
    pub fn add_named(mut self, name: &str, layer: impl Into<Layer>) -> Self {
        self.layers.push((Some(name.to_string()), layer.into()));
        self
    }
    /// Builds the graph, inferring each layer's output shape and initialising its parameters.
    /// Fails at the first layer that does not fit its input (an [`Error::Layer`] naming it),
    /// or whose name is empty or taken.
    pub fn build(self) -> Result<Graph> {
        let mut g = GraphBuilder::new(self.seed);
        let mut v = g.input(self.input);
        for (name, layer) in self.layers {
            v = match name {
                Some(n) => g.add_named(&n, layer, &[v])?,
                None => g.add(layer, &[v])?,
            };
        }
        g.build(&[v])
    }
}
