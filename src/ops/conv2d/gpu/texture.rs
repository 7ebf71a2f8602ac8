//! The forward conv and dX of software adapters over texels (`shaders/conv2d_texture.wgsl`): x
//! and w packed into rgba32float texture arrays (`shaders/conv2d_texture_pack.wgsl`), 4
//! channels to a texel and x with its padding, so that the kernel's K loop fetches texels only.
//! dX is the same kernel on the stride-1 conv of dy spread by the strides
//! ([`backward_data_conv`]).

use super::super::shaders::{texture_key, texture_pack_key, TEXTURE_PACK};
use super::super::Conv2dGeometry;
use super::{count, units_per_slice, Conv2dUniforms, Sliced};
use crate::error::Result;
use crate::gpu::loops::Cost;
use crate::gpu::shaders::entry_point;
use crate::gpu::{Gpu, PipelineKey};
use crate::ops::elementwise::Activation;
use crate::shape::HW;
use crate::tensor::Tensor;

/// Output pixels one workgroup computes (64 invocations × 8) and channels per invocation.
const ROWS: usize = 512;
const COLS: usize = 16;
/// Loop passes (conv2d_texture.wgsl's header): one per unit, the epilogue's 9 + 8·17 and the
/// K loop's last test.
const COST: Cost = Cost {
    fixed: 146,
    unit: 1,
};
/// Bytes of an rgba32float texel.
const TEXEL: usize = 16;

/// The sizes of x's and w's textures for a geometry (conv2d_texture_pack.wgsl's header).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TextureLayout {
    /// Image cells per texture row.
    pub cells: usize,
    /// Texels per cell along x and y: the padded extent one image's windows reach.
    pub cell: (usize, usize),
    /// x's texture: width, height, layers (groups · ⌈c_in/groups / 4⌉).
    pub x: (usize, usize, usize),
    /// w's texture: width (⌈c_out/groups / 4⌉), height (kh·kw·4·⌈c_in/groups / 4⌉), layers
    /// (groups).
    pub w: (usize, usize, usize),
}

impl TextureLayout {
    /// The layout for `g`: cells arranged about as wide as tall, so that the larger side,
    /// which the adapter's texture limit bounds, is as small as it gets.
    pub fn of(g: &Conv2dGeometry) -> TextureLayout {
        let cell_w = (g.w_out - 1) * g.stride.w + (g.kw - 1) * g.dilation.w + 1;
        let cell_h = (g.h_out - 1) * g.stride.h + (g.kh - 1) * g.dilation.h + 1;
        let balanced = ((g.n * cell_h) as f64 / cell_w as f64).sqrt().ceil() as usize;
        let cells = balanced.clamp(1, g.n);
        let cg4 = g.cg().div_ceil(4);
        TextureLayout {
            cells,
            cell: (cell_w, cell_h),
            x: (cells * cell_w, g.n.div_ceil(cells) * cell_h, g.groups * cg4),
            w: (g.cog().div_ceil(4), g.kh * g.kw * 4 * cg4, g.groups),
        }
    }

    /// Bytes of both textures.
    pub fn bytes(&self) -> usize {
        let size = |(w, h, l): (usize, usize, usize)| w * h * l * TEXEL;
        size(self.x) + size(self.w)
    }

    /// Whether both textures are within `gpu`'s texture limits.
    pub fn fits(&self, gpu: &Gpu) -> bool {
        let fits = |(w, h, l): (usize, usize, usize)| match (
            u32::try_from(w),
            u32::try_from(h),
            u32::try_from(l),
        ) {
            (Ok(w), Ok(h), Ok(l)) => gpu.texture_fits(w, h, l),
            _ => false,
        };
        fits(self.x) && fits(self.w)
    }
}

/// dX's conv for `g`: the stride-1 conv, same dilation, of dy spread by `g`'s strides (zeros
/// between its pixels) and padded by (k − 1)·dilation − pad, with `g`'s taps flipped and its
/// channel axes swapped (`pack_filter_flipped`); its output is dX. `None` where `g` pads its
/// top or left by more than (k − 1)·dilation, which would crop the spread dy: the register
/// kernels take those.
pub fn backward_data_conv(g: &Conv2dGeometry) -> Option<Conv2dGeometry> {
    let reach = HW {
        h: (g.kh - 1) * g.dilation.h,
        w: (g.kw - 1) * g.dilation.w,
    };
    let (pad_top, pad_left) = (
        reach.h.checked_sub(g.pad_top)?,
        reach.w.checked_sub(g.pad_left)?,
    );
    let h_in = (g.h_out - 1) * g.stride.h + 1;
    let w_in = (g.w_out - 1) * g.stride.w + 1;
    Some(Conv2dGeometry {
        c_in: g.c_out,
        h_in,
        w_in,
        c_out: g.c_in,
        h_out: g.h_in,
        w_out: g.w_in,
        stride: HW::square(1),
        pad_top,
        pad_left,
        // h_out = h_in + pads − reach; where the spread dy reaches past dX's last rows the
        // bottom pad would be negative. No kernel reads it: the padding is in the texture.
        pad_bottom: (g.h_in + reach.h).saturating_sub(h_in + pad_top),
        pad_right: (g.w_in + reach.w).saturating_sub(w_in + pad_left),
        ..*g
    })
}

