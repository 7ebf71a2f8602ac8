//! Golden runners for `sgd_step`, `adam_step` and `adamw_step`: one step from the given state,
//! within `1e-6 · max(1, max_abs)` (GOLDEN_FORMAT.md).

use super::{Case, Checker, Status};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::optim::{Optimizer, OptimizerState};
use crate::shape::Shape;
use crate::tensor::Tensor;

impl Case<'_> {
    fn f32_param(&self, key: &str) -> Result<f32> {
        self.params[key].as_f64().map(|v| v as f32).ok_or_else(|| {
            Error::format(
                &self.folder,
                format!("param `{key}` is missing or not a number"),
            )
        })
    }

    fn bool_param(&self, key: &str) -> bool {
        self.params[key].as_bool().unwrap_or(false)
    }

    fn run_step(
        &self,
        gpu: &Gpu,
        optimizer: Optimizer,
        step_done: u64,
        s1: Option<&str>,
        s2: Option<&str>,
        outs: &[(&str, usize)],
    ) -> Result<Status> {
        let param = self.upload(gpu, "param")?;
        let grad = self.upload(gpu, "grad")?;
        let n = param.numel();
        let state_or_zeros = |name: Option<&str>| match name.filter(|n| self.has(n)) {
            Some(n) => self.upload(gpu, n),
            None => Tensor::zeros(gpu, Shape::new([n])),
        };
        optimizer.validate()?;
        let mut state = OptimizerState {
            optimizer,
            step: step_done,
            mu_product: 1.0,
            s1: state_or_zeros(s1)?,
            s2: state_or_zeros(s2)?,
            s3: Tensor::zeros(gpu, Shape::new([n]))?,
        };
        state.step(&param, &grad)?;
        let mut c = Checker::default();
        let results = [&param, &state.s1, &state.s2];
        for &(name, which) in outs {
            if self.has(name) {
                let want = self.tensor(name)?;
                c.check(
                    name,
                    &results[which].to_vec()?,
                    want,
                    1e-6 * want.max_abs.max(1.0),
                );
            }
        }
        Ok(c.status())
    }

    pub(super) fn run_sgd_step(&self, gpu: &Gpu) -> Result<Status> {
        let opt = Optimizer::Sgd {
            lr: self.f32_param("lr")?,
            momentum: self.f32_param("momentum")?,
            dampening: self.f32_param("dampening")?,
            weight_decay: self.f32_param("weight_decay")?,
            nesterov: self.bool_param("nesterov"),
        };
        let done = u64::from(!self.bool_param("first_step"));
        self.run_step(
            gpu,
            opt,
            done,
            Some("momentum_buffer"),
            None,
            &[("param_out", 0), ("momentum_buffer_out", 1)],
        )
    }

    pub(super) fn run_adam_step(&self, gpu: &Gpu, decoupled: bool) -> Result<Status> {
        let opt = Optimizer::Adam {
            lr: self.f32_param("lr")?,
            beta1: self.f32_param("beta1")?,
            beta2: self.f32_param("beta2")?,
            eps: self.f32_param("eps")?,
            weight_decay: self.f32_param("weight_decay")?,
            decoupled,
        };
        let step = self.usize_param("step")? as u64;
        if step == 0 {
            return Err(Error::format(&self.folder, "param `step` counts from 1"));
        }
        let outs = [("param_out", 0), ("exp_avg_out", 1), ("exp_avg_sq_out", 2)];
        self.run_step(
            gpu,
            opt,
            step - 1,
            Some("exp_avg"),
            Some("exp_avg_sq"),
            &outs,
        )
    }
}
