//! Compiled execution on the GPU.
//!
//! [`GraphPlan`]: one pass of the graph captured for a batch size and a mode as a
//! [`gpu::Plan`](crate::gpu::Plan), with the batch buffers it reads and the metrics it sums
//! (parameters live in the flat buffers of [`ParamStore`](super::params::ParamStore)). The
//! dispatches, bind groups and uniform buffers are made once; a step writes the batch and the
//! plan's per-step values (`gpu::per_step`: the training step for dropout and augmentation,
//! each optimiser bank's learning rate and bias corrections), records the plan into one encoder
//! and submits once. Loss and accuracy accumulate on the GPU and are read back only when asked.

use super::buckets::Buckets;
use super::params::{BankOptimizers, ParamStore};
use super::run::{run_with, RunMode};
use super::Graph;
use crate::error::{Error, Result};
use crate::gpu::exchange::{Exchange, ExchangeHandler};
use crate::gpu::per_step::{StepSlot, TrainingStep};
use crate::gpu::timing::{KernelTime, Timer};
use crate::gpu::{Gpu, Plan};
use crate::nn::loss::Head;
use crate::ops::backend::{ElementwiseBackend, GpuBackend};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// One captured pass of a graph at a fixed batch size, with its batch buffers.
pub(crate) struct GraphPlan {
    pub training: bool,
    pub batch: usize,
    plan: Plan,
    inputs: Vec<Tensor>,
    targets: Vec<Tensor>,
    /// The graph's outputs after a replay (inference plans).
    pub outputs: Vec<Tensor>,
    /// Σ over replays of the batch means logged: the loss, then `Outcome::logged`
    /// (`nn::loss::log_names` has their names).
    sums: Tensor,
    /// The per-step slots of the optimiser banks the plan updates (none: inference).
    optim_slots: Vec<StepSlot>,
}

/// What [`GraphPlan::compile`] needs to know.
pub(crate) struct GraphPlanSpec<'a> {
    pub graph: &'a Graph,
    pub heads: &'a [Head],
    pub batch: usize,
    pub training: bool,
    /// Where a training plan counts its steps and notes the first non-finite loss
    /// (`[steps, first, value]`, see `ops::elementwise::track_nonfinite`).
    pub watch: Option<&'a Tensor>,
    /// Leave the optimiser out of a training plan: its step ends with the gradients in the
    /// store's gradient banks, for an [`UpdatePlan`] to apply once they have been combined
    /// with other processes' gradients.
    pub separate_update: bool,
    /// With `separate_update`: cut the gradients into buckets of this many bytes, each
    /// exchanged as soon as the backward pass has finished it (`graph::buckets`); 0 for none.
    pub bucket_bytes: usize,
}

