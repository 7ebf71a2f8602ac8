//! [`Model`]: a graph on the GPU with its parameters, optimiser and compiled plans;
//! `fit` / `evaluate` / `predict`, freezing, summary.

use std::collections::VecDeque;

use super::parallel::Parallel;
use super::source::Batch;
use super::Schedule;
use crate::error::{Error, Result};
use crate::gpu::exchange::Exchange;
use crate::gpu::timing::KernelTime;
use crate::gpu::Gpu;
use crate::graph::params::{BankOptimizers, ParamStore};
use crate::graph::plan::{GraphPlan, GraphPlanSpec};
use crate::graph::{Graph, Memory, Summary};
use crate::nn::loss::{Head, Loss};
use crate::nn::Layer;
use crate::ops::conv2d::{ConvPass, ConvTuning};
use crate::ops::optim::Optimizer;
use crate::tensor::Tensor;

/// Submissions allowed in flight before a step waits (bounds queued uploads).
const IN_FLIGHT: usize = 2;

/// A graph on the GPU, ready to train and run.
pub struct Model {
    pub(super) gpu: Gpu,
    pub(crate) graph: Graph,
    pub(crate) store: ParamStore,
    pub(super) heads: Vec<Head>,
    pub(crate) optimizer: Option<BankOptimizers>,
    pub(super) base_lr: f32,
    pub(super) schedule: Schedule,
    pub(super) plans: Vec<GraphPlan>,
    /// Training steps taken (schedules and dropout masks follow it).
    pub(crate) step: u64,
    pub(super) in_flight: VecDeque<wgpu::SubmissionIndex>,
    /// Training steps since the last [`Model::take_nonfinite`] and the first of them whose
    /// loss was not finite, counted on the GPU by every training plan.
    watch: Tensor,
    /// The process group of data-parallel training ([`Model::distribute`]).
    pub(super) parallel: Option<Parallel>,
}

impl Model {
    /// Uploads `graph`'s parameters to `gpu`. The graph must have one input (several-input
    /// graphs can be built, but `Model` feeds one batch array).
    pub fn new(gpu: &Gpu, graph: Graph) -> Result<Model> {
        if graph.inputs.len() != 1 {
            return Err(Error::Model(format!(
                "Model trains graphs with one input; this one has {}",
                graph.inputs.len()
            )));
        }
        let store = ParamStore::new(gpu, &graph)?;
        let watch = Tensor::uninit(gpu, [3])?;
        Ok(Model {
            gpu: gpu.clone(),
            graph,
            store,
            heads: Vec::new(),
            optimizer: None,
            base_lr: 0.0,
            schedule: Schedule::Constant,
            plans: Vec::new(),
            step: 0,
            in_flight: VecDeque::new(),
            watch,
            parallel: None,
        })
    }

    /// One loss on the model's (first) output and the optimiser; resets optimiser state.
    pub fn compile(&mut self, loss: Loss, optimizer: Optimizer) -> Result<()> {
        self.compile_heads(&[Head::new(0, loss)], optimizer)
    }

    /// Weighted losses on several outputs (`Σ weight · loss`), e.g. classification plus
    /// box regression.
    pub fn compile_heads(&mut self, heads: &[Head], optimizer: Optimizer) -> Result<()> {
        let outs = self.graph.outputs.len();
        if heads.is_empty() {
            return Err(Error::Model("at least one loss head is needed".into()));
        }
        for h in heads {
            h.check_metrics()?;
            if h.output >= outs || !h.weight.is_finite() {
                return Err(Error::Model(format!(
                    "head on output {} (weight {}): the model has {outs} outputs",
                    h.output, h.weight
                )));
            }
            let shape = self.graph.shape(self.graph.outputs[h.output]);
            if h.loss.is_classification() && shape.rank() != 1 {
                return Err(Error::Model(format!(
                    "{:?} needs a [classes] output per sample, output {} is {shape}",
                    h.loss, h.output
                )));
            }
        }
        self.heads = heads.to_vec();
        // Only the outputs a loss reads train; the parameter layout follows.
        let trained: Vec<bool> = (0..outs)
            .map(|o| heads.iter().any(|h| h.output == o))
            .collect();
        if trained != self.graph.trained_outputs {
            // The new layout is built aside: a failure leaves the model as it was.
            self.sync_params()?;
            let mut g = self.graph.clone();
            g.trained_outputs = trained;
            self.store = ParamStore::new(&self.gpu, &g)?;
            self.graph = g;
        }
        self.base_lr = optimizer.lr();
        self.optimizer = Some(BankOptimizers::new(&self.gpu, optimizer, &self.store)?);
        self.clear_plans();
        Ok(())
    }

