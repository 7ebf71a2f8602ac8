//! Winograd F(m×m, 3×3) for stride-1 3×3 convolutions with one group, every pass
//! (`shaders/conv2d_winograd.wgsl` + batched `matmul.wgsl`); its f64 reference is `cpu`.
//!
//! Three transforms and T² = (m+2)² independent GEMMs replace the direct sum: m = 2 does 2.25×
//! fewer multiplies, m = 4 4× fewer. The price is memory for the transformed tensors (bounded
//! by [`MAX_TEMP_BYTES`], past which the kernel declines the shape) and a larger rounding
//! error: the transforms' constants amplify it, so the tests bound it by [`reference()`] run on
//! absolute values instead of direct convolution's Σ|x·w|.

pub mod cpu;
mod gpu;

pub use cpu::{reference, reference_filter};
pub use gpu::{filter_gemm_kernel, gemm_kernel, FILTER_TILES};
pub(crate) use gpu::{run, run_filter};

use super::Conv2dGeometry;
use crate::gpu::uniform_block;
use crate::ops::elementwise::Activation;
use crate::shape::HW;

/// The output-block sizes m of the shaders (`T = m + 2`).
pub const BLOCKS: [u32; 2] = [2, 4];

/// Largest transformed tensor the kernel makes (WebGPU's default storage binding limit):
/// larger shapes run the direct kernels.
pub const MAX_TEMP_BYTES: usize = 128 << 20;

pub(super) const WG: u32 = 64;

