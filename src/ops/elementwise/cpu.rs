//! Plain reference elementwise ops in f64.

use super::Activation;
use crate::error::{Error, Result};
use crate::ops::backend::{CpuBackend, ElementwiseBackend};
use crate::ops::host::{dims4, same_shape, t, HostTensor};
use crate::shape::Shape;

/// f(x); f(NaN) = NaN for every activation, as PyTorch.
pub fn activation(x: f64, f: Activation) -> f64 {
    match f {
        // f64::max would drop the NaN.
        Activation::Relu if x.is_nan() => x,
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                f64::from(a) * x
            }
        }
        Activation::Elu(a) => {
            if x > 0.0 {
                x
            } else {
                f64::from(a) * x.exp_m1()
            }
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Relu6 => x.clamp(0.0, 6.0),
    }
}

/// f'(x); ReLU'(0) = 0, ReLU'(NaN) = 1 (PyTorch passes the gradient unless x ≤ 0).
pub fn activation_grad(x: f64, f: Activation) -> f64 {
    match f {
        Activation::Relu => {
            if x > 0.0 || x.is_nan() {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                1.0
            } else {
                f64::from(a)
            }
        }
        Activation::Elu(a) => {
            if x > 0.0 {
                1.0
            } else {
                f64::from(a) * x.exp()
            }
        }
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Sigmoid => {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        }
        Activation::Relu6 => f64::from(u8::from((x > 0.0 && x < 6.0) || x.is_nan())),
    }
}

