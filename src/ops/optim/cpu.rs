//! Plain reference optimiser steps in f64, and the per-step scalars the shader receives.

use super::Optimizer;

/// Scalars of step `t` (1-based) that do not depend on the element.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepScalars {
    /// 1 − β1ᵗ and 1 − β2ᵗ.
    pub bc1: f64,
    /// 1 − β2ᵗ, the second moment's bias correction (1 for SGD and RMSprop).
    pub bc2: f64,
    /// NAdam: coefficients of g / denom and m / denom, and the momentum product after this step.
    pub c_grad: f64,
    /// NAdam: the coefficient of m / denom, `lr·μₜ₊₁ / (1 − Πₜ·μₜ₊₁)` with `Πₜ` the momentum
    /// product through step `t`.
    pub c_avg: f64,
    /// NAdam: the product of the momentum schedule through step `t` (carried over unchanged
    /// by the others).
    pub mu_product: f64,
}

/// The scalars of step `t` (1-based) of `opt`, from the momentum product `mu_product` of the
/// steps before it.
pub fn step_scalars(opt: &Optimizer, t: u64, mu_product: f64) -> StepScalars {
    let t_f = t as f64;
    match *opt {
        Optimizer::Adam { beta1, beta2, .. } => StepScalars {
            bc1: 1.0 - f64::from(beta1).powf(t_f),
            bc2: 1.0 - f64::from(beta2).powf(t_f),
            mu_product,
            ..StepScalars::default()
        },
        Optimizer::Nadam {
            lr,
            beta1,
            beta2,
            momentum_decay,
            ..
        } => {
            let (lr, b1, psi) = (f64::from(lr), f64::from(beta1), f64::from(momentum_decay));
            let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(t_f * psi));
            let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((t_f + 1.0) * psi));
            let product = mu_product * mu;
            StepScalars {
                bc1: 1.0,
                bc2: 1.0 - f64::from(beta2).powf(t_f),
                c_grad: lr * (1.0 - mu) / (1.0 - product),
                c_avg: lr * mu_next / (1.0 - product * mu_next),
                mu_product: product,
            }
        }
        _ => StepScalars {
            bc1: 1.0,
            bc2: 1.0,
            mu_product,
            ..StepScalars::default()
        },
    }
}

/// One element's step: `(param, [s1, s2, s3])` after step `t` (1-based) from their values
/// before it.
pub fn step(
    opt: &Optimizer,
    t: u64,
    mu_product: f64,
    p: f64,
    g: f64,
    s: [f64; 3],
) -> (f64, [f64; 3]) {
    let sc = step_scalars(opt, t, mu_product);
    let f = f64::from;
    match *opt {
        Optimizer::Sgd {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } => {
            let d = g + f(weight_decay) * p;
            if momentum == 0.0 {
                return (p - f(lr) * d, s);
            }
            let buf = if t == 1 {
                d
            } else {
                f(momentum) * s[0] + (1.0 - f(dampening)) * d
            };
            let step = if nesterov { d + f(momentum) * buf } else { buf };
            (p - f(lr) * step, [buf, s[1], s[2]])
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
        } => {
            let (mut p, mut g) = (p, g);
            if decoupled {
                p *= 1.0 - f(lr) * f(weight_decay);
            } else {
                g += f(weight_decay) * p;
            }
            let m = f(beta1) * s[0] + (1.0 - f(beta1)) * g;
            let v = f(beta2) * s[1] + (1.0 - f(beta2)) * g * g;
            let p = p - (f(lr) / sc.bc1) * m / (v.sqrt() / sc.bc2.sqrt() + f(eps));
            (p, [m, v, s[2]])
        }
        Optimizer::Nadam {
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } => {
            let g = g + f(weight_decay) * p;
            let m = f(beta1) * s[0] + (1.0 - f(beta1)) * g;
            let v = f(beta2) * s[1] + (1.0 - f(beta2)) * g * g;
            let denom = (v / sc.bc2).sqrt() + f(eps);
            (
                p - sc.c_grad * g / denom - sc.c_avg * m / denom,
                [m, v, s[2]],
            )
        }
        Optimizer::RmsProp {
            lr,
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
        } => {
            let g = g + f(weight_decay) * p;
            let sq = f(alpha) * s[0] + (1.0 - f(alpha)) * g * g;
            let (ga, avg) = if centered {
                let ga = f(alpha) * s[1] + (1.0 - f(alpha)) * g;
                (ga, (sq - ga * ga).sqrt() + f(eps))
            } else {
                (s[1], sq.sqrt() + f(eps))
            };
            if momentum > 0.0 {
                let buf = f(momentum) * s[2] + g / avg;
                (p - f(lr) * buf, [sq, ga, buf])
            } else {
                (p - f(lr) * g / avg, [sq, ga, s[2]])
            }
        }
    }
}
