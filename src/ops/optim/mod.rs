//! Optimisers as one fused WGSL pass over a flat parameter buffer, matching torch.optim step
//! for step: SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW (PyTorch's eps
//! placement), NAdam and RMSprop (plain, centered, with momentum).

pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::gpu::per_step::StepSlot;
use crate::gpu::Gpu;
use crate::shape::Shape;
use crate::tensor::Tensor;

const OP: &str = "optimizer";

/// An optimiser and its hyper-parameters (torch.optim's names and defaults).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Optimizer {
    /// `torch.optim.SGD`: `d = g + wd·p`; with momentum `buf = momentum·buf + (1 − dampening)·d`
    /// (`buf = d` on the first step), `p −= lr·buf` (Nesterov: `p −= lr·(d + momentum·buf)`).
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum factor (0: plain SGD).
        momentum: f32,
        /// Dampening of the gradient added to the momentum buffer.
        dampening: f32,
        /// L2 penalty added to the gradient: `g + weight_decay·p`.
        weight_decay: f32,
        /// Nesterov momentum; needs `momentum > 0` and `dampening = 0`.
        nesterov: bool,
    },
    /// `decoupled`: AdamW's weight decay (`p ·= 1 − lr·wd`) instead of Adam's L2 term.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay rate of the first-moment average, in `[0, 1)`.
        beta1: f32,
        /// Decay rate of the second-moment average, in `[0, 1)`.
        beta2: f32,
        /// Added to `√v̂` in the denominator (PyTorch's placement, after the square root).
        eps: f32,
        /// Weight decay: an L2 term on the gradient, or AdamW's decoupled decay.
        weight_decay: f32,
        /// AdamW (`true`) or Adam (`false`).
        decoupled: bool,
    },
    /// `torch.optim.NAdam`: Adam with Nesterov momentum and the momentum schedule
    /// `μ_t = beta1·(1 − 0.5·0.96^(t·momentum_decay))`.
    Nadam {
        /// Learning rate.
        lr: f32,
        /// Base of the first-moment decay schedule, in `[0, 1)`.
        beta1: f32,
        /// Decay rate of the second-moment average, in `[0, 1)`.
        beta2: f32,
        /// Added to `√v̂` in the denominator.
        eps: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
        /// Speed of the momentum schedule (PyTorch's `momentum_decay`, ψ; default 4e-3).
        momentum_decay: f32,
    },
    /// `torch.optim.RMSprop`: `sq = alpha·sq + (1 − alpha)·g²`, `p −= lr·g / (√sq + eps)`,
    /// optionally centered and with momentum.
    RmsProp {
        /// Learning rate.
        lr: f32,
        /// Smoothing constant of the square average (PyTorch's `alpha`, default 0.99).
        alpha: f32,
        /// Added to the root of the square average in the denominator.
        eps: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
        /// Momentum factor (0: none).
        momentum: f32,
        /// Normalise by the variance estimate `sq − ga²` (`ga` the gradient average) instead
        /// of the square average.
        centered: bool,
    },
}

impl Optimizer {
    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::Nadam { lr, .. }
            | Optimizer::RmsProp { lr, .. } => lr,
        }
    }

    /// The same optimiser with learning rate `new` (what a schedule changes each step).
    pub fn with_lr(mut self, new: f32) -> Optimizer {
        match &mut self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::Nadam { lr, .. }
            | Optimizer::RmsProp { lr, .. } => *lr = new,
        }
        self
    }

    /// Plain SGD: no momentum, dampening or weight decay.
    pub fn sgd(lr: f32) -> Optimizer {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
    /// Adam with torch.optim's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
    /// AdamW: Adam's defaults with decoupled weight decay `weight_decay`.
    pub fn adamw(lr: f32, weight_decay: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled: true,
        }
    }
    /// NAdam with torch.optim's defaults: betas (0.9, 0.999), eps 1e-8, momentum decay 4e-3,
    /// no weight decay.
    pub fn nadam(lr: f32) -> Optimizer {
        Optimizer::Nadam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
        }
    }
    /// RMSprop with torch.optim's defaults: alpha 0.99, eps 1e-8, no weight decay or momentum,
    /// not centered.
    pub fn rmsprop(lr: f32) -> Optimizer {
        Optimizer::RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }

    /// The torch.optim argument checks.
    pub fn validate(&self) -> Result<()> {
        let nonneg = |name: &'static str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(OP, name, v, "must be finite and ≥ 0"))
            }
        };
        let unit = |name: &'static str, v: f32| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(OP, name, v, "must be in [0, 1)"))
            }
        };
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                dampening,
                weight_decay,
                nesterov,
            } => {
                nonneg("lr", lr)?;
                nonneg("momentum", momentum)?;
                nonneg("dampening", dampening)?;
                nonneg("weight_decay", weight_decay)?;
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err(Error::invalid(
                        OP,
                        "nesterov",
                        true,
                        "needs momentum > 0 and dampening = 0",
                    ));
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                nonneg("lr", lr)?;
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                nonneg("eps", eps)?;
                nonneg("weight_decay", weight_decay)?;
            }
            Optimizer::Nadam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                momentum_decay,
            } => {
                nonneg("lr", lr)?;
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                nonneg("eps", eps)?;
                nonneg("weight_decay", weight_decay)?;
                nonneg("momentum_decay", momentum_decay)?;
            }
            Optimizer::RmsProp {
                lr,
                alpha,
                eps,
                weight_decay,
                momentum,
                ..
            } => {
                nonneg("lr", lr)?;
                nonneg("alpha", alpha)?;
                nonneg("eps", eps)?;
                nonneg("weight_decay", weight_decay)?;
                nonneg("momentum", momentum)?;
            }
        }
        Ok(())
    }
}

