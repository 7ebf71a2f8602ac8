//! Plain reference elementwise ops in f64.

use super::Activation;

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
