//! One pass over a graph on any backend: forward, the losses, and — in training — reverse-mode
//! autodiff (nodes in reverse order, gradients summed where a value fans out, frozen layers'
//! weights skipped). Values are dropped right after their last use, which is what lets the
//! GPU plan reuse their buffers.

use super::{Graph, ValueId};
use crate::error::{Error, Result};
use crate::nn::loss::{Head, Loss, Metric};
use crate::nn::{Activation, Backend, BackendTensor, Layer, LayerBackend, Need, Pass};

/// What one pass produces.
pub(crate) struct Outcome<T> {
    /// The graph's outputs (when asked for).
    pub outputs: Vec<T>,
    /// Σ weight · loss over the heads, `[1]`.
    pub loss: Option<T>,
    /// The values logged beside the loss, each a batch mean `[1]`, in the order of
    /// [`log_names`](crate::nn::loss::log_names) after `loss`: each head's loss (when there
    /// are several), then each head's metrics.
    pub logged: Vec<T>,
    /// Per parameter: d loss / d param for the ones the optimiser updates.
    pub grads: Vec<Option<T>>,
}

/// How to run the pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunMode {
    pub training: bool,
    pub keep_outputs: bool,
    pub step: u32,
}

/// Dropout key of node `i`: the model seed mixed with the node's index.
fn node_seed(seed: u64, i: usize) -> u32 {
    let h = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h ^ (h >> 32)) as u32
}

pub(crate) fn run<B: LayerBackend>(
    b: &B,
    g: &Graph,
    params: &[B::T],
    inputs: &[B::T],
    targets: &[B::T],
    heads: &[Head],
    mode: RunMode,
) -> Result<Outcome<B::T>> {
    let io = (inputs, targets, heads);
    run_with(b, g, params, io, mode, &mut |_, _| Ok(()))
}

