//! Random conv2d cases over the whole option space, plus hand-picked edge cases.

use std::fmt;

use super::Rng;
use crate::ops::conv2d::{Conv2dGeometry, Conv2dParams};
use crate::ops::elementwise::Activation;
use crate::shape::{Padding, Shape, HW};

/// One of each activation kind, with a non-trivial alpha where there is one: the parity
/// tests run every activation path (elementwise and fused epilogues) over this list.
pub const ACTIVATIONS: [Activation; 6] = [
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Elu(1.0),
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Relu6,
];

/// One conv2d problem. `Display` prints a line that reproduces it.
#[derive(Clone, Debug)]
pub struct Conv2dCase {
    pub x: Shape,
    pub c_out: usize,
    pub params: Conv2dParams,
    pub bias: bool,
}

/// Valid, same or explicit padding (0 to 3 on each side, past a 3×3 kernel's reach included).
fn random_padding(rng: &mut Rng) -> Padding {
    match rng.range(0, 2) {
        0 => Padding::Valid,
        1 => Padding::Same,
        _ => Padding::Explicit {
            top: rng.range(0, 3),
            bottom: rng.range(0, 3),
            left: rng.range(0, 3),
            right: rng.range(0, 3),
        },
    }
}

impl Conv2dCase {
    pub fn w_shape(&self) -> Shape {
        let d = self.x.dims();
        Shape::new([
            self.c_out,
            d[1] / self.params.groups,
            self.params.kernel.h,
            self.params.kernel.w,
        ])
    }
    pub fn geometry(&self) -> crate::Result<Conv2dGeometry> {
        self.params.resolve(&self.x, &self.w_shape())
    }

    /// A random case that resolves: batch 1–3, odd and non-square sizes, kernels 1–7
    /// (non-square), stride 1–3, dilation 1–3, groups and depthwise (with channel
    /// multiplier), every padding kind, with or without bias.
    pub fn random(rng: &mut Rng) -> Conv2dCase {
        loop {
            let groups = match rng.range(0, 5) {
                0..=2 => 1,
                3 => rng.range(2, 3),
                _ => 0, // depthwise, set below
            };
            // One case in four is large: several workgroups of pixels, several register tiles
            // of channels and a split filter-gradient reduction.
            let big = rng.chance(0.25);
            let (c_in, c_out, groups) = if groups == 0 {
                let c = rng.range(2, if big { 24 } else { 6 });
                (c, c * rng.range(1, 3), c)
            } else if big {
                (groups * rng.range(1, 24), groups * rng.range(1, 40), groups)
            } else {
                (groups * rng.range(1, 4), groups * rng.range(1, 10), groups)
            };
            let k_max = if big { 5 } else { 7 };
            let kernel = HW::new(rng.range(1, k_max), rng.range(1, k_max));
            let kernel = if rng.chance(0.5) {
                HW::square(kernel.h)
            } else {
                kernel
            };
            let stride = HW::new(rng.range(1, 3), rng.range(1, 3));
            let dilation = if rng.chance(0.3) {
                HW::new(rng.range(1, 3), rng.range(1, 3))
            } else {
                HW::square(1)
            };
            let padding = random_padding(rng);
            let case = Conv2dCase {
                x: if big {
                    Shape::new([rng.range(1, 3), c_in, rng.range(8, 36), rng.range(8, 36)])
                } else {
                    Shape::new([rng.range(1, 3), c_in, rng.range(1, 13), rng.range(1, 13)])
                },
                c_out,
                params: Conv2dParams {
                    kernel,
                    stride,
                    padding,
                    dilation,
                    groups,
                },
                bias: rng.chance(0.6),
            };
            if case.geometry().is_ok() {
                return case;
            }
        }
    }

    /// A random case Winograd applies to (3×3, stride 1, no dilation, one group) over every
    /// padding kind, explicit padding past the kernel included, odd sizes, batch 1 to 3.
    pub fn random_winograd(rng: &mut Rng) -> Conv2dCase {
        loop {
            let big = rng.chance(0.3);
            let (c_in, c_out) = if big {
                (rng.range(1, 40), rng.range(1, 40))
            } else {
                (rng.range(1, 6), rng.range(1, 9))
            };
            let side = |rng: &mut Rng| {
                if big {
                    rng.range(6, 40)
                } else {
                    rng.range(1, 11)
                }
            };
            let padding = random_padding(rng);
            let case = Conv2dCase {
                x: Shape::new([rng.range(1, 3), c_in, side(rng), side(rng)]),
                c_out,
                params: Conv2dParams::new(3).padding(padding),
                bias: rng.chance(0.6),
            };
            if case.geometry().is_ok() {
                return case;
            }
        }
    }