/// y = act(conv2d(x, w) + b) through textures, with the uniforms `u` of `g` (bias and
/// activation set), or `None` where its textures pass the device's limits.
pub(super) fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    u: Conv2dUniforms,
    act: Option<Activation>,
) -> Result<Option<Tensor>> {
    let layout = TextureLayout::of(g);
    if !layout.fits(x.gpu()) {
        return Ok(None);
    }
    let u = with_cells(u, &layout)?;
    // x as it is: no spreading.
    let x_u = Conv2dUniforms {
        stride_h: 1,
        stride_w: 1,
        ..u
    };
    let pack_w = texture_pack_key(entry_point!(TEXTURE_PACK, "pack_filter"));
    run(g, &layout, u, (x, x_u), (w, pack_w), b, act).map(Some)
}

/// dX of the conv `g` from dy and w through textures, as [`backward_data_conv`]'s conv, or
/// `None` where there is no such conv or its textures pass the device's limits.
pub(super) fn backward_data(dy: &Tensor, w: &Tensor, g: &Conv2dGeometry) -> Result<Option<Tensor>> {
    let Some(t) = backward_data_conv(g) else {
        return Ok(None);
    };
    let layout = TextureLayout::of(&t);
    if !layout.fits(dy.gpu()) {
        return Ok(None);
    }
    let u = with_cells(Conv2dUniforms::new(&t), &layout)?;
    // dy spread by g's strides into t's input.
    let dy_u = Conv2dUniforms {
        h_in: count(g.h_out)?,
        w_in: count(g.w_out)?,
        stride_h: count(g.stride.h)?,
        stride_w: count(g.stride.w)?,
        ..u
    };
    let pack_w = texture_pack_key(entry_point!(TEXTURE_PACK, "pack_filter_flipped"));
    run(&t, &layout, u, (dy, dy_u), (w, pack_w), None, None).map(Some)
}

fn with_cells(u: Conv2dUniforms, layout: &TextureLayout) -> Result<Conv2dUniforms> {
    Ok(Conv2dUniforms {
        cells: count(layout.cells)?,
        cell_w: count(layout.cell.0)?,
        cell_h: count(layout.cell.1)?,
        ..u
    })
}

/// The conv `g` with uniforms `u`: packs its input (with the packing's own uniforms) and its
/// filter (with the given pack pipeline), then runs the kernel.
fn run(
    g: &Conv2dGeometry,
    layout: &TextureLayout,
    u: Conv2dUniforms,
    (x, x_u): (&Tensor, Conv2dUniforms),
    (w, pack_w): (&Tensor, PipelineKey),
    b: Option<&Tensor>,
    act: Option<Activation>,
) -> Result<Tensor> {
    let gpu = x.gpu();
    let pack_x = texture_pack_key(entry_point!(TEXTURE_PACK, "pack_input"));
    let tx = packed(gpu, "conv2d input", layout.x, &x_u, x, &pack_x)?;
    let tw = packed(gpu, "conv2d filter", layout.w, &u, w, &pack_w)?;
    let y = Tensor::uninit(gpu, g.y_shape())?;
    let m = g.n * g.h_out * g.w_out;
    let pass = Sliced {
        key: texture_key(),
        u,
        inputs: vec![b],
        textures: vec![&tx, &tw],
        blocks: count(m.div_ceil(ROWS))?,
        z: count(g.groups * g.cog().div_ceil(COLS))?,
    };
    let per = units_per_slice(gpu, COST, || "a step of 4 channels".into())?;
    pass.run(&y, act, g.kh * g.kw * g.cg().div_ceil(4), per)?;
    Ok(y)
}

/// A texture of `size` (width, height, layers), filled from `src` by the pack pipeline `key`.
fn packed(
    gpu: &Gpu,
    label: &str,
    (width, height, layers): (usize, usize, usize),
    u: &Conv2dUniforms,
    src: &Tensor,
    key: &PipelineKey,
) -> Result<wgpu::TextureView> {
    let view = gpu.texture_array(label, count(width)?, count(height)?, count(layers)?);
    // One invocation per texel of a layer, a layer per z.
    let blocks = count((width * height).div_ceil(64))?;
    gpu.dispatch_with_textures(key, u, &[Some(src)], &[&view], blocks, count(layers)?)?;
    Ok(view)
}