/// [`run`] calling `on_grad(k, d)` as soon as parameter `k`'s gradient `d` is final (a plan
/// copies it out and can start moving it while the rest of the backward pass runs).
pub(crate) fn run_with<B: LayerBackend>(
    b: &B,
    g: &Graph,
    params: &[B::T],
    (inputs, targets, heads): (&[B::T], &[B::T], &[Head]),
    mode: RunMode,
    on_grad: &mut dyn FnMut(usize, &B::T) -> Result<()>,
) -> Result<Outcome<B::T>> {
    let n = inputs
        .first()
        .and_then(|t| t.shape().dims().first().copied())
        .ok_or_else(|| Error::Model("no inputs".into()))?;
    let mut vals: Vec<Option<B::T>> = vec![None; g.shapes.len()];
    let mut uses = vec![0usize; g.shapes.len()];
    for node in &g.nodes {
        for v in &node.inputs {
            uses[v.0] += 1;
        }
    }
    for v in &g.outputs {
        uses[v.0] += 1;
    }
    let loss_inputs: Vec<ValueId> = heads.iter().map(|h| loss_input(g, h)).collect();
    for (h, v) in heads.iter().zip(&loss_inputs) {
        if *v != g.outputs[h.output] {
            uses[v.0] += 1;
        }
    }
    for (v, t) in g.inputs.iter().zip(inputs) {
        vals[v.0] = Some(t.clone());
    }

    // Forward.
    let mut saved: Vec<Vec<B::T>> = Vec::with_capacity(g.nodes.len());
    let mut i = 0;
    while i < g.nodes.len() {
        let node = &g.nodes[i];
        if !mode.training {
            if let Some(fold) = foldable(g, i, &uses, n) {
                let y =
                    run_folded(b, g, params, &vals, i, fold).map_err(|e| e.in_layer(&node.name))?;
                let last = &g.nodes[i + fold.len];
                saved.extend((0..=fold.len).map(|_| Vec::new()));
                let v = node.inputs[0];
                uses[v.0] -= 1;
                if uses[v.0] == 0 {
                    vals[v.0] = None;
                }
                vals[last.output.0] = Some(y);
                i += fold.len + 1;
                continue;
            }
        }
        let p: Vec<B::T> = node.params.iter().map(|&k| params[k].clone()).collect();
        let pass = Pass {
            training: mode.training,
            frozen: node.frozen,
            seed: node_seed(g.seed, i),
            step: mode.step,
        };
        let (y, s) = {
            let x: Vec<&B::T> = node
                .inputs
                .iter()
                .map(|v| vals[v.0].as_ref().ok_or_else(|| gone(v.0)))
                .collect::<Result<_>>()?;
            node.layer
                .forward(b, &x, &p, pass)
                .map_err(|e| e.in_layer(&node.name))?
        };
        saved.push(s);
        for v in &node.inputs {
            uses[v.0] -= 1;
            if uses[v.0] == 0 {
                vals[v.0] = None;
            }
        }
        vals[node.output.0] = Some(y);
        i += 1;
    }

    // Losses.
    let mut out_grads: Vec<Option<B::T>> = vec![None; g.shapes.len()];
    let mut loss = None;
    let (mut head_losses, mut metrics) = (Vec::new(), Vec::new());
    for ((h, target), &v) in heads.iter().zip(targets).zip(&loss_inputs) {
        let value = |v: ValueId| vals[v.0].as_ref().ok_or_else(|| gone(v.0));
        let out = value(v)?;
        let (l, dl) = h.loss.apply(b, out, target)?;
        for m in &h.metrics {
            // The errors compare what the model outputs; the hit counts read logits.
            let x = match m {
                Metric::Mse | Metric::Mae => value(g.outputs[h.output])?,
                _ => out,
            };
            metrics.push(m.apply(b, x, target)?);
        }
        if heads.len() > 1 {
            head_losses.push(l.clone());
        }
        loss = Some(match loss {
            None if h.weight == 1.0 => l,
            None => b.axpby(h.weight, &l, 0.0, &l)?,
            Some(acc) => b.axpby(1.0, &acc, h.weight, &l)?,
        });
        if mode.training {
            let dl = match h.weight {
                1.0 => dl,
                w => b.axpby(w, &dl, 0.0, &dl)?,
            };
            accumulate(b, &mut out_grads[v.0], dl)?;
        }
    }
    let outputs = match mode.keep_outputs {
        true => g
            .outputs
            .iter()
            .map(|v| vals[v.0].clone().ok_or_else(|| gone(v.0)))
            .collect::<Result<_>>()?,
        false => Vec::new(),
    };
    drop(vals);

    // Backward.
    let mut grads = vec![None; g.params.len()];
    if mode.training {
        let needs = g.needs_grad();
        let updated = g.updated();
        for (i, node) in g.nodes.iter().enumerate().rev() {
            let s = std::mem::take(&mut saved[i]);
            let Some(dy) = out_grads[node.output.0].take() else {
                continue;
            };
            let need = Need {
                inputs: node.inputs.iter().map(|v| needs[v.0]).collect(),
                params: node.params.iter().any(|&k| updated[k]),
            };
            if !need.params && !need.inputs.iter().any(|&x| x) {
                continue;
            }
            let p: Vec<B::T> = node.params.iter().map(|&k| params[k].clone()).collect();
            let x: Vec<_> = node.inputs.iter().map(|&v| g.batch_shape(v, n)).collect();
            let pass = Pass {
                training: true,
                frozen: node.frozen,
                seed: node_seed(g.seed, i),
                step: mode.step,
            };
            let (dx, dp) = node
                .layer
                .backward(b, &dy, &x, &s, &p, pass, &need)
                .map_err(|e| e.in_layer(&node.name))?;
            drop((dy, s));
            for (v, d) in node.inputs.iter().zip(dx) {
                if let Some(d) = d.filter(|_| needs[v.0]) {
                    accumulate(b, &mut out_grads[v.0], d)?;
                }
            }
            let updated = node.params.iter().filter(|&&k| g.params[k].spec.trainable);
            for (&k, d) in updated.zip(dp) {
                on_grad(k, &d)?;
                grads[k] = Some(d);
            }
        }
    }
    Ok(Outcome {
        outputs,
        loss,
        logged: head_losses.into_iter().chain(metrics).collect(),
        grads,
    })
}

