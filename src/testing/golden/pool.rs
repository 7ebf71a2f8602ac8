//! Golden runners for `max_pool2d`, `avg_pool2d` and `adaptive_avg_pool2d` cases.
//!
//! GOLDEN_FORMAT.md: max-pool `y` and `idx` must match exactly, and `dx` too where windows do
//! not overlap; everything else within `1e-6 · max(1, max_abs)`.

use super::{Case, Checker, Status};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::pool::{self, Pool2dParams, PoolKind};
use crate::shape::HW;

fn pool_tolerance(max_abs: f64) -> f64 {
    1e-6 * max_abs.max(1.0)
}

impl Case<'_> {
    fn pool_params(&self, kind: PoolKind) -> Result<Pool2dParams> {
        Ok(Pool2dParams {
            kind,
            kernel: self.pair("kernel")?,
            stride: self.pair("stride")?,
            padding: self.padding()?,
            dilation: if self.params.get("dilation").is_some() {
                self.pair("dilation")?
            } else {
                HW::square(1)
            },
            ceil_mode: self.params["ceil_mode"].as_bool().unwrap_or(false),
        })
    }

    pub(super) fn run_max_pool2d(&self, gpu: &Gpu) -> Result<Status> {
        let p = self.pool_params(PoolKind::Max)?;
        let x = self.upload(gpu, "x")?;
        let (y, idx) = pool::max_pool2d(&x, &p)?;
        let mut c = Checker::default();
        c.check("y", &y.to_vec()?, self.tensor("y")?, 0.0);
        c.check("idx", &idx.to_vec()?, self.tensor("idx")?, 0.0);
        if self.has("dy") && self.has("dx") {
            let dx = pool::max_pool2d_backward(&self.upload(gpu, "dy")?, &idx, x.shape(), &p)?;
            let overlap =
                p.stride.h < p.kernel.h || p.stride.w < p.kernel.w || p.dilation != HW::square(1);
            let want = self.tensor("dx")?;
            let tol = if overlap {
                pool_tolerance(want.max_abs)
            } else {
                0.0
            };
            c.check("dx", &dx.to_vec()?, want, tol);
        }
        Ok(c.status())
    }

    pub(super) fn run_avg_pool2d(&self, gpu: &Gpu) -> Result<Status> {
        let include = self.params["count_include_pad"].as_bool().unwrap_or(true);
        let p = self.pool_params(PoolKind::Avg {
            count_include_pad: include,
        })?;
        let x = self.upload(gpu, "x")?;
        let mut c = Checker::default();
        let want = self.tensor("y")?;
        c.check(
            "y",
            &pool::avg_pool2d(&x, &p)?.to_vec()?,
            want,
            pool_tolerance(want.max_abs),
        );
        if self.has("dy") && self.has("dx") {
            let dx = pool::avg_pool2d_backward(&self.upload(gpu, "dy")?, x.shape(), &p)?;
            let want = self.tensor("dx")?;
            c.check("dx", &dx.to_vec()?, want, pool_tolerance(want.max_abs));
        }
        Ok(c.status())
    }

    pub(super) fn run_adaptive_avg_pool2d(&self, gpu: &Gpu) -> Result<Status> {
        let out = HW::new(self.usize_param("H_out")?, self.usize_param("W_out")?);
        let x = self.upload(gpu, "x")?;
        let mut c = Checker::default();
        let want = self.tensor("y")?;
        c.check(
            "y",
            &pool::adaptive_avg_pool2d(&x, out)?.to_vec()?,
            want,
            pool_tolerance(want.max_abs),
        );
        if self.has("dy") && self.has("dx") {
            let dx = pool::adaptive_avg_pool2d_backward(&self.upload(gpu, "dy")?, x.shape())?;
            let want = self.tensor("dx")?;
            c.check("dx", &dx.to_vec()?, want, pool_tolerance(want.max_abs));
        }
        Ok(c.status())
    }
}