/// f'(x) from y = f(x) (for the activations of [`Activation::grad_from_output`]).
pub fn activation_grad_from_output(y: f64, f: Activation) -> f64 {
    match f {
        Activation::Relu => f64::from(u8::from(y > 0.0 || y.is_nan())),
        Activation::LeakyRelu(a) => {
            if y > 0.0 {
                1.0
            } else {
                f64::from(a)
            }
        }
        Activation::Elu(a) => {
            if y > 0.0 {
                1.0
            } else {
                y + f64::from(a)
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Relu6 => f64::from(u8::from((y > 0.0 && y < 6.0) || y.is_nan())),
    }
}

/// PCG hash, as `pcg` in elementwise.wgsl and augment.wgsl.
pub(crate) fn pcg(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// Whether dropout keeps element `i` for `(seed, step)` at drop probability `rate`.
pub fn dropout_keeps(i: u32, seed: u32, step: u32, rate: f32) -> bool {
    pcg(i ^ pcg(seed ^ pcg(step))) >= dropout_threshold(rate)
}

/// The hash value below which an element is dropped: rate · 2³².
pub fn dropout_threshold(rate: f32) -> u32 {
    (f64::from(rate) * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32
}

/// `track_nonfinite`: `watch` = [steps, first, value] after one more step with `loss`.
pub fn track_nonfinite(watch: [f64; 3], loss: f64) -> [f64; 3] {
    let steps = watch[0] + 1.0;
    if watch[1] == 0.0 && !loss.is_finite() {
        [steps, steps, loss]
    } else {
        [steps, watch[1], watch[2]]
    }
}

/// Inverted dropout of `x` for `(seed, step)`: kept elements scaled by 1 / (1 − rate). Its
/// backward is the same map applied to the gradient.
pub fn dropout(x: &[f64], rate: f32, seed: u32, step: u32) -> Vec<f64> {
    let scale = 1.0 / (1.0 - f64::from(rate));
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if dropout_keeps(i as u32, seed, step, rate) {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}

/// `alpha·a + beta·b`, elementwise (`a` and `b` of one length).
pub fn axpby(alpha: f64, a: &[f64], beta: f64, b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| alpha * x + beta * y).collect()
}

/// NCHW tensors of `n` images and `hw` pixels, each `(values, channels)`, joined along the
/// channels.
pub fn concat_channels(parts: &[(&[f64], usize)], n: usize, hw: usize) -> Vec<f64> {
    let c: usize = parts.iter().map(|p| p.1).sum();
    let mut out = Vec::with_capacity(n * c * hw);
    for b in 0..n {
        for &(v, pc) in parts {
            out.extend_from_slice(&v[b * pc * hw..(b + 1) * pc * hw]);
        }
    }
    out
}

/// An NCHW tensor `[n, c, h·w]` cut along the channels into parts of `sizes` channels (which
/// add up to `c`).
pub fn split_channels(x: &[f64], [n, c, hw]: [usize; 3], sizes: &[usize]) -> Vec<Vec<f64>> {
    let mut start = 0;
    let mut outs = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let mut part = Vec::with_capacity(n * s * hw);
        for b in 0..n {
            part.extend_from_slice(&x[(b * c + start) * hw..(b * c + start + s) * hw]);
        }
        outs.push(part);
        start += s;
    }
    outs
}

impl ElementwiseBackend for CpuBackend {
    fn activation(&self, x: &HostTensor, f: Activation) -> Result<HostTensor> {
        let y = x.v().iter().map(|&v| activation(v, f)).collect();
        t(x.shape.clone(), y)
    }
    fn activation_backward(
        &self,
        dy: &HostTensor,
        x: &HostTensor,
        f: Activation,
    ) -> Result<HostTensor> {
        same_shape(dy, x)?;
        let v = x
            .v()
            .iter()
            .zip(dy.v().iter())
            .map(|(&x, &d)| d * activation_grad(x, f))
            .collect();
        t(x.shape.clone(), v)
    }
    fn activation_backward_from_output(
        &self,
        dy: &HostTensor,
        y: &HostTensor,
        f: Activation,
    ) -> Result<HostTensor> {
        same_shape(dy, y)?;
        let v = y
            .v()
            .iter()
            .zip(dy.v().iter())
            .map(|(&y, &d)| d * activation_grad_from_output(y, f))
            .collect();
        t(y.shape.clone(), v)
    }
    fn dropout(&self, x: &HostTensor, rate: f32, seed: u32, step: u32) -> Result<HostTensor> {
        t(x.shape.clone(), dropout(&x.v(), rate, seed, step))
    }
    fn axpby(&self, alpha: f32, a: &HostTensor, beta: f32, b: &HostTensor) -> Result<HostTensor> {
        if a.shape != b.shape {
            return Err(Error::ShapeMismatch {
                op: "axpby",
                what: "b",
                expected: a.shape.to_string(),
                got: b.shape.to_string(),
            });
        }
        let (al, be) = (f64::from(alpha), f64::from(beta));
        t(a.shape.clone(), axpby(al, &a.v(), be, &b.v()))
    }
    fn concat(&self, parts: &[&HostTensor]) -> Result<HostTensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::invalid("concat", "parts", 0, "needs at least one"))?;
        let [n, _, h, w] = dims4(&first.shape)?;
        let mut c = 0;
        for p in parts {
            let [pn, pc, ph, pw] = dims4(&p.shape)?;
            if [pn, ph, pw] != [n, h, w] {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    what: "part",
                    expected: format!("[{n}, any, {h}, {w}]"),
                    got: p.shape.to_string(),
                });
            }
            c += pc;
        }
        let values: Vec<_> = parts.iter().map(|p| p.v()).collect();
        let channels: Vec<(&[f64], usize)> = values
            .iter()
            .zip(parts)
            .map(|(v, p)| (&v[..], p.shape.dims()[1]))
            .collect();
        let out = concat_channels(&channels, n, h * w);
        t(Shape::new([n, c, h, w]), out)
    }
    fn split(&self, x: &HostTensor, sizes: &[usize]) -> Result<Vec<HostTensor>> {
        let [n, c, h, w] = dims4(&x.shape)?;
        if sizes.iter().sum::<usize>() != c {
            return Err(Error::invalid(
                "split",
                "sizes",
                format!("{sizes:?}"),
                format!("must add up to the {c} channels"),
            ));
        }
        split_channels(&x.v(), [n, c, h * w], sizes)
            .into_iter()
            .zip(sizes)
            .map(|(part, &s)| t(Shape::new([n, s, h, w]), part))
            .collect()
    }
}