    /// Hand-picked corners: 1×1 outputs, pointwise, depthwise, wide channel counts past one
    /// register tile, a single pixel, long reductions.
    pub fn edge_cases() -> Vec<Conv2dCase> {
        let c = |x: [usize; 4], c_out, p: Conv2dParams, bias| Conv2dCase {
            x: Shape::new(x),
            c_out,
            params: p,
            bias,
        };
        let p = |k: (usize, usize)| Conv2dParams::new(k);
        vec![
            c([1, 1, 1, 1], 1, p((1, 1)), false),
            c([1, 3, 5, 5], 4, p((5, 5)), true),   // output 1×1
            c([2, 16, 7, 9], 19, p((1, 1)), true), // pointwise
            c(
                [1, 8, 6, 6],
                8,
                p((3, 3)).padding(Padding::Same).groups(8),
                true,
            ), // depthwise
            c([1, 4, 9, 9], 12, p((3, 3)).stride(2).groups(4), false), // depthwise ×3
            c(
                [3, 5, 11, 7],
                33,
                p((3, 2)).stride((2, 1)).padding(Padding::Same),
                true,
            ),
            c(
                [1, 70, 3, 3],
                9,
                p((3, 3)).padding(Padding::symmetric(1)),
                false,
            ), // long reduction
            c(
                [2, 2, 13, 13],
                3,
                p((3, 3)).dilation(3).padding(Padding::Same),
                true,
            ),
            c(
                [1, 6, 8, 10],
                6,
                p((1, 7)).stride(3).padding(Padding::Same).groups(3),
                true,
            ),
            c(
                [1, 3, 2, 2],
                2,
                p((7, 7)).padding(Padding::symmetric(3)),
                true,
            ), // all-but-one padding
            // Stride phases whose tap test once overflowed 32 bits (r·dil·(stride − 1)).
            c(
                [1, 1, 65541, 1],
                1,
                p((2, 1)).dilation((65540, 1)).stride((65535, 1)),
                false,
            ),
            // Several pixel blocks, channel tiles in every pass, a split filter gradient.
            c([2, 20, 23, 29], 37, p((3, 3)).padding(Padding::Same), true),
            c(
                [3, 36, 17, 15],
                40,
                p((3, 3)).stride(2).padding(Padding::Same),
                false,
            ),
            c(
                [2, 34, 19, 21],
                34,
                p((5, 5)).padding(Padding::Same).groups(34),
                true,
            ),
        ]
    }
}

impl fmt::Display for Conv2dCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.params;
        write!(
            f,
            "x={} c_out={} kernel={} stride={} padding={} dilation={} groups={} bias={}",
            self.x, self.c_out, p.kernel, p.stride, p.padding, p.dilation, p.groups, self.bias
        )
    }
}

/// One random product `op(a)·op(b) (+ bias)` on the GPU with its f64 reference.
pub struct ProductCase {
    pub a: crate::Tensor,
    pub b: crate::Tensor,
    pub bias: crate::Tensor,
    pub with_bias: bool,
    /// Whether `a` and `b` are stored transposed (`[k, m]`, `[n, k]`).
    pub transposed: (bool, bool),
    pub geometry: crate::ops::matmul::MatmulGeometry,
    pub want: crate::ops::Reference,
    /// `m=… n=… k=… ta=… tb=… bias=…`, to reproduce a failure.
    pub name: String,
}

impl ProductCase {
    /// Sizes `(m, n, k)` with random transposes and bias, values drawn from `rng`; an `Err`
    /// for sizes the product refuses or values the device cannot hold.
    pub fn random(
        gpu: &crate::Gpu,
        rng: &mut Rng,
        (m, n, k): (usize, usize, usize),
    ) -> crate::Result<Self> {
        use crate::ops::matmul::{cpu, MatmulGeometry};
        use crate::testing::to_f64;
        let (ta, tb) = (rng.chance(0.5), rng.chance(0.5));
        let a_shape = Shape::new(if ta { [k, m] } else { [m, k] });
        let b_shape = Shape::new(if tb { [n, k] } else { [k, n] });
        let (av, bv, biasv) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
        let geometry = MatmulGeometry::new(&a_shape, ta, &b_shape, tb)?;
        let with_bias = rng.chance(0.5);
        let want = cpu::matmul(
            &geometry,
            &to_f64(&av),
            &to_f64(&bv),
            with_bias.then(|| to_f64(&biasv)).as_deref(),
        );
        Ok(ProductCase {
            a: crate::Tensor::from_slice(gpu, a_shape, &av)?,
            b: crate::Tensor::from_slice(gpu, b_shape, &bv)?,
            bias: crate::Tensor::from_slice(gpu, [n], &biasv)?,
            with_bias,
            transposed: (ta, tb),
            geometry,
            want,
            name: format!("m={m} n={n} k={k} ta={ta} tb={tb} bias={with_bias}"),
        })
    }
}
