//! Optimisers as one fused WGSL pass over a flat parameter buffer, matching torch.optim step
//! for step: SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW (PyTorch's eps
//! placement), NAdam and RMSprop (plain, centered, with momentum).

pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::shape::Shape;
use crate::tensor::Tensor;

const OP: &str = "optimizer";

/// An optimiser and its hyper-parameters (torch.optim's names and defaults).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Optimizer {
    Sgd {
        lr: f32,
        momentum: f32,
        dampening: f32,
        weight_decay: f32,
        nesterov: bool,
    },
    /// `decoupled`: AdamW's weight decay (`p ·= 1 − lr·wd`) instead of Adam's L2 term.
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        decoupled: bool,
    },
    Nadam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        momentum_decay: f32,
    },
    RmsProp {
        lr: f32,
        alpha: f32,
        eps: f32,
        weight_decay: f32,
        momentum: f32,
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

    pub fn sgd(lr: f32) -> Optimizer {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
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
        let z = || Tensor::zeros(gpu, Shape::new([len]));
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
        gpu::step(self, param, grad, &scalars)?;
        self.step += 1;
        self.mu_product = scalars.mu_product;
        Ok(())
    }

    /// The uniforms of the next step (for a plan that replays the captured dispatch), and
    /// the step counters advanced as `step` would.
    pub(crate) fn advance(&mut self) -> Result<gpu::OptimUniforms> {
        self.optimizer.validate()?;
        let scalars = cpu::step_scalars(&self.optimizer, self.step + 1, self.mu_product);
        let (_, u) = gpu::uniforms(self, self.s1.numel(), &scalars)?;
        self.step += 1;
        self.mu_product = scalars.mu_product;
        Ok(u)
    }
}
