//! Golden runner for `batch_norm2d_train` / `batch_norm2d_eval` cases. Batch reductions
//! (statistics, dgamma, dbeta, and dx through them) use N·H·W as the reduction length.

use super::{dim, tolerance, Case, Checker, Status};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::norm::{self, BatchNormParams};

impl Case<'_> {
    pub(super) fn run_batch_norm(&self, gpu: &Gpu, training: bool) -> Result<Status> {
        let num = |k: &str| {
            self.params[k]
                .as_f64()
                .map(|v| v as f32)
                .ok_or_else(|| Error::format(&self.folder, format!("param `{k}` missing")))
        };
        // Evaluation uses no momentum (GOLDEN_FORMAT.md: eps is its only required param).
        let p = BatchNormParams {
            eps: num("eps")?,
            momentum: if training { num("momentum")? } else { 0.0 },
            synchronized: false,
        };
        let [x, gamma, beta, rm, rv] =
            ["x", "gamma", "beta", "running_mean", "running_var"].map(|n| self.upload(gpu, n));
        let (x, gamma, beta, rm, rv) = (x?, gamma?, beta?, rm?, rv?);
        let batch = dim(&x, 0) * dim(&x, 2) * dim(&x, 3);
        let mut results = Vec::new();
        let (mean, var) = if training {
            let out = norm::batch_norm_train(&x, &gamma, &beta, &rm, &rv, &p)?;
            results.push(("y", out.y, 1));
            results.push(("running_mean_out", out.running_mean, batch));
            results.push(("running_var_out", out.running_var, batch));
            results.push(("batch_mean", out.batch_mean.clone(), batch));
            results.push(("batch_var", out.batch_var.clone(), batch));
            (out.batch_mean, out.batch_var)
        } else {
            results.push((
                "y",
                norm::batch_norm_eval(&x, &gamma, &beta, &rm, &rv, p.eps)?,
                1,
            ));
            (rm, rv)
        };
        if self.has("dy") {
            let dy = self.upload(gpu, "dy")?;
            let g = if training {
                norm::batch_norm_backward_train(&dy, &x, &gamma, &mean, &var, p.eps)?
            } else {
                norm::batch_norm_backward_eval(&dy, &x, &gamma, &mean, &var, p.eps)?
            };
            results.push(("dx", g.dx, if training { batch } else { 1 }));
            results.push(("dgamma", g.dgamma, batch));
            results.push(("dbeta", g.dbeta, batch));
        }
        let mut c = Checker::default();
        for (name, got, k) in results {
            if self.has(name) {
                let want = self.tensor(name)?;
                c.check(name, &got.to_vec()?, want, tolerance(want.max_abs, k));
            }
        }
        Ok(c.status())
    }
}
