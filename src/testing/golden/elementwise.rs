//! Golden runner for `relu` cases: `y` and `dx` must match exactly.

use super::{Case, Checker, Status};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::elementwise::{self, Activation};

impl Case<'_> {
    pub(super) fn run_relu(&self, gpu: &Gpu) -> Result<Status> {
        let x = self.upload(gpu, "x")?;
        let mut c = Checker::default();
        c.check(
            "y",
            &elementwise::activation(&x, Activation::Relu)?.to_vec()?,
            self.tensor("y")?,
            0.0,
        );
        if self.has("dy") && self.has("dx") {
            let dx =
                elementwise::activation_backward(&self.upload(gpu, "dy")?, &x, Activation::Relu)?;
            c.check("dx", &dx.to_vec()?, self.tensor("dx")?, 0.0);
        }
        Ok(c.status())
    }
}