uniform_block! {
/// Mirror of `struct Params` in conv2d_winograd.wgsl.
pub(crate) struct WinogradUniforms {
    /// Batch size.
    pub n: u32,
    /// Input channels `I` of the convolution run (dY's channels for the input gradient).
    pub c_in: u32,
    /// Input height.
    pub h_in: u32,
    /// Input width.
    pub w_in: u32,
    /// Output channels `O`.
    pub c_out: u32,
    /// Output height.
    pub h_out: u32,
    /// Output width.
    pub w_out: u32,
    /// Output blocks down the image: `ceil(h_out / m)`.
    pub tiles_h: u32,
    /// Output blocks across the image: `ceil(w_out / m)`.
    pub tiles_w: u32,
    /// Zero rows above the input; negative is a crop (the input gradient pads by 2 − pad).
    pub pad_top: i32,
    /// Zero columns left of the input; negative is a crop.
    pub pad_left: i32,
    /// 1 reads the filters as `[I, O, 3, 3]` rotated by 180° (the input gradient).
    pub flip: u32,
    /// 1 adds `bias` in the output transform.
    pub has_bias: u32,
    /// Fused activation: 0 none, 1 ReLU, 2 LeakyReLU, 3 ELU, 4 tanh, 5 sigmoid.
    pub act: u32,
    /// LeakyReLU's or ELU's alpha.
    pub alpha: f32,
    /// Tiles per chunk of the reduction over tiles (all `n·tiles_h·tiles_w` of them but for
    /// the filter gradient).
    pub chunk: u32,
    /// Chunks of the filter gradient's reduction over tiles (1 otherwise).
    pub splits: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

/// One Winograd convolution: the forward pass of a geometry, or its input gradient run as
/// the convolution of dY with the flipped, transposed filters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WinogradConv {
    /// Output block size (2 or 4).
    pub m: usize,
    /// Batch size.
    pub n: usize,
    /// Input channels of the convolution run: the geometry's `c_out` for the input gradient,
    /// whose input is dY.
    pub c_in: usize,
    /// Input height (`h_out` of the geometry for the input gradient).
    pub h_in: usize,
    /// Input width (`w_out` of the geometry for the input gradient).
    pub w_in: usize,
    /// Output channels of the convolution run (the geometry's `c_in` for the input gradient).
    pub c_out: usize,
    /// Output height (`h_in` of the geometry for the input gradient).
    pub h_out: usize,
    /// Output width (`w_in` of the geometry for the input gradient).
    pub w_out: usize,
    /// Zero rows above the input. Signed: the input gradient pads by 2 − pad, a crop when
    /// pad > 2.
    pub pad_top: i64,
    /// Zero columns left of the input, signed like `pad_top`.
    pub pad_left: i64,
    /// Filters read as `w[i, o]` rotated by 180° (the input gradient).
    pub flip: bool,
    /// The filter gradient of this convolution instead of its output; its reduction over the
    /// tiles runs in `splits` chunks (1 otherwise).
    pub filter_grad: bool,
    /// Chunks of the filter gradient's reduction over tiles (1 otherwise).
    pub splits: usize,
}

/// Tiles per chunk of the filter gradient's reduction, about: enough GEMMs to fill a device,
/// each still a long reduction.
const CHUNK_TILES: usize = 512;
/// At most this many chunks (T²·256 GEMMs fill any device); larger inputs take longer chunks.
const MAX_SPLITS: usize = 256;
/// Workgroups along a dispatch's z (wgpu's per-dimension limit): the batched GEMMs put
/// T²·splits·ceil(channels / 4) there at most (4: the narrowest register tile's columns).
const MAX_Z: usize = 65535;

/// Whether Winograd applies at all: 3×3, stride 1, no dilation, one group.
pub fn eligible(g: &Conv2dGeometry) -> bool {
    (g.kh, g.kw) == (3, 3)
        && g.stride == HW::square(1)
        && g.dilation == HW::square(1)
        && g.groups == 1
}

impl WinogradConv {
    /// The forward pass of `g` with output blocks of `m × m`.
    pub fn forward(g: &Conv2dGeometry, m: u32) -> WinogradConv {
        WinogradConv {
            m: m as usize,
            n: g.n,
            c_in: g.c_in,
            h_in: g.h_in,
            w_in: g.w_in,
            c_out: g.c_out,
            h_out: g.h_out,
            w_out: g.w_out,
            pad_top: g.pad_top as i64,
            pad_left: g.pad_left as i64,
            flip: false,
            filter_grad: false,
            splits: 1,
        }
    }

    /// dW = Σ over the output tiles of Gᵀ [(A dy Aᵀ) ⊙ (Bᵀ d B)] G, d the forward's patches.
    pub fn backward_filter(g: &Conv2dGeometry, m: u32) -> WinogradConv {
        let forward = WinogradConv::forward(g, m);
        WinogradConv {
            filter_grad: true,
            splits: forward.p().div_ceil(CHUNK_TILES).min(MAX_SPLITS),
            ..forward
        }
    }

    /// `dX[ih] = Σ_r dY[ih + pad − r]·w[r] = Σ_r' dY[ih − (2 − pad) + r']·w[2 − r']`.
    pub fn backward_data(g: &Conv2dGeometry, m: u32) -> WinogradConv {
        WinogradConv {
            m: m as usize,
            n: g.n,
            c_in: g.c_out,
            h_in: g.h_out,
            w_in: g.w_out,
            c_out: g.c_in,
            h_out: g.h_in,
            w_out: g.w_in,
            pad_top: 2 - g.pad_top as i64,
            pad_left: 2 - g.pad_left as i64,
            flip: true,
            filter_grad: false,
            splits: 1,
        }
    }

    /// Side of the transformed tiles.
    pub fn t(&self) -> usize {
        self.m + 2
    }
    /// Output blocks per image: (down, across) = `(ceil(h_out / m), ceil(w_out / m))`.
    pub fn tiles(&self) -> (usize, usize) {
        (self.h_out.div_ceil(self.m), self.w_out.div_ceil(self.m))
    }
    /// Tiles over the whole batch: the GEMMs' long side.
    pub fn p(&self) -> usize {
        let (th, tw) = self.tiles();
        self.n * th * tw
    }
    /// Tiles per chunk of the reduction (all of them but for the filter gradient).
    pub fn chunk(&self) -> usize {
        self.p().div_ceil(self.splits.max(1))
    }

    /// Elements of the transformed tensors: filters, inputs and products, or for the filter
    /// gradient the per-chunk products, inputs and output gradients.
    fn temps(&self) -> [usize; 3] {
        let t2 = self.t() * self.t();
        let (i, o) = (self.c_in, self.c_out);
        if self.filter_grad {
            let tiles = t2 * self.splits * self.chunk();
            return [t2 * self.splits * i * o, tiles * i, tiles * o];
        }
        let p = self.p();
        [t2 * o * i, t2 * i * p, t2 * o * p]
    }

    /// Bytes of the transformed filters, inputs and products together.
    pub fn workspace(&self) -> usize {
        self.temps()
            .iter()
            .fold(0usize, |a, &e| a.saturating_add(e.saturating_mul(4)))
    }

    /// Whether this kernel runs it: a block size the shaders have, temporaries within
    /// [`MAX_TEMP_BYTES`] and a GEMM grid within the dispatch limits.
    pub fn fits(&self) -> bool {
        // The GEMMs' shorter side runs along z (the matmul puts the longer across
        // invocations): the channels of one side, or the tiles.
        let short = match self.filter_grad {
            true => self.c_in.min(self.c_out),
            false => self.p().min(self.c_out),
        };
        let z = (self.t() * self.t() * self.splits).saturating_mul(short.div_ceil(4));
        BLOCKS.contains(&(self.m as u32)) && z <= MAX_Z && self.largest_temp() <= MAX_TEMP_BYTES
    }

    /// Bytes of the largest transformed tensor (one storage binding).
    pub fn largest_temp(&self) -> usize {
        self.temps()
            .into_iter()
            .max()
            .unwrap_or(0)
            .saturating_mul(4)
    }

    /// Rounding steps between the inputs and one output: the 3 + 3 filter and T + T input
    /// transform terms, the c_in-term GEMM, the T + T output transform terms; for the filter
    /// gradient T + T input and m + m output-gradient terms, the GEMM over every tile, the
    /// T + T output terms.
    pub fn error_depth(&self) -> usize {
        match self.filter_grad {
            true => self.p() + 4 * self.t() + 2 * self.m,
            false => self.c_in + 4 * self.t() + 6,
        }
    }

    fn uniforms(&self, bias: bool, act: Option<Activation>) -> WinogradUniforms {
        // `fits` and the geometry's u32 checks bound every count.
        let u = |v: usize| v as u32;
        let (th, tw) = self.tiles();
        let (act, alpha) = act.map_or((0, 0.0), |f| {
            let (code, alpha) = f.code();
            (code + 1, alpha)
        });
        WinogradUniforms {
            n: u(self.n),
            c_in: u(self.c_in),
            h_in: u(self.h_in),
            w_in: u(self.w_in),
            c_out: u(self.c_out),
            h_out: u(self.h_out),
            w_out: u(self.w_out),
            tiles_h: u(th),
            tiles_w: u(tw),
            pad_top: self.pad_top as i32,
            pad_left: self.pad_left as i32,
            flip: u32::from(self.flip),
            has_bias: u32::from(bias),
            act,
            alpha,
            chunk: u(self.chunk()),
            splits: u(self.splits),
            ..WinogradUniforms::default()
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::{cpu, Conv2dParams};
    use crate::ops::matmul::gpu::MatmulKernel;
    use crate::shape::Padding;
    use crate::shape::Shape;
    use crate::tensor::Tensor;

    /// Every pass with the workgroup-memory GEMM (the hardware GPUs' choice) and with the
    /// texture-fed one (batched: a texture layer per product) against the reference, on
    /// shapes past one 64×64 tile and with a filter gradient in two chunks.
    #[test]
    fn every_pass_with_the_tiled_and_texture_gemms() {
        use crate::testing::winograd_filter_bounds;
        use crate::testing::{compare_with, shared_gpu, to_f64, winograd_bounds, Rng};
        let gpu = shared_gpu().unwrap();
        let mut rng = Rng::new(11);
        for (x, c_out) in [
            ([2, 70, 9, 11], 67),
            ([1, 3, 20, 17], 5),
            ([2, 5, 40, 30], 3),
        ] {
            let x = Shape::new(x);
            let w = Shape::new([c_out, x.dims()[1], 3, 3]);
            let g = Conv2dParams::new(3)
                .padding(Padding::Same)
                .resolve(&x, &w)
                .unwrap();
            let (xs, ws, dys) = (
                rng.vec(x.numel()),
                rng.vec(w.numel()),
                rng.vec(g.y_shape().numel()),
            );
            let (xt, wt) = (
                Tensor::from_slice(&gpu, x.clone(), &xs).unwrap(),
                Tensor::from_slice(&gpu, w.clone(), &ws).unwrap(),
            );
            let dyt = Tensor::from_slice(&gpu, g.y_shape(), &dys).unwrap();
            let (xd, wd, dyd) = (to_f64(&xs), to_f64(&ws), to_f64(&dys));
            let texture = MatmulKernel::Texture(crate::ops::conv2d::RegisterTile::ALL[0]);
            for (m, gemm) in BLOCKS
                .into_iter()
                .flat_map(|m| [(m, MatmulKernel::Tiled), (m, texture)])
            {
                if x.dims()[2] == 40 && m == 2 {
                    assert_eq!(WinogradConv::backward_filter(&g, m).splits, 2);
                }
                let (f, d, k) = (
                    WinogradConv::forward(&g, m),
                    WinogradConv::backward_data(&g, m),
                    WinogradConv::backward_filter(&g, m),
                );
                let y = run(&xt, &wt, None, &f, None, gemm)
                    .unwrap()
                    .to_vec()
                    .unwrap();
                let dx = run(&dyt, &wt, None, &d, None, gemm)
                    .unwrap()
                    .to_vec()
                    .unwrap();
                let dw = run_filter(&xt, &dyt, &k, gemm).unwrap().to_vec().unwrap();
                let reports = [
                    compare_with(
                        &y,
                        &cpu::forward(&g, &xd, &wd, None).values,
                        winograd_bounds(&f, &xd, &wd, None),
                    ),
                    compare_with(
                        &dx,
                        &cpu::backward_data(&g, &dyd, &wd).values,
                        winograd_bounds(&d, &dyd, &wd, None),
                    ),
                    compare_with(
                        &dw,
                        &cpu::backward_filter(&g, &xd, &dyd).values,
                        winograd_filter_bounds(&k, &xd, &dyd),
                    ),
                ];
                for r in reports {
                    assert!(r.passed(), "m={m} {gemm:?} {g}: {r}");
                }
            }
        }
    }
}
