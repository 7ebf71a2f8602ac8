//! Parameters on the GPU: every parameter and buffer of a graph packed into a few flat buffers
//! ("banks", each within the adapter's storage binding limit but for a larger parameter, which
//! has one of its own), the optimiser's parameters
//! first in each bank so one fused dispatch per bank updates them all; gradients and optimiser
//! state mirror the updated part of each bank.

use super::Graph;
use crate::error::{Error, Result};
use crate::gpu::per_step::StepSlot;
use crate::gpu::Gpu;
use crate::ops::optim::gpu::OptimStep;
use crate::ops::optim::{Optimizer, OptimizerState};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// One flat buffer of parameters.
pub(crate) struct Bank {
    pub flat: Tensor,
    /// The updated prefix of `flat` and its gradients (absent when the bank has none).
    pub updated: Option<(Tensor, Tensor)>,
}

/// Parameters, buffers and gradients of a graph on the GPU.
pub(crate) struct ParamStore {
    pub banks: Vec<Bank>,
    /// Per parameter, its view into its bank.
    pub views: Vec<Tensor>,
    /// Per parameter, (bank, element offset).
    pub slots: Vec<(usize, usize)>,
    /// Per parameter the optimiser updates, its view into its bank's gradients.
    pub grad_views: Vec<Option<Tensor>>,
}