/// An optimiser's state for one flat parameter buffer: the step count, NAdam's running
/// momentum product and up to three state tensors (zeros at the start, as in PyTorch).
pub struct OptimizerState {
    /// The optimiser and hyper-parameters of the next step (a schedule may change `lr`).
    pub optimizer: Optimizer,
    /// Steps taken so far.
    pub step: u64,
    /// NAdam's product of the momentum schedule so far (1 before the first step).
    pub mu_product: f64,
    /// Momentum buffer (SGD) / first moment (Adam, NAdam) / square average (RMSprop).
    pub s1: Tensor,
    /// Second moment (Adam, NAdam) / gradient average (centered RMSprop).
    pub s2: Tensor,
    /// RMSprop's momentum buffer.
    pub s3: Tensor,
}

impl OptimizerState {
    /// Fresh state for `len` parameters.
    pub fn new(gpu: &Gpu, optimizer: Optimizer, len: usize) -> Result<OptimizerState> {
        optimizer.validate()?;
        let z = || Tensor::uninit(gpu, Shape::new([len]));
        Ok(OptimizerState {
            optimizer,
            step: 0,
            mu_product: 1.0,
            s1: z()?,
            s2: z()?,
            s3: z()?,
        })
    }

    /// Updates `param` in place from `grad` (both `len` elements, any shape).
    pub fn step(&mut self, param: &Tensor, grad: &Tensor) -> Result<()> {
        self.step_in_slot(param, grad, StepSlot::optimizer(0))
    }

    /// [`OptimizerState::step`] with this step's values in per-step slot `slot`: a plan that
    /// captures several banks gives each its own, and rewrites them with
    /// [`OptimizerState::advance`].
    pub(crate) fn step_in_slot(
        &mut self,
        param: &Tensor,
        grad: &Tensor,
        slot: StepSlot,
    ) -> Result<()> {
        crate::ops::same_device(OP, &[param, grad, &self.s1])?;
        let len = self.s1.numel();
        if self.s2.numel() != len || self.s3.numel() != len {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "optimiser state",
                expected: format!("s1, s2, s3 of {len} elements each"),
                got: format!(
                    "{}, {}, {}",
                    self.s1.shape(),
                    self.s2.shape(),
                    self.s3.shape()
                ),
            });
        }
        if param.buffer() == grad.buffer() && param.offset() == grad.offset() {
            return Err(Error::invalid(
                OP,
                "grad",
                "the parameter buffer",
                "must be a separate tensor",
            ));
        }
        if param.numel() != len || grad.numel() != len {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "param and grad",
                expected: format!("{len} elements"),
                got: format!("{} and {}", param.shape(), grad.shape()),
            });
        }
        let scalars = cpu::step_scalars(&self.optimizer, self.step + 1, self.mu_product);
        gpu::step(self, param, grad, &scalars, slot)?;
        self.step += 1;
        self.mu_product = scalars.mu_product;
        Ok(())
    }

    /// The per-step values of the next step (for a plan that replays the captured dispatch),
    /// and the step counters advanced as `step` would.
    pub(crate) fn advance(&mut self) -> Result<gpu::OptimStep> {
        self.optimizer.validate()?;
        let scalars = cpu::step_scalars(&self.optimizer, self.step + 1, self.mu_product);
        let (_, _, u) = gpu::uniforms(self, self.s1.numel(), &scalars)?;
        self.step += 1;
        self.mu_product = scalars.mu_product;
        Ok(u)
    }
}
