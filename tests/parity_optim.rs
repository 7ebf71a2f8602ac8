//! Optimiser steps on the GPU against the f64 reference, step by step over several steps.

use wgcnn::ops::optim::{cpu, Optimizer, OptimizerState};
use wgcnn::testing::{gpu, Rng, EPS32};
use wgcnn::Tensor;

fn configs() -> Vec<Optimizer> {
    vec![
        Optimizer::sgd(0.1),
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 1e-2,
            nesterov: false,
        },
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.3,
            weight_decay: 0.0,
            nesterov: false,
        },
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.8,
            dampening: 0.0,
            weight_decay: 5e-3,
            nesterov: true,
        },
        Optimizer::adam(1e-3),
        Optimizer::Adam {
            lr: 1e-2,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 1e-2,
            decoupled: false,
        },
        Optimizer::adamw(1e-2, 0.1),
        Optimizer::nadam(2e-3),
        Optimizer::Nadam {
            lr: 1e-2,
            beta1: 0.85,
            beta2: 0.995,
            eps: 1e-7,
            weight_decay: 1e-2,
            momentum_decay: 4e-3,
        },
        Optimizer::rmsprop(1e-2),
        Optimizer::RmsProp {
            lr: 1e-2,
            alpha: 0.9,
            eps: 1e-6,
            weight_decay: 1e-2,
            momentum: 0.9,
            centered: true,
        },
        Optimizer::RmsProp {
            lr: 1e-2,
            alpha: 0.95,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: true,
        },
    ]
}

#[test]
fn every_optimizer_matches_the_reference_step_by_step() {
    let gpu = gpu();
    let mut rng = Rng::new(0x0971);
    let n = 1037;
    for opt in configs() {
        let mut state = OptimizerState::new(&gpu, opt, n).unwrap();
        let param = Tensor::from_slice(&gpu, [n], &rng.vec(n)).unwrap();
        for t in 1..=5u64 {
            let g = rng.vec(n);
            let grad = Tensor::from_slice(&gpu, [n], &g).unwrap();
            // The reference step starts from the GPU's own f32 state, so errors do not compound.
            let p0 = param.to_vec().unwrap();
            let s0 = [
                state.s1.to_vec().unwrap(),
                state.s2.to_vec().unwrap(),
                state.s3.to_vec().unwrap(),
            ];
            let mu = state.mu_product;
            state.step(&param, &grad).unwrap();
            let p1 = param.to_vec().unwrap();
            let s1 = [
                state.s1.to_vec().unwrap(),
                state.s2.to_vec().unwrap(),
                state.s3.to_vec().unwrap(),
            ];
            for i in 0..n {
                let s_in = [
                    f64::from(s0[0][i]),
                    f64::from(s0[1][i]),
                    f64::from(s0[2][i]),
                ];
                let (p_ref, s_ref) =
                    cpu::step(&opt, t, mu, f64::from(p0[i]), f64::from(g[i]), s_in);
                // A handful of roundings on the parameter, its update and the state terms.
                let scale = f64::from(p0[i].abs()) + (p_ref - f64::from(p0[i])).abs() + 1e-3;
                assert!(
                    (f64::from(p1[i]) - p_ref).abs() <= 64.0 * EPS32 * scale,
                    "{opt:?} step {t} param[{i}]: {} vs {p_ref}",
                    p1[i]
                );
                for k in 0..3 {
                    let terms = s_in[k].abs()
                        + f64::from(g[i]).abs() * (1.0 + f64::from(g[i]).abs())
                        + s_ref[k].abs();
                    assert!(
                        (f64::from(s1[k][i]) - s_ref[k]).abs() <= 16.0 * EPS32 * terms + 1e-30,
                        "{opt:?} step {t} state {k}[{i}]: {} vs {}",
                        s1[k][i],
                        s_ref[k]
                    );
                }
            }
        }
        assert_eq!(state.step, 5);
    }
}

#[test]
fn bad_hyper_parameters_and_sizes_are_errors() {
    let gpu = gpu();
    let bad = [
        Optimizer::sgd(-1.0),
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: true,
        },
        Optimizer::Adam {
            lr: 1e-3,
            beta1: 1.0,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        },
        Optimizer::rmsprop(f32::NAN),
    ];
    for opt in bad {
        assert!(OptimizerState::new(&gpu, opt, 4).is_err(), "{opt:?}");
    }
    let mut state = OptimizerState::new(&gpu, Optimizer::adam(1e-3), 4).unwrap();
    let p = Tensor::from_slice(&gpu, [5], &[0.0; 5]).unwrap();
    assert!(state.step(&p, &p).is_err());
}
