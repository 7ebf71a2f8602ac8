//! The f64 reference trainer: the same graph, layers and autodiff as the GPU [`Model`](super::Model),
//! run through [`CpuBackend`] with the reference optimiser step. Tests train a model on both and
//! compare the weights; finite differences use [`ReferenceTrainer::loss_and_grads`].

use crate::error::{Error, Result};
use crate::graph::run::{run, Outcome, RunMode};
use crate::graph::Graph;
use crate::nn::loss::Head;
use crate::nn::{CpuBackend, HostTensor};
use crate::ops::optim::{cpu as optim_cpu, Optimizer};

/// A graph trained on the CPU in f64.
pub struct ReferenceTrainer {
    /// The graph it trains: its layers, shapes and which parameters train. Its `Param::data`
    /// keep the values the trainer started from; the trained ones are
    /// [`ReferenceTrainer::params`].
    pub graph: Graph,
    params: Vec<HostTensor>,
    heads: Vec<Head>,
    optimizer: Optimizer,
    state: Vec<Vec<[f64; 3]>>,
    t: u64,
    mu_product: f64,
}

impl ReferenceTrainer {
    /// Starts from `graph`'s parameter values (widened to f64) with fresh optimiser state;
    /// `heads` as for `Model::compile_heads`. An error if `optimizer`'s hyper-parameters are
    /// invalid.
    pub fn new(graph: Graph, heads: &[Head], optimizer: Optimizer) -> Result<ReferenceTrainer> {
        optimizer.validate()?;
        for h in heads {
            h.check_metrics()?;
        }
        let params = graph
            .params()
            .iter()
            .map(|p| HostTensor::from_f32(p.spec.shape.clone(), &p.data))
            .collect::<Result<Vec<_>>>()?;
        let state = graph
            .params()
            .iter()
            .map(|p| vec![[0.0; 3]; p.data.len()])
            .collect();
        Ok(ReferenceTrainer {
            graph,
            params,
            heads: heads.to_vec(),
            optimizer,
            state,
            t: 0,
            mu_product: 1.0,
        })
    }

    fn io(&self, x: &[f32], targets: &[&[f32]]) -> Result<(Vec<HostTensor>, Vec<HostTensor>)> {
        let g = &self.graph;
        let xs = self.io_x(x)?;
        let n = xs[0].to_vec().len() / g.shape(g.inputs()[0]).numel();
        if targets.len() != self.heads.len() {
            return Err(Error::Model("reference: one target array per head".into()));
        }
        for (h, t) in self.heads.iter().zip(targets) {
            let out = g.shape(g.outputs()[h.output]);
            if t.len() != n * h.loss.target_len(out) {
                return Err(Error::Model(format!(
                    "reference: {} target values for {n} samples",
                    t.len()
                )));
            }
            let classes = out.numel() as f32;
            if h.loss.is_classification()
                && t.iter()
                    .any(|&v| !(v >= 0.0 && v < classes && v.fract() == 0.0))
            {
                return Err(Error::invalid(
                    "reference",
                    "class label",
                    "out of range",
                    format!("classes are 0..{classes}"),
                ));
            }
        }
        let ts = self
            .heads
            .iter()
            .zip(targets)
            .map(|(h, t)| {
                let v = g.outputs()[h.output];
                let shape = match h.loss.is_classification() {
                    true => crate::Shape::new([n]),
                    false => g.batch_shape(v, n),
                };
                HostTensor::from_f32(shape, t)
            })
            .collect::<Result<_>>()?;
        Ok((xs, ts))
    }

    /// One training-mode pass at `step` (dropout key): losses and gradients.
    fn pass(&self, x: &[f32], targets: &[&[f32]], step: u32) -> Result<Outcome<HostTensor>> {
        let (xs, ts) = self.io(x, targets)?;
        let mode = RunMode {
            training: true,
            keep_outputs: false,
            step,
        };
        let b = CpuBackend;
        run(&b, &self.graph, &self.params, &xs, &ts, &self.heads, mode)
    }

    /// (total loss, per-parameter gradients) at the current weights, in training mode at
    /// `step` (dropout key) — batch statistics are used but running ones are left as they were.
    pub fn loss_and_grads(
        &self,
        x: &[f32],
        targets: &[&[f32]],
        step: u32,
    ) -> Result<(f64, Vec<Option<Vec<f64>>>)> {
        let saved: Vec<Vec<f64>> = self.params.iter().map(|p| p.to_vec()).collect();
        let out = self.pass(x, targets, step)?;
        for (p, v) in self.params.iter().zip(saved) {
            p.set(v);
        }
        let loss = out.loss.map(|l| l.to_vec()[0]).unwrap_or(0.0);
        let grads = out.grads.into_iter().map(|g| g.map(|g| g.to_vec()));
        Ok((loss, grads.collect()))
    }

    /// One training step: forward, backward and the reference optimiser update.
    pub fn train_on_batch(&mut self, x: &[f32], targets: &[&[f32]], step: u32) -> Result<f64> {
        let out = self.pass(x, targets, step)?;
        self.t += 1;
        let updated = self.graph.updated();
        for (k, g) in out.grads.iter().enumerate() {
            let (Some(g), true) = (g, updated[k]) else {
                continue;
            };
            let mut p = self.params[k].to_vec();
            for (i, (pi, gi)) in p.iter_mut().zip(g.to_vec()).enumerate() {
                let (np, ns) = optim_cpu::step(
                    &self.optimizer,
                    self.t,
                    self.mu_product,
                    *pi,
                    gi,
                    self.state[k][i],
                );
                *pi = np;
                self.state[k][i] = ns;
            }
            self.params[k].set(p);
        }
        self.mu_product =
            optim_cpu::step_scalars(&self.optimizer, self.t, self.mu_product).mu_product;
        Ok(out.loss.map(|l| l.to_vec()[0]).unwrap_or(0.0))
    }

    /// Inference-mode outputs.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<Vec<f64>>> {
        let xs = self.io_x(x)?;
        let mode = RunMode {
            training: false,
            keep_outputs: true,
            step: 0,
        };
        let out = run(&CpuBackend, &self.graph, &self.params, &xs, &[], &[], mode)?;
        Ok(out.outputs.iter().map(|t| t.to_vec()).collect())
    }

    fn io_x(&self, x: &[f32]) -> Result<Vec<HostTensor>> {
        let g = &self.graph;
        let per = g.shape(g.inputs()[0]).numel();
        if per == 0 || x.is_empty() || !x.len().is_multiple_of(per) {
            return Err(Error::Model(
                "reference: batch does not fit the model".into(),
            ));
        }
        Ok(vec![HostTensor::from_f32(
            g.batch_shape(g.inputs()[0], x.len() / per),
            x,
        )?])
    }

    /// Current parameter values (including buffers such as running statistics).
    pub fn params(&self) -> Vec<Vec<f64>> {
        self.params.iter().map(|p| p.to_vec()).collect()
    }

    /// Replaces parameter `k`'s values (finite differences perturb through this).
    pub fn set_param(&mut self, k: usize, v: Vec<f64>) {
        self.params[k].set(v);
    }
}