impl GraphPlan {
    pub fn compile(
        gpu: &Gpu,
        spec: &GraphPlanSpec<'_>,
        store: &ParamStore,
        optimizer: Option<&mut BankOptimizers>,
    ) -> Result<GraphPlan> {
        let g = spec.graph;
        let n = spec.batch;
        if n == 0 {
            return Err(Error::invalid(
                "plan",
                "batch size",
                0,
                "must be at least 1",
            ));
        }
        let io = || -> Result<_> {
            let inputs = g
                .inputs
                .iter()
                .map(|&v| Tensor::uninit(gpu, g.batch_shape(v, n)))
                .collect::<Result<Vec<_>>>()?;
            let targets = spec
                .heads
                .iter()
                .map(|h| {
                    let out = g.shape(g.outputs[h.output]);
                    Tensor::uninit(gpu, Shape::new([n * h.loss.target_len(out)]))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((inputs, targets))
        };
        let (inputs, targets) = io()?;
        let targets: Vec<Tensor> = targets
            .into_iter()
            .zip(spec.heads)
            .map(|(t, h)| match h.loss.is_classification() {
                true => Ok(t),
                false => t.reshape(g.batch_shape(g.outputs[h.output], n)),
            })
            .collect::<Result<_>>()?;
        // The loss and what `run` logs beside it.
        let logged = crate::nn::loss::log_names(spec.heads, &[]).len();
        let sums = Tensor::zeros(gpu, [logged])?;
        let training = spec.training;
        if training && optimizer.is_none() {
            return Err(Error::Model(
                "training needs an optimiser (compile the model first)".into(),
            ));
        }
        let mut optimizer = optimizer;
        let mut optim_slots = Vec::new();
        let (outputs, plan) = gpu.capture(|| {
            let b = GpuBackend;
            let mode = RunMode {
                training,
                keep_outputs: !training,
                step: 0,
            };
            let bucketed = training && spec.separate_update && spec.bucket_bytes > 0;
            let mut buckets = bucketed.then(|| Buckets::new(store, spec.bucket_bytes));
            // Each gradient goes to its bank as soon as it is final.
            let mut to_bank = |k: usize, d: &Tensor| -> Result<()> {
                if let Some(view) = &store.grad_views[k] {
                    gpu.copy(d, 0, view, 0, d.numel())?;
                }
                match buckets.as_mut() {
                    Some(bk) => bk.finished(k),
                    None => Ok(()),
                }
            };
            let io = (&inputs[..], &targets[..], spec.heads);
            let out = run_with(&b, g, &store.views, io, mode, &mut to_bank)?;
            if let Some(bk) = buckets.as_mut() {
                bk.finish()?;
            }
            if let Some(opt) = optimizer.as_deref_mut().filter(|_| training) {
                if !spec.separate_update {
                    optim_slots = opt.capture(store)?;
                }
            }
            // The step's values side by side, then one sum into the accumulators.
            if let Some(loss) = &out.loss {
                let step = Tensor::uninit(gpu, [logged])?;
                for (j, v) in std::iter::once(loss).chain(&out.logged).enumerate() {
                    gpu.copy(v, 0, &step, j, 1)?;
                }
                let sum = b.axpby(1.0, &sums, 1.0, &step)?;
                gpu.copy(&sum, 0, &sums, 0, logged)?;
            }
            if let (Some(watch), Some(loss), true) = (spec.watch, &out.loss, training) {
                crate::ops::elementwise::track_nonfinite(loss, watch)?;
            }
            Ok(out.outputs)
        })?;
        Ok(GraphPlan {
            training,
            batch: n,
            plan,
            inputs,
            targets,
            outputs,
            sums,
            optim_slots,
        })
    }

    /// Runs one step: uploads the batch and the per-step values, records, submits once.
    pub fn step(
        &self,
        x: &[&[f32]],
        targets: &[&[f32]],
        step: u32,
        optimizer: Option<&mut BankOptimizers>,
    ) -> Result<wgpu::SubmissionIndex> {
        self.prepare(x, targets, (step, 0), optimizer)?;
        self.plan.record()?;
        self.sums.gpu().submit(None)
    }

    /// [`GraphPlan::step`] of one process of a data-parallel step, whose batch starts at
    /// sample `sample_offset` of the global batch (dropout and augmentation draw by global
    /// sample), answering the plan's exchange points with `handler` (a submit and a
    /// read-back at each).
    pub fn step_exchanging(
        &self,
        x: &[&[f32]],
        targets: &[&[f32]],
        (step, sample_offset): (u32, u32),
        handler: &mut ExchangeHandler<'_>,
    ) -> Result<wgpu::SubmissionIndex> {
        self.prepare(x, targets, (step, sample_offset), None)?;
        self.plan.record_exchanging(handler)?;
        self.sums.gpu().submit(None)
    }

    /// The plan's exchange points in order, with their lengths.
    pub fn exchanges(&self) -> Vec<(Exchange, usize)> {
        self.plan.exchanges()
    }

    /// Answers the plan's exchange points with `handler` without running the plan (a
    /// process whose part of a data-parallel step is empty).
    pub fn sit_out(&self, handler: &mut ExchangeHandler<'_>) -> Result<()> {
        self.plan.sit_out(handler)
    }

    /// [`GraphPlan::step`] with a timestamp around every dispatch: waits for the step and returns
    /// each dispatch's device time, in order.
    pub fn profile_step(
        &self,
        x: &[&[f32]],
        targets: &[&[f32]],
        step: u32,
        optimizer: Option<&mut BankOptimizers>,
    ) -> Result<Vec<KernelTime>> {
        // The timer first: if the adapter cannot time this plan, nothing has moved yet
        // (prepare advances the optimiser's step).
        let timer = Timer::new(&self.plan)?;
        self.prepare(x, targets, (step, 0), optimizer)?;
        self.plan.record_timed(&timer)?;
        let gpu = self.sums.gpu();
        gpu.wait(gpu.submit(None)?)?;
        timer.read(gpu)
    }

    /// Uploads the batch and writes the per-step values: (training step, sample offset) and
    /// the optimiser's.
    fn prepare(
        &self,
        x: &[&[f32]],
        targets: &[&[f32]],
        (step, sample_offset): (u32, u32),
        optimizer: Option<&mut BankOptimizers>,
    ) -> Result<()> {
        let gpu = self.sums.gpu();
        for (t, data) in self
            .inputs
            .iter()
            .zip(x)
            .chain(self.targets.iter().zip(targets))
        {
            if t.numel() != data.len() {
                return Err(Error::ShapeMismatch {
                    op: "plan step",
                    what: "batch",
                    expected: format!("{} values for {}", t.numel(), t.shape()),
                    got: data.len().to_string(),
                });
            }
        }
        if x.len() != self.inputs.len() || targets.len() != self.targets.len() {
            return Err(Error::Model(format!(
                "the plan takes {} inputs and {} targets, got {} and {}",
                self.inputs.len(),
                self.targets.len(),
                x.len(),
                targets.len()
            )));
        }
        for (t, data) in self
            .inputs
            .iter()
            .zip(x)
            .chain(self.targets.iter().zip(targets))
        {
            gpu.queue()
                .write_buffer(t.buffer(), t.offset(), bytemuck::cast_slice(data));
        }
        let training_step = TrainingStep {
            step,
            sample_offset,
            ..TrainingStep::default()
        };
        let mut values = vec![(StepSlot::TRAINING_STEP, bytemuck::bytes_of(&training_step))];
        let banks = match optimizer.filter(|_| !self.optim_slots.is_empty()) {
            Some(opt) => opt.advance()?,
            None => Vec::new(),
        };
        values.extend(banks.iter().map(|(slot, v)| (*slot, bytemuck::bytes_of(v))));
        self.plan.write_per_step(&values);
        Ok(())
    }

    /// The sums of the logged batch means since the last call (the loss first), then zeroes
    /// them.
    pub fn take_metrics(&self) -> Result<Vec<f64>> {
        let v = self.sums.to_vec()?;
        let zeros = vec![0u8; v.len() * 4];
        let q = self.sums.gpu().queue();
        q.write_buffer(self.sums.buffer(), self.sums.offset(), &zeros);
        Ok(v.into_iter().map(f64::from).collect())
    }

    /// Dispatches per step.
    pub fn dispatches(&self) -> u64 {
        self.plan.dispatches()
    }

    /// Bytes of activations and temporaries (the plan's buffer pool) plus its batch buffers.
    pub fn activation_bytes(&self) -> u64 {
        let io: u64 = self
            .inputs
            .iter()
            .chain(&self.targets)
            .map(|t| t.numel() as u64 * 4)
            .sum();
        self.plan.pool_bytes() + io
    }
}

/// The optimiser's dispatches alone: every bank's update from the gradient banks as they are
/// when it runs (the step of a data-parallel training plan, after the all-reduce).
pub(crate) struct UpdatePlan {
    plan: Plan,
}

impl UpdatePlan {
    pub fn compile(
        gpu: &Gpu,
        store: &ParamStore,
        optimizer: &mut BankOptimizers,
    ) -> Result<UpdatePlan> {
        let ((), plan) = gpu.capture(|| optimizer.capture(store).map(drop))?;
        Ok(UpdatePlan { plan })
    }

    /// Advances the optimiser's counters, writes its step values, records and submits once.
    pub fn step(&self, optimizer: &mut BankOptimizers) -> Result<wgpu::SubmissionIndex> {
        let banks = optimizer.advance()?;
        let values: Vec<(StepSlot, &[u8])> = banks
            .iter()
            .map(|(slot, v)| (*slot, bytemuck::bytes_of(v)))
            .collect();
        self.plan.write_per_step(&values);
        self.plan.record()?;
        self.plan.gpu().submit(None)
    }
}
