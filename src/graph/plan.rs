//! Compiled execution on the GPU.
//!
//! [`ParamStore`]: every parameter and buffer in one flat buffer (the optimiser's parameters
//! first, so one fused dispatch updates them all), gradients in a second, optimiser state in
//! three more. [`Plan`]: one pass of the graph captured for a batch size and a mode — the
//! dispatches, bind groups and uniform buffers are made once; a step writes the batch, patches
//! the few uniforms that change (optimiser step and learning rate, dropout step), records the
//! program into one encoder and submits once. Loss and accuracy accumulate on the GPU and are
//! read back only when asked.

use super::run::{run, RunMode};
use super::Graph;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program};
use crate::nn::backend::{GpuBackend, StepField};
use crate::nn::Backend;
use crate::ops::optim::OptimizerState;
use crate::shape::Shape;
use crate::tensor::Tensor;
use crate::train::loss::Head;

/// Parameters, buffers and gradients of a graph on the GPU.
pub(crate) struct ParamStore {
    pub flat: Tensor,
    /// Per parameter, its view into `flat`.
    pub views: Vec<Tensor>,
    /// Element offset of each parameter in `flat`.
    pub offsets: Vec<usize>,
    /// The optimiser's region of `flat` (updated parameters, padding included).
    pub updated: Tensor,
    pub grads: Tensor,
    /// Per parameter the optimiser updates, its view into `grads`.
    pub grad_views: Vec<Option<Tensor>>,
}

impl ParamStore {
    /// Lays out and uploads `g`'s parameters. Each view starts at the adapter's storage offset
    /// alignment; the padding is zero and stays zero (its gradient is zero).
    pub fn new(gpu: &Gpu, g: &Graph) -> Result<ParamStore> {
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
        let order: Vec<usize> = (0..g.params.len())
            .filter(|&k| g.is_updated(k))
            .chain((0..g.params.len()).filter(|&k| !g.is_updated(k)))
            .collect();
        let mut offsets = vec![0; g.params.len()];
        let (mut end, mut updated_end) = (0usize, 0usize);
        for &k in &order {
            offsets[k] = end;
            end = (end + g.params[k].data.len()).next_multiple_of(align);
            if g.is_updated(k) {
                updated_end = end;
            }
        }
        let mut host = vec![0.0f32; end.max(1)];
        for (k, p) in g.params.iter().enumerate() {
            host[offsets[k]..offsets[k] + p.data.len()].copy_from_slice(&p.data);
        }
        let flat = Tensor::from_slice(gpu, Shape::new([host.len()]), &host)?;
        let views = g
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| flat.view(offsets[k], p.spec.shape.clone()))
            .collect::<Result<Vec<_>>>()?;
        let region = Shape::new([updated_end.max(1)]);
        let updated = flat.view(0, region.clone())?;
        let grads = Tensor::zeros(gpu, region)?;
        let grad_views = g
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| {
                g.is_updated(k)
                    .then(|| grads.view(offsets[k], p.spec.shape.clone()))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ParamStore {
            flat,
            views,
            offsets,
            updated,
            grads,
            grad_views,
        })
    }

    /// Every parameter's values (one read-back).
    pub fn read(&self, g: &Graph) -> Result<Vec<Vec<f32>>> {
        let all = self.flat.to_vec()?;
        Ok(g.params
            .iter()
            .enumerate()
            .map(|(k, p)| all[self.offsets[k]..self.offsets[k] + p.data.len()].to_vec())
            .collect())
    }

    /// Overwrites parameter `k` (ordered before any work recorded afterwards).
    pub fn write(&self, k: usize, data: &[f32]) -> Result<()> {
        let v = &self.views[k];
        if data.len() != v.numel() {
            return Err(Error::ShapeMismatch {
                op: "load parameter",
                what: "element count",
                expected: v.numel().to_string(),
                got: data.len().to_string(),
            });
        }
        let gpu = v.gpu();
        gpu.flush()?;
        gpu.queue()
            .write_buffer(v.buffer(), v.offset(), bytemuck::cast_slice(data));
        Ok(())
    }

    /// Bytes of parameters, gradients.
    pub fn bytes(&self) -> (u64, u64) {
        (self.flat.numel() as u64 * 4, self.grads.numel() as u64 * 4)
    }
}

/// One captured pass of a graph at a fixed batch size.
pub(crate) struct Plan {
    pub training: bool,
    pub batch: usize,
    program: Program,
    inputs: Vec<Tensor>,
    targets: Vec<Tensor>,
    /// The graph's outputs after a replay (inference plans).
    pub outputs: Vec<Tensor>,
    loss_acc: Tensor,
    hits_acc: Tensor,
    dynamics: Vec<StepField>,
    optim_step: Option<usize>,
}

