//! Parameter initialisers (Keras's names), seeded and reproducible.

use crate::rng::Rng;
use crate::shape::Shape;

/// How a parameter's first values are drawn.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Init {
    /// Every value 0 (the Keras default for biases).
    Zeros,
    /// Every value 1 (batch norm's γ and running variance).
    Ones,
    /// Every value the given constant.
    Constant(f32),
    /// N(0, 2 / fan_in) (He et al.; PyTorch's `kaiming_normal_`, fan-in mode).
    HeNormal,
    /// U(±√(6 / fan_in)).
    HeUniform,
    /// N(0, 2 / (fan_in + fan_out)).
    GlorotNormal,
    /// U(±√(6 / (fan_in + fan_out))), the Keras default for kernels.
    GlorotUniform,
}

/// (fan_in, fan_out) of a weight: dense `[out, in]`, conv `[out, in/groups, kh, kw]`.
pub fn fans(shape: &Shape) -> (usize, usize) {
    match shape.dims() {
        [o, i, rest @ ..] => {
            let field: usize = rest.iter().product();
            (i * field, o * field)
        }
        [n] => (*n, *n),
        _ => (1, 1),
    }
}

impl Init {
    /// `shape.numel()` values drawn from `rng`.
    pub fn sample(self, shape: &Shape, rng: &mut Rng) -> Vec<f32> {
        let n = shape.numel();
        let (fan_in, fan_out) = fans(shape);
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let normal =
            |std: f64, rng: &mut Rng| (0..n).map(|_| (rng.normal() * std) as f32).collect();
        let uniform = |lim: f64, rng: &mut Rng| {
            (0..n)
                .map(|_| ((rng.unit() * 2.0 - 1.0) * lim) as f32)
                .collect()
        };
        match self {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Constant(v) => vec![v; n],
            Init::HeNormal => normal((2.0 / fi).sqrt(), rng),
            Init::HeUniform => uniform((6.0 / fi).sqrt(), rng),
            Init::GlorotNormal => normal((2.0 / (fi + fo)).sqrt(), rng),
            Init::GlorotUniform => uniform((6.0 / (fi + fo)).sqrt(), rng),
        }
    }
}
