//! Golden runner for `softmax_cross_entropy` cases. The loss is compared relatively (its
//! magnitude reaches 1000 with ±1000 logits), the gradient under the format's bound.

use super::{tolerance, Case, Checker, Status};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::reduce;

impl Case<'_> {
    pub(super) fn run_softmax_cross_entropy(&self, gpu: &Gpu) -> Result<Status> {
        let logits = self.upload(gpu, "logits")?;
        let classes = logits.dims().get(1).copied().unwrap_or(0);
        let target: Vec<u32> = self
            .tensor("target")?
            .data
            .iter()
            .map(|&t| (t >= 0.0 && t.fract() == 0.0).then_some(t as u32))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::format(&self.folder, "targets are not non-negative integers"))?;
        let (loss, dlogits) = reduce::softmax_cross_entropy(&logits, &target)?;
        let mut c = Checker::default();
        let want = self.tensor("loss")?;
        c.check(
            "loss",
            &loss.to_vec()?,
            want,
            tolerance(want.max_abs, classes).max(2e-6 * want.max_abs),
        );
        let want = self.tensor("dlogits")?;
        c.check(
            "dlogits",
            &dlogits.to_vec()?,
            want,
            tolerance(want.max_abs, classes),
        );
        Ok(c.status())
    }
}