/// What [`Plan::compile`] needs to know.
pub(crate) struct PlanSpec<'a> {
    pub graph: &'a Graph,
    pub heads: &'a [Head],
    pub batch: usize,
    pub training: bool,
}

impl Plan {
    pub fn compile(
        gpu: &Gpu,
        spec: &PlanSpec<'_>,
        store: &ParamStore,
        optimizer: Option<&mut OptimizerState>,
    ) -> Result<Plan> {
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
                .map(|&v| Tensor::zeros(gpu, g.batch_shape(v, n)))
                .collect::<Result<Vec<_>>>()?;
            let targets = spec
                .heads
                .iter()
                .map(|h| {
                    let out = g.shape(g.outputs[h.output]);
                    Tensor::zeros(gpu, Shape::new([n * h.loss.target_len(out)]))
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
        let loss_acc = Tensor::zeros(gpu, [1])?;
        let hits_acc = Tensor::zeros(gpu, [1])?;
        let training = spec.training;
        if training && optimizer.is_none() {
            return Err(Error::Model(
                "training needs an optimiser (compile the model first)".into(),
            ));
        }
        let mut optimizer = optimizer;
        let mut optim_step = None;
        let ((outputs, dynamics), program) = gpu.capture(|| {
            let b = GpuBackend::new(gpu);
            let mode = RunMode {
                training,
                keep_outputs: !training,
                step: 0,
            };
            let out = run(&b, g, &store.views, &inputs, &targets, spec.heads, mode)?;
            if let Some(opt) = optimizer.as_deref_mut().filter(|_| training) {
                for (k, grad) in out.grads.iter().enumerate() {
                    if let (Some(d), Some(view)) = (grad, &store.grad_views[k]) {
                        gpu.copy(d, 0, view, 0, d.numel())?;
                    }
                }
                optim_step = gpu.capture_len()?;
                // Captured once with the current counters; every replay patches the uniforms
                // with the real step, so the counters must not move here.
                let (step, mu) = (opt.step, opt.mu_product);
                let r = opt.step(&store.updated, &store.grads);
                (opt.step, opt.mu_product) = (step, mu);
                r?;
            }
            for (acc, v) in [(&loss_acc, &out.loss), (&hits_acc, &out.hits)] {
                if let Some(v) = v {
                    let sum = b.axpby(1.0, acc, 1.0, v)?;
                    gpu.copy(&sum, 0, acc, 0, 1)?;
                }
            }
            Ok((out.outputs, b.dynamics.into_inner()))
        })?;
        Ok(Plan {
            training,
            batch: n,
            program,
            inputs,
            targets,
            outputs,
            loss_acc,
            hits_acc,
            dynamics,
            optim_step,
        })
    }

    /// Runs one step: uploads the batch, patches per-step uniforms, records, submits once.
    pub fn step(
        &self,
        x: &[&[f32]],
        targets: &[&[f32]],
        step: u32,
        optimizer: Option<&mut OptimizerState>,
    ) -> Result<wgpu::SubmissionIndex> {
        let gpu = self.loss_acc.gpu();
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
        for d in &self.dynamics {
            self.program
                .set_uniforms(d.at, d.offset, &step.to_le_bytes())?;
        }
        if let (Some(i), Some(opt)) = (self.optim_step, optimizer) {
            let u = opt.advance()?;
            self.program.set_uniforms(i, 0, bytemuck::bytes_of(&u))?;
        }
        self.program.record()?;
        gpu.submit(None)
    }

    /// (Σ loss, Σ hits) since the last call, then zeroes them.
    pub fn take_metrics(&self) -> Result<(f64, f64)> {
        let loss = self.loss_acc.to_vec()?[0];
        let hits = self.hits_acc.to_vec()?[0];
        let q = self.loss_acc.gpu().queue();
        q.write_buffer(self.loss_acc.buffer(), self.loss_acc.offset(), &[0; 4]);
        q.write_buffer(self.hits_acc.buffer(), self.hits_acc.offset(), &[0; 4]);
        Ok((f64::from(loss), f64::from(hits)))
    }

    /// Dispatches per step.
    pub fn dispatches(&self) -> u64 {
        self.program.dispatches()
    }

    /// Bytes of activations and temporaries (the plan's buffer pool) plus its batch buffers.
    pub fn activation_bytes(&self) -> u64 {
        let io: u64 = self
            .inputs
            .iter()
            .chain(&self.targets)
            .map(|t| t.numel() as u64 * 4)
            .sum();
        self.program.pool_bytes() + io
    }
}
