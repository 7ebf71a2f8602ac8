//! The loop budget: how many loop passes one invocation of any kernel may run.
//!
//! Mesa's gallivm before Mesa 23 (lavapipe, and llvmpipe behind `WGPU_BACKEND=gl`) gives each
//! invocation one counter of 65,535 loop passes, shared by every loop of the shader, nested or
//! not; once it runs out, every loop still running ends after its current pass, with no error
//! (measured on Mesa 22.3.6: two loops of 40,000 ran 40,000 and 25,531 iterations). A loop
//! whose trip count is a compile-time constant counts too unless the compiler unrolls it, and
//! that is the compiler's choice: Mesa 22 unrolls the 8-column loop of the 4×8 register tile
//! but not the 16-column loop of 8×16, whose matmul then stopped after 3,641 of K steps.
//!
//! So on every adapter, not only where the quirk is detected, the host keeps each dispatch
//! under [`LOOP_BUDGET`] passes per invocation, counting every loop as if it were rolled: it
//! cuts long reductions into K-slices that several dispatches accumulate, into more
//! invocations, or into more levels of a reduction. A loop entered `e` times that runs `t`
//! iterations in all costs `t + e` passes (each entry ends with one failed test). Each
//! kernel's header gives its count; the host code that plans its dispatches computes the same
//! count as a [`Cost`]. Kernels whose loops are bounded by constants far below the budget
//! (Winograd's transforms and its sum over at most 256 chunks) are not split.

use std::ops::Range;

/// Loop passes one invocation may run: gallivm's 65,535 less a margin. Every loop is counted
/// rolled, so the margin only covers passes outside the counts (none are known).
pub const LOOP_BUDGET: usize = 65_000;

/// Loop passes of one invocation of a kernel whose reduction can be cut: `fixed` whatever
/// part of the reduction it runs, `unit` more for each unit of it (a K step, a window row…).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cost {
    /// Passes the invocation runs however few units of the reduction it takes.
    pub fixed: usize,
    /// Passes added by each unit of the reduction it takes.
    pub unit: usize,
}

impl Cost {
    /// Units one dispatch may take within `budget` passes, or `None` if not even one fits.
    pub fn per_dispatch(self, budget: usize) -> Option<usize> {
        let units = budget.checked_sub(self.fixed)? / self.unit.max(1);
        (units >= 1).then_some(units)
    }
}

/// `0..len` cut into consecutive ranges of at most `per` (≥ 1) items, in order.
pub fn slices(len: usize, per: usize) -> impl Iterator<Item = Range<usize>> {
    let per = per.max(1);
    (0..len.div_ceil(per)).map(move |i| i * per..((i + 1) * per).min(len))
}

#[cfg(test)]
mod tests {
    use super::slices;

    #[test]
    fn slices_cover_in_order() {
        let s: Vec<_> = slices(10, 4).collect();
        assert_eq!(s, vec![0..4, 4..8, 8..10]);
        assert_eq!(slices(3, 5).collect::<Vec<_>>(), vec![0..3]);
        assert_eq!(slices(0, 5).count(), 0);
    }

    #[test]
    fn costs_fit_the_budget() {
        let c = super::Cost { fixed: 10, unit: 7 };
        assert_eq!(c.per_dispatch(100), Some(12));
        assert_eq!(c.per_dispatch(16), None);
        assert_eq!(c.per_dispatch(5), None);
    }
}
