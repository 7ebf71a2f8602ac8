//! Golden runner for `linear` cases (dense layers).

use super::{dim, tolerance, Case, Checker, Status};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::matmul;

impl Case<'_> {
    pub(super) fn run_linear(&self, gpu: &Gpu) -> Result<Status> {
        let x = self.upload(gpu, "x")?;
        let w = self.upload(gpu, "w")?;
        let b = self.has("b").then(|| self.upload(gpu, "b")).transpose()?;
        let (n, fin, fout) = (dim(&x, 0), dim(&x, 1), dim(&w, 0));
        let mut results = vec![("y", matmul::dense(&x, &w, b.as_ref())?, fin)];
        if self.has("dy") {
            let dy = self.upload(gpu, "dy")?;
            if self.has("dx") {
                results.push(("dx", matmul::dense_backward_data(&dy, &w)?, fout));
            }
            if self.has("dw") {
                results.push(("dw", matmul::dense_backward_filter(&x, &dy)?, n));
            }
            if self.has("db") {
                results.push(("db", matmul::dense_backward_bias(&dy)?, n));
            }
        }
        let mut c = Checker::default();
        for (name, got, k) in results {
            let want = self.tensor(name)?;
            c.check(name, &got.to_vec()?, want, tolerance(want.max_abs, k));
        }
        Ok(c.status())
    }
}