impl ParamStore {
    /// Lays out and uploads `g`'s parameters. Each view starts at the adapter's storage offset
    /// alignment; the padding is zero and stays zero (its gradient is zero).
    pub fn new(gpu: &Gpu, g: &Graph) -> Result<ParamStore> {
        let limits = gpu.limits();
        let align = gpu.offset_alignment();
        let bank_max = (limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4) as usize
            / align
            * align;
        let is_updated = g.updated();
        let updated = |k: usize| is_updated[k];
        let order: Vec<usize> = (0..g.params.len())
            .filter(|&k| updated(k))
            .chain((0..g.params.len()).filter(|&k| !updated(k)))
            .collect();
        // (bank, offset) per parameter; per bank its length and updated prefix.
        let mut slots = vec![(0, 0); g.params.len()];
        let mut ends: Vec<(usize, usize)> = vec![(0, 0)];
        if let Some(p) = g
            .params
            .iter()
            .find(|p| p.data.len() != p.spec.shape.numel())
        {
            return Err(Error::ShapeMismatch {
                op: "Model",
                what: "parameter values",
                expected: format!(
                    "{} values for {} ({})",
                    p.spec.shape.numel(),
                    p.name,
                    p.spec.shape
                ),
                got: p.data.len().to_string(),
            });
        }
        // A parameter past the binding limit (VGG's classifier) takes a bank of its own, up to
        // the largest buffer; the ops that read it and the optimiser bind it in parts.
        let buffer_max = (limits.max_buffer_size / 4) as usize;
        for &k in &order {
            let len = g.params[k].data.len();
            if len > buffer_max {
                return Err(Error::TooLarge {
                    what: format!("parameter {}", g.params[k].name),
                    bytes: len as u64 * 4,
                    limit: buffer_max as u64 * 4,
                });
            }
            let (end, _) = *ends.last().unwrap_or(&(0, 0));
            if end > 0 && end + len > bank_max {
                ends.push((0, 0));
            }
            let b = ends.len() - 1;
            slots[k] = (b, ends[b].0);
            ends[b].0 = (ends[b].0 + len).next_multiple_of(align);
            if updated(k) {
                ends[b].1 = ends[b].0;
            }
        }
        let mut banks = Vec::new();
        for (b, &(end, upd)) in ends.iter().enumerate() {
            let mut host = vec![0.0f32; end.max(1)];
            for (k, p) in g
                .params
                .iter()
                .enumerate()
                .filter(|(k, _)| slots[*k].0 == b)
            {
                let at = slots[k].1;
                host[at..at + p.data.len()].copy_from_slice(&p.data);
            }
            let flat = Tensor::from_slice(gpu, Shape::new([host.len()]), &host)?;
            let updated = match upd {
                0 => None,
                n => Some((flat.view(0, Shape::new([n]))?, Tensor::uninit(gpu, [n])?)),
            };
            banks.push(Bank { flat, updated });
        }
        let views = g
            .params
            .iter()
            .zip(&slots)
            .map(|(p, &(b, at))| banks[b].flat.view(at, p.spec.shape.clone()))
            .collect::<Result<Vec<_>>>()?;
        let grad_views = g
            .params
            .iter()
            .zip(&slots)
            .map(|(p, &(b, at))| match &banks[b].updated {
                Some((_, grads)) if at < grads.numel() => {
                    grads.view(at, p.spec.shape.clone()).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ParamStore {
            banks,
            views,
            slots,
            grad_views,
        })
    }

    /// Every parameter's values (one read-back per bank).
    pub fn read(&self, g: &Graph) -> Result<Vec<Vec<f32>>> {
        let all = self
            .banks
            .iter()
            .map(|b| b.flat.to_vec())
            .collect::<Result<Vec<_>>>()?;
        Ok(g.params
            .iter()
            .zip(&self.slots)
            .map(|(p, &(b, at))| all[b][at..at + p.data.len()].to_vec())
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

    /// Bytes of parameters, and of gradients.
    pub fn bytes(&self) -> (u64, u64) {
        let params = self.banks.iter().map(|b| b.flat.numel() as u64 * 4).sum();
        let grads = self
            .banks
            .iter()
            .filter_map(|b| b.updated.as_ref())
            .map(|(_, g)| g.numel() as u64 * 4)
            .sum();
        (params, grads)
    }
}

/// One optimiser state per bank with updated parameters; they step together.
pub(crate) struct BankOptimizers {
    /// The optimiser, kept even when no bank has updated parameters (all layers frozen).
    optimizer: Optimizer,
    /// (bank, state).
    pub states: Vec<(usize, OptimizerState)>,
}

impl BankOptimizers {
    pub fn new(gpu: &Gpu, optimizer: Optimizer, store: &ParamStore) -> Result<BankOptimizers> {
        optimizer.validate()?;
        let states = store
            .banks
            .iter()
            .enumerate()
            .filter_map(|(b, bank)| bank.updated.as_ref().map(|(u, _)| (b, u.numel())))
            .map(|(b, n)| OptimizerState::new(gpu, optimizer, n).map(|s| (b, s)))
            .collect::<Result<_>>()?;
        Ok(BankOptimizers { optimizer, states })
    }

    /// The optimiser (the same in every bank).
    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    pub fn set_lr(&mut self, lr: f32) {
        self.optimizer = self.optimizer.with_lr(lr);
        for (_, s) in &mut self.states {
            s.optimizer = s.optimizer.with_lr(lr);
        }
    }

    /// (steps taken, NAdam's momentum product), as in every bank.
    pub fn counters(&self) -> (u64, f64) {
        self.states
            .first()
            .map_or((0, 1.0), |(_, s)| (s.step, s.mu_product))
    }

    pub fn set_counters(&mut self, step: u64, mu_product: f64) {
        for (_, s) in &mut self.states {
            (s.step, s.mu_product) = (step, mu_product);
        }
    }

    /// Bytes of optimiser state.
    pub fn bytes(&self) -> u64 {
        self.states
            .iter()
            .map(|(_, s)| 3 * s.s1.numel() as u64 * 4)
            .sum()
    }

    /// Records each bank's update while a plan is captured, bank `k`'s values of the step in
    /// per-step slot `optimizer(k)`, and returns those slots. The counters do not move: every
    /// replay writes the slots with the real step ([`BankOptimizers::advance`]).
    pub fn capture(&mut self, store: &ParamStore) -> Result<Vec<StepSlot>> {
        let mut slots = Vec::new();
        for (k, (b, s)) in self.states.iter_mut().enumerate() {
            let Some((params, grads)) = &store.banks[*b].updated else {
                continue;
            };
            let saved = (s.step, s.mu_product);
            let r = s.step_in_slot(params, grads, StepSlot::optimizer(k));
            (s.step, s.mu_product) = saved;
            r?;
            slots.push(StepSlot::optimizer(k));
        }
        Ok(slots)
    }

    /// Every bank's values of its next step, in their per-step slots; advances the counters.
    pub fn advance(&mut self) -> Result<Vec<(StepSlot, OptimStep)>> {
        self.states
            .iter_mut()
            .enumerate()
            .map(|(k, (_, s))| Ok((StepSlot::optimizer(k), s.advance()?)))
            .collect()
    }
}
