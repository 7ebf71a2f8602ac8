//! The forward conv of software adapters over texels (`shaders/conv2d_texture.wgsl`): x and w
//! packed into rgba32float texture arrays (`shaders/conv2d_texture_pack.wgsl`), 4 channels to
//! a texel and x with its padding, so that the kernel's K loop fetches texels only.

use super::super::shaders::{texture_key, texture_pack_key, TEXTURE_PACK};
use super::super::Conv2dGeometry;
use super::{count, units_per_slice, Conv2dUniforms, Sliced};
use crate::error::Result;
use crate::gpu::loops::Cost;
use crate::gpu::shaders::entry_point;
use crate::gpu::{Gpu, PipelineKey};
use crate::ops::elementwise::Activation;
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

/// y = act(conv2d(x, w) + b) through the textures of `layout` (which fits the device).
pub(super) fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    layout: &TextureLayout,
    u: Conv2dUniforms,
    act: Option<Activation>,
) -> Result<Tensor> {
    let gpu = x.gpu();
    let u = Conv2dUniforms {
        cells: count(layout.cells)?,
        cell_w: count(layout.cell.0)?,
        cell_h: count(layout.cell.1)?,
        ..u
    };
    let pack_x = texture_pack_key(entry_point!(TEXTURE_PACK, "pack_input"));
    let pack_w = texture_pack_key(entry_point!(TEXTURE_PACK, "pack_filter"));
    let tx = packed(gpu, "conv2d input", layout.x, &u, x, &pack_x)?;
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