/// The value a head's loss reads: the graph output, or the logits before it where the output
/// is a `Softmax` under sparse cross-entropy or a sigmoid under binary cross-entropy (Keras's
/// `from_logits`: the losses take logits, which is stabler than undoing the squashing).
fn loss_input(g: &Graph, h: &Head) -> ValueId {
    let v = g.outputs[h.output];
    let Some(node) = g.nodes.iter().find(|n| n.output == v) else {
        return v;
    };
    match (&node.layer, h.loss) {
        (Layer::Softmax(_), Loss::SparseCategoricalCrossentropy)
        | (Layer::Activation(Activation::Sigmoid), Loss::BinaryCrossentropy) => node.inputs[0],
        _ => v,
    }
}

/// A conv, the batch norm that alone reads it, and maybe the activation that alone reads
/// that: in inference they run as one conv with the batch norm folded into its weights and
/// the activation in its epilogue (where the weights are small next to the activations).
#[derive(Clone, Copy)]
struct Fold {
    /// Nodes after the conv that the fold covers (1: the batch norm; 2: and the activation).
    len: usize,
    act: Option<Activation>,
}

/// Folding pays where a layer's activations outweigh its weights: the folded weights are a
/// temporary as large as the weights, the batch-norm pass it saves is as large as the output.
const FOLD_RATIO: usize = 16;

fn foldable(g: &Graph, i: usize, uses: &[usize], n: usize) -> Option<Fold> {
    let (conv, bn) = (&g.nodes[i], g.nodes.get(i + 1)?);
    let only_reader = |from: &super::Node, to: &super::Node| {
        to.inputs == [from.output] && uses[from.output.0] == 1
    };
    match (&conv.layer, &bn.layer) {
        (Layer::Conv2d(c), Layer::BatchNorm2d(_))
            if c.activation.is_none() && only_reader(conv, bn) => {}
        _ => return None,
    }
    let weights = g.params[*conv.params.first()?].data.len();
    if weights.saturating_mul(FOLD_RATIO) > g.shapes[conv.output.0].numel().saturating_mul(n) {
        return None;
    }
    match g.nodes.get(i + 2) {
        Some(a) if only_reader(bn, a) => match a.layer {
            Layer::Activation(f) => Some(Fold {
                len: 2,
                act: Some(f),
            }),
            _ => Some(Fold { len: 1, act: None }),
        },
        _ => Some(Fold { len: 1, act: None }),
    }
}

fn run_folded<B: Backend>(
    b: &B,
    g: &Graph,
    params: &[B::T],
    vals: &[Option<B::T>],
    i: usize,
    fold: Fold,
) -> Result<B::T> {
    let (conv, bn) = (&g.nodes[i], &g.nodes[i + 1]);
    let (Layer::Conv2d(c), Layer::BatchNorm2d(norm)) = (&conv.layer, &bn.layer) else {
        return Err(Error::Model("internal: not a conv and batch norm".into()));
    };
    let p = |n: &super::Node, k: usize| params[n.params[k]].clone();
    let bias = (conv.params.len() > 1).then(|| p(conv, 1));
    let (w, bf) = b.fold_batch_norm(
        &p(conv, 0),
        bias.as_ref(),
        [&p(bn, 0), &p(bn, 1)],
        [&p(bn, 2), &p(bn, 3)],
        norm.0.eps,
    )?;
    let x = vals[conv.inputs[0].0]
        .as_ref()
        .ok_or_else(|| gone(conv.inputs[0].0))?;
    match fold.act {
        Some(f) => b.conv2d_activated(x, &w, Some(&bf), &c.params, f),
        None => b.conv2d(x, &w, Some(&bf), &c.params),
    }
}

/// Adds `d` into a value's gradient (a value read by several layers gets their sum).
fn accumulate<B: Backend>(b: &B, slot: &mut Option<B::T>, d: B::T) -> Result<()> {
    *slot = Some(match slot.take() {
        None => d,
        Some(acc) => b.axpby(1.0, &acc, 1.0, &d)?,
    });
    Ok(())
}

fn gone(v: usize) -> Error {
    Error::Model(format!(
        "value {v} is used before it is computed or after its last use"
    ))
}