    /// Drops the compiled plans (the parameter layout or the optimiser changed).
    pub(super) fn clear_plans(&mut self) {
        self.plans.clear();
        if let Some(p) = self.parallel.as_mut() {
            p.update = None;
        }
    }

    /// The learning-rate schedule applied from the optimiser's base rate.
    pub fn set_schedule(&mut self, s: Schedule) {
        self.schedule = s;
    }

    /// The model's graph. Its parameter values are the GPU's as of the last
    /// [`Model::sync_params`] (which [`Model::load`] and [`Model::set_trainable`] also run),
    /// else those given to [`Model::new`]: training steps do not update them.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// The device the model lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
    /// Training steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }
    /// The loss heads of the last `compile` or `compile_heads`; empty before either.
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }
    /// How many flat buffers hold the parameters (more than one when they exceed the
    /// adapter's storage binding limit; the optimiser then runs one dispatch per buffer).
    pub fn param_buffers(&self) -> usize {
        self.store.banks.len()
    }

    /// Freezes or unfreezes the layers whose names start with `prefix` (Keras's
    /// `trainable = False`). Parameters are kept; the optimiser state starts afresh.
    pub fn set_trainable(&mut self, prefix: &str, trainable: bool) -> Result<usize> {
        self.retrain(|g| g.set_trainable(prefix, trainable))
    }

    /// [`Model::set_trainable`] for the layers at `range` in graph order (Keras's
    /// `for l in model.layers[56:]: l.trainable = True` is `set_trainable_range(55..n, true)`:
    /// Keras counts its input layer).
    pub fn set_trainable_range(
        &mut self,
        range: std::ops::Range<usize>,
        trainable: bool,
    ) -> Result<usize> {
        self.retrain(|g| g.set_trainable_range(range, trainable))
    }

    /// Changes which layers train with `change`, keeping the parameters and restarting the
    /// optimiser state on the new layout.
    fn retrain(&mut self, change: impl FnOnce(&mut Graph) -> Result<usize>) -> Result<usize> {
        self.sync_params()?;
        let n = change(&mut self.graph)?;
        self.store = ParamStore::new(&self.gpu, &self.graph)?;
        if let Some(o) = self.optimizer.as_ref().map(|o| o.optimizer()) {
            let o = o.with_lr(self.base_lr);
            self.optimizer = Some(BankOptimizers::new(&self.gpu, o, &self.store)?);
        }
        self.clear_plans();
        Ok(n)
    }

    /// Copies the GPU parameters into the graph's host values.
    pub fn sync_params(&mut self) -> Result<()> {
        let values = self.store.read(&self.graph)?;
        for (p, v) in self.graph.params.iter_mut().zip(values) {
            p.data = v;
        }
        Ok(())
    }

    /// Every parameter and buffer by name, read from the GPU.
    pub fn parameters(&self) -> Result<Vec<(String, Vec<f32>)>> {
        let vals = self.store.read(&self.graph)?;
        Ok(self
            .graph
            .params
            .iter()
            .map(|p| p.name.clone())
            .zip(vals)
            .collect())
    }

    /// Writes parameters and buffers by name (as [`Model::parameters`] returns them): all
    /// or nothing, an `Err` naming the first unknown name or wrong length. Names not given
    /// keep their values; the optimiser state is kept.
    pub fn set_parameters(&mut self, values: &[(String, Vec<f32>)]) -> Result<()> {
        let mut writes = Vec::with_capacity(values.len());
        for (name, data) in values {
            let k = self
                .graph
                .params
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| Error::Model(format!("the model has no parameter `{name}`")))?;
            let want = self.graph.params[k].spec.shape.numel();
            if data.len() != want {
                return Err(Error::ShapeMismatch {
                    op: "set_parameters",
                    what: "values",
                    expected: format!("{want} for `{name}`"),
                    got: data.len().to_string(),
                });
            }
            writes.push((k, data));
        }
        for (k, data) in writes {
            self.store.write(k, data)?;
        }
        Ok(())
    }

    /// The learning rate of the next training step (the schedule applied to the base rate).
    pub fn learning_rate(&self) -> f32 {
        self.schedule.lr(self.base_lr, self.step)
    }

    /// Makes the next step's learning rate `lr` by scaling the base rate the schedule
    /// starts from (what `ReduceLROnPlateau` does); `lr` must be finite and ≥ 0.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid(
                "set_learning_rate",
                "lr",
                lr,
                "must be finite and at least 0",
            ));
        }
        let now = self.learning_rate();
        self.base_lr = match now > 0.0 {
            true => self.base_lr * (lr / now),
            false => lr,
        };
        Ok(())
    }

    /// The plan for (mode, batch), compiled on first use.
    pub(super) fn plan(&mut self, training: bool, batch: usize) -> Result<usize> {
        if let Some(i) = self
            .plans
            .iter()
            .position(|p| p.training == training && p.batch == batch)
        {
            return Ok(i);
        }
        self.tune(training, batch)?;
        let spec = GraphPlanSpec {
            graph: &self.graph,
            heads: &self.heads,
            batch,
            training,
            watch: Some(&self.watch),
            separate_update: self.parallel.is_some(),
            bucket_bytes: self.parallel.as_ref().map_or(0, |p| p.bucket_bytes),
        };
        let plan = GraphPlan::compile(&self.gpu, &spec, &self.store, self.optimizer.as_mut())?;
        // Synchronised batch norm alone is batch norm: its batch needs two values a channel.
        let alone = plan.exchanges().into_iter().find_map(|(e, _)| match e {
            Exchange::Statistics { count, .. } if count < 2 && self.parallel.is_none() => {
                Some(count)
            }
            _ => None,
        });
        if let Some(count) = alone {
            return Err(Error::invalid(
                "batch norm",
                "values per channel",
                count,
                "training needs at least 2 (the unbiased variance divides by M − 1)",
            ));
        }
        self.plans.push(plan);
        Ok(self.plans.len() - 1)
    }

    /// Autotunes the kernel of every conv layer's passes at this batch size (classes tuned
    /// before, in this process or an earlier one, cost nothing; off with `WGCNN_AUTOTUNE=0`).
    fn tune(&self, training: bool, batch: usize) -> Result<()> {
        if !self.gpu.autotune() {
            return Ok(());
        }
        let needs = self.graph.needs_grad();
        let updated = self.graph.updated();
        for node in self.graph.nodes() {
            let Layer::Conv2d(c) = &node.layer else {
                continue;
            };
            let x = self.graph.batch_shape(node.inputs[0], batch);
            let w = &self.graph.params()[node.params[0]].spec.shape;
            let g = c
                .params
                .resolve(&x, w)
                .map_err(|e| e.in_layer(&node.name))?;
            // Only the passes the plan will run.
            let data = training && needs[node.inputs[0].0];
            let filter = training && node.params.iter().any(|&k| updated[k]);
            let passes = [
                (ConvPass::Forward, true),
                (ConvPass::BackwardData, data),
                (ConvPass::BackwardFilter, filter),
            ];
            for (p, _) in passes.into_iter().filter(|&(_, on)| on) {
                self.gpu.tune_conv2d(&g, p)?;
            }
        }
        Ok(())
    }

    /// One training step on a batch (`x`: n samples; `targets`: one array per head). Records
    /// the whole step into one encoder and submits once; nothing is read back.
    pub fn train_on_batch(&mut self, x: &[f32], targets: &[&[f32]]) -> Result<()> {
        self.train_step(x, targets, false).map(drop)
    }

    /// [`Model::train_on_batch`] with every dispatch timed on the device (timestamp queries;
    /// an `Err` where the adapter has none): the step's profile, in dispatch order. Sum it
    /// by kernel with [`crate::gpu::timing::by_kernel`].
    pub fn profile_on_batch(&mut self, x: &[f32], targets: &[&[f32]]) -> Result<Vec<KernelTime>> {
        self.train_step(x, targets, true)
    }

    fn train_step(
        &mut self,
        x: &[f32],
        targets: &[&[f32]],
        profile: bool,
    ) -> Result<Vec<KernelTime>> {
        if self.optimizer.is_none() {
            return Err(Error::Model(
                "compile the model with a loss and an optimiser first".into(),
            ));
        }
        if self.parallel.is_some() {
            if profile {
                return Err(Error::Model(
                    "profile a step without data parallelism (Model::distribute)".into(),
                ));
            }
            let batch = Batch {
                x: x.to_vec(),
                targets: targets.iter().map(|t| t.to_vec()).collect(),
            };
            // Called directly, every rank's batch is taken to be as large as this one.
            let per = self.graph.shape(self.graph.inputs[0]).numel().max(1);
            let offset = self.world().0 * (x.len() / per);
            return self
                .parallel_step(Ok(batch), false, (0, 0), offset)
                .map(|_| Vec::new());
        }
        let n = self.check_batch(x, targets)?;
        let i = self.plan(true, n)?;
        let lr = self.schedule.lr(self.base_lr, self.step);
        let opt = self
            .optimizer
            .as_mut()
            .ok_or_else(|| Error::Model("no optimiser".into()))?;
        opt.set_lr(lr);
        let step = self.step as u32;
        if profile {
            let times = self.plans[i].profile_step(&[x], targets, step, Some(opt))?;
            self.step += 1;
            return Ok(times);
        }
        let idx = self.plans[i].step(&[x], targets, step, Some(opt))?;
        self.step += 1;
        self.in_flight.push_back(idx);
        while self.in_flight.len() > IN_FLIGHT {
            if let Some(old) = self.in_flight.pop_front() {
                self.gpu.wait(old)?;
            }
        }
        Ok(Vec::new())
    }

    /// The first training step since the last call whose loss was NaN or infinite, as
    /// (steps before it, its loss), and the steps counted; then starts counting afresh.
    pub(super) fn take_nonfinite(&mut self) -> Result<(Option<(usize, f32)>, usize)> {
        let w = self.watch.to_vec()?;
        self.gpu
            .queue()
            .write_buffer(self.watch.buffer(), self.watch.offset(), &[0; 12]);
        let first = (w[1] > 0.0).then(|| (w[1] as usize - 1, w[2]));
        Ok((first, w[0] as usize))
    }

    /// Layer table, parameter counts, and the planned memory and dispatches of the inference
    /// and (when compiled) training plans at `batch`.
    pub fn summary(&mut self, batch: usize) -> Result<Summary> {
        let mut s = self.graph.summary();
        let inf = self.plan(false, batch)?;
        let mut m = Memory {
            batch,
            params: self.store.bytes().0,
            inference_activations: self.plans[inf].activation_bytes(),
            two_largest_consecutive: self.graph.two_largest_consecutive(batch),
            inference_dispatches: self.plans[inf].dispatches(),
            ..Memory::default()
        };
        if self.optimizer.is_some() {
            let tr = self.plan(true, batch)?;
            let state = self.optimizer.as_ref().map_or(0, |o| o.bytes());
            m.training_activations = self.plans[tr].activation_bytes();
            m.training_state = self.store.bytes().1 + state;
            m.training_dispatches = self.plans[tr].dispatches();
        }
        s.memory = Some(m);
        Ok(s)
    }
}
