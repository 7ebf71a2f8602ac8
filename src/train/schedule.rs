//! Learning-rate schedules, as a function of the step (0-based, counted over the whole run).

use std::f64::consts::PI;

/// How the learning rate moves from the optimiser's base rate.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `every` steps (PyTorch's `StepLR`).
    Step {
        /// Steps between decays (0 acts as 1).
        every: u64,
        /// Factor applied at each decay.
        gamma: f32,
    },
    /// Half a cosine from the base rate down to `min_lr` over `total` steps, then `min_lr`.
    Cosine {
        /// Steps of the half cosine.
        total: u64,
        /// The rate it ends at and keeps.
        min_lr: f32,
    },
    /// Smith's one-cycle (PyTorch's `OneCycleLR`, cosine annealing): from `max_lr / 25` up to
    /// `max_lr` over the first `pct_start` of `total` steps, then down to `max_lr / 25e4`.
    /// Only the learning rate cycles; PyTorch also cycles momentum by default, this does not.
    OneCycle {
        /// Steps of the whole cycle.
        total: u64,
        /// The peak rate; the optimiser's base rate is not used.
        max_lr: f32,
        /// Fraction of `total` spent rising to `max_lr` (PyTorch's default is 0.3).
        pct_start: f32,
    },
}

impl Schedule {
    /// The rate at `step` for base rate `base`.
    pub fn lr(self, base: f32, step: u64) -> f32 {
        let cos = |from: f64, to: f64, t: f64| {
            to + (from - to) * (1.0 + (PI * t.clamp(0.0, 1.0)).cos()) / 2.0
        };
        match self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => {
                base * gamma.powi((step / every.max(1)).min(i32::MAX as u64) as i32)
            }
            Schedule::Cosine { total, min_lr } => cos(
                f64::from(base),
                f64::from(min_lr),
                step as f64 / total.max(1) as f64,
            ) as f32,
            Schedule::OneCycle {
                total,
                max_lr,
                pct_start,
            } => {
                let max = f64::from(max_lr);
                let (start, end) = (max / 25.0, max / 25.0 / 1e4);
                let up = (f64::from(pct_start) * total as f64 - 1.0).max(1.0);
                let s = step as f64;
                let lr = if s <= up {
                    cos(start, max, s / up)
                } else {
                    cos(max, end, (s - up) / (total as f64 - 1.0 - up).max(1.0))
                };
                lr as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn schedules_hit_their_end_points() {
        assert_eq!(Schedule::Constant.lr(0.1, 999), 0.1);
        let s = Schedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(
            (s.lr(1.0, 9), s.lr(1.0, 10), s.lr(1.0, 25)),
            (1.0, 0.5, 0.25)
        );
        let c = Schedule::Cosine {
            total: 100,
            min_lr: 0.0,
        };
        assert!((c.lr(1.0, 0) - 1.0).abs() < 1e-6 && (c.lr(1.0, 50) - 0.5).abs() < 1e-6);
        assert!(c.lr(1.0, 100).abs() < 1e-6 && c.lr(1.0, 500).abs() < 1e-6);
        let o = Schedule::OneCycle {
            total: 100,
            max_lr: 1.0,
            pct_start: 0.3,
        };
        assert!((o.lr(0.0, 0) - 0.04).abs() < 1e-6);
        assert!((o.lr(0.0, 29) - 1.0).abs() < 1e-6);
        assert!(o.lr(0.0, 99) < 1e-5);
    }
}
