//! Golden runner for `conv2d` cases.

use super::{dim, tolerance, Case, Checker, Status};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::conv2d::transpose::{self, ConvTranspose2dParams};
use crate::ops::conv2d::{self, Conv2dParams};
use crate::shape::{Padding, HW};

impl Case<'_> {
    pub(super) fn run_conv2d(&self, gpu: &Gpu) -> Result<Status> {
        let p = Conv2dParams {
            kernel: self.pair("kernel")?,
            stride: self.pair("stride")?,
            padding: self.padding()?,
            dilation: self.pair("dilation")?,
            groups: self.usize_param("groups")?,
        };
        let x = self.upload(gpu, "x")?;
        let w = self.upload(gpu, "w")?;
        let b = self.has("b").then(|| self.upload(gpu, "b")).transpose()?;
        let g = p.resolve(x.shape(), w.shape())?;
        let k_fwd = g.reduction_len();
        let k_batch = g.n * g.h_out * g.w_out;
        let mut results = vec![("y", conv2d::conv2d(&x, &w, b.as_ref(), &p)?, k_fwd)];
        if self.has("dy") {
            let dy = self.upload(gpu, "dy")?;
            if self.has("dx") {
                let dx = conv2d::conv2d_backward_data(&dy, &w, x.shape(), &p)?;
                results.push(("dx", dx, k_fwd));
            }
            if self.has("dw") {
                results.push(("dw", conv2d::conv2d_backward_filter(&x, &dy, &p)?, k_batch));
            }
            if self.has("db") {
                results.push(("db", conv2d::conv2d_backward_bias(&dy)?, k_batch));
            }
        }
        let mut checker = Checker::default();
        for (name, got, k) in results {
            let want = self.tensor(name)?;
            checker.check(name, &got.to_vec()?, want, tolerance(want.max_abs, k));
        }
        Ok(checker.status())
    }
}

impl Case<'_> {
    pub(super) fn run_conv_transpose2d(&self, gpu: &Gpu) -> Result<Status> {
        let (h, w) = match self.padding()? {
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } if top == bottom && left == right => (top, left),
            other => {
                return Err(Error::format(
                    &self.folder,
                    format!("transposed conv padding must be symmetric, got {other}"),
                ))
            }
        };
        let p = ConvTranspose2dParams {
            kernel: self.pair("kernel")?,
            stride: self.pair("stride")?,
            padding: HW::new(h, w),
            output_padding: self.pair("output_padding")?,
            dilation: self.pair("dilation")?,
            groups: self.usize_param("groups")?,
        };
        let x = self.upload(gpu, "x")?;
        let wt = self.upload(gpu, "w")?;
        let b = self.has("b").then(|| self.upload(gpu, "b")).transpose()?;
        let k_fwd = dim(&x, 1) / p.groups.max(1) * p.kernel.h * p.kernel.w;
        let y = transpose::conv_transpose2d(&x, &wt, b.as_ref(), &p)?;
        let batch = dim(&y, 0) * dim(&y, 2) * dim(&y, 3);
        let mut results = vec![("y", y, k_fwd)];
        if self.has("dy") {
            let dy = self.upload(gpu, "dy")?;
            let k_dx = dim(&dy, 1) / p.groups.max(1) * p.kernel.h * p.kernel.w;
            if self.has("dx") {
                results.push((
                    "dx",
                    transpose::conv_transpose2d_backward_data(&dy, &wt, x.shape(), &p)?,
                    k_dx,
                ));
            }
            if self.has("dw") {
                results.push((
                    "dw",
                    transpose::conv_transpose2d_backward_filter(&x, &dy, &p)?,
                    batch,
                ));
            }
            if self.has("db") {
                results.push(("db", transpose::conv_transpose2d_backward_bias(&dy)?, batch));
            }
        }
        let mut checker = Checker::default();
        for (name, got, k) in results {
            let want = self.tensor(name)?;
            checker.check(name, &got.to_vec()?, want, tolerance(want.max_abs, k));
        }
        Ok(checker.status())
    }
}
