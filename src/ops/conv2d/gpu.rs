//! GPU side of conv2d: the uniform block, kernel choice and dispatch of each pass.

use super::kernel::{Conv2dKernel, RegisterTile};
use super::shaders::*;
use super::winograd::{self, WinogradConv};
use super::Conv2dParams;
use super::{Conv2dGeometry, ConvPass};
use crate::error::{Error, Result};
use crate::gpu::loops::{slices, Cost};
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Gpu, PipelineKey};
use crate::ops::backend::{ConvBackend, GpuBackend};
use crate::ops::elementwise::Activation;
use crate::shape::Shape;
use crate::tensor::Tensor;

mod backward_filter;
mod texture;
pub(crate) use backward_filter::{backward_bias, backward_filter};
pub use backward_filter::{filter_splits, FilterSplits};
pub use texture::{backward_data_conv, TextureLayout};

uniform_block! {
/// Mirror of the WGSL `struct Params` shared by every conv2d shader (same names, same order).
pub(crate) struct Conv2dUniforms {
    /// Batch size.
    pub n: u32,
    /// Input channels.
    pub c_in: u32,
    /// Input height.
    pub h_in: u32,
    /// Input width.
    pub w_in: u32,
    /// Output channels.
    pub c_out: u32,
    /// Output height.
    pub h_out: u32,
    /// Output width.
    pub w_out: u32,
    /// Channel groups.
    pub groups: u32,
    /// Kernel height.
    pub kh: u32,
    /// Kernel width.
    pub kw: u32,
    /// Vertical stride.
    pub stride_h: u32,
    /// Horizontal stride.
    pub stride_w: u32,
    /// Vertical dilation.
    pub dil_h: u32,
    /// Horizontal dilation.
    pub dil_w: u32,
    /// Zero rows above the input (the bottom pad follows from the output size).
    pub pad_top: u32,
    /// Zero columns left of the input.
    pub pad_left: u32,
    /// 1 adds the bias; set on the first K-slice only.
    pub has_bias: u32,
    /// Split-K chunks of the filter gradient.
    pub splits: u32,
    /// Output rows (img, oh) per split.
    pub rows_per_split: u32,
    /// Element count for `sum_splits`.
    pub len: u32,
    /// Fused activation of the forward epilogue: 0 none, else `Activation::code().0 + 1`.
    pub act: u32,
    /// LeakyReLU's or ELU's alpha for `act`.
    pub alpha: f32,
    /// This dispatch's K-slice, in the unit of its kernel (common/conv2d_params.wgsl).
    pub k_begin: u32,
    /// End (exclusive) of this dispatch's K-slice.
    pub k_end: u32,
    /// 1: add the value the previous K-slice stored.
    pub accumulate: u32,
    /// Column chunks of the filter gradient's split and columns per chunk.
    pub col_splits: u32,
    /// Output columns per column chunk of the filter gradient.
    pub cols_per_split: u32,
    /// Taps per segment of a window row and segments per row (common/conv2d_params.wgsl).
    pub seg: u32,
    /// Segments per window row (1 unless a row is longer than the loop budget allows).
    pub segs: u32,
    /// Image cells per row of the texture kernels' input texture.
    pub cells: u32,
    /// Texels per cell along x: the padded extent the windows of one image row span.
    pub cell_w: u32,
    /// Texel rows per cell: the padded extent along y.
    pub cell_h: u32,
}
}

impl Conv2dUniforms {
    /// `resolve` has checked every count against u32, so the casts cannot truncate.
    pub fn new(g: &Conv2dGeometry) -> Conv2dUniforms {
        let u = |v: usize| v as u32;
        Conv2dUniforms {
            n: u(g.n),
            c_in: u(g.c_in),
            h_in: u(g.h_in),
            w_in: u(g.w_in),
            c_out: u(g.c_out),
            h_out: u(g.h_out),
            w_out: u(g.w_out),
            groups: u(g.groups),
            kh: u(g.kh),
            kw: u(g.kw),
            stride_h: u(g.stride.h),
            stride_w: u(g.stride.w),
            dil_h: u(g.dilation.h),
            dil_w: u(g.dilation.w),
            pad_top: u(g.pad_top),
            pad_left: u(g.pad_left),
            has_bias: 0,
            splits: 1,
            rows_per_split: u(g.n * g.h_out),
            len: 0,
            act: 0,
            alpha: 0.0,
            k_begin: 0,
            k_end: 0,
            accumulate: 0,
            col_splits: 1,
            cols_per_split: u(g.w_out),
            seg: u(g.kw),
            segs: 1,
            cells: 1,
            cell_w: 0,
            cell_h: 0,
        }
    }
}

/// Reduction units one dispatch of a kernel with loop cost `cost` may take (the loop budget),
/// or an error naming `what` one unit is when not even one fits.
fn units_per_slice(gpu: &Gpu, cost: Cost, what: impl Fn() -> String) -> Result<usize> {
    let budget = gpu.loop_budget();
    cost.per_dispatch(budget).ok_or_else(|| Error::LoopBudget {
        op: "conv2d",
        what: what(),
        passes: cost.fixed + cost.unit,
        budget,
    })
}

/// How a windowed kernel's window rows are cut (common/conv2d_params.wgsl): taps per segment,
/// segments per row, and units (row segments) per dispatch.
#[derive(Clone, Copy)]
struct Segments {
    seg: usize,
    segs: usize,
    per: usize,
}

impl Segments {
    /// For a kernel of `fixed` loop passes, `base` more per unit and `tap` more per tap, on
    /// rows of `kw` taps: rows longer than the loop budget allows are cut into segments.
    fn of(gpu: &Gpu, fixed: usize, base: usize, tap: usize, kw: usize) -> Result<Segments> {
        let budget = gpu.loop_budget();
        let seg = budget
            .checked_sub(fixed + base)
            .map(|room| room / tap)
            .filter(|&taps| taps >= 1)
            .ok_or(Error::LoopBudget {
                op: "conv2d",
                what: "one tap of a window".into(),
                passes: fixed + base + tap,
                budget,
            })?
            .min(kw);
        Ok(Segments {
            seg,
            segs: kw.div_ceil(seg),
            per: (budget - fixed) / (base + seg * tap),
        })
    }

    /// The register-tile kernels (the shaders' headers), `extra` passes more per unit (dX's
    /// set-up of its MR output rows).
    fn gemm(gpu: &Gpu, t: RegisterTile, extra: usize, kw: usize) -> Result<Segments> {
        Segments::of(
            gpu,
            t.fixed_passes() + 1,
            2 + extra,
            t.step_passes() + 1,
            kw,
        )
    }

    /// The depthwise forward and dX kernels.
    fn depthwise(gpu: &Gpu, kw: usize) -> Result<Segments> {
        let owt = DEPTHWISE_OWT as usize;
        Segments::of(gpu, owt + 2, 2, owt + 2, kw)
    }

    /// The uniforms with this cut.
    fn apply(self, u: &Conv2dUniforms) -> Result<Conv2dUniforms> {
        Ok(Conv2dUniforms {
            seg: count(self.seg)?,
            segs: count(self.segs)?,
            ..*u
        })
    }
}

/// Loop passes of `forward_tiled` per staged step of BK taps (conv2d_forward.wgsl).
const TILED_COST: Cost = Cost {
    fixed: 37,
    unit: 508,
};

/// One pass of a K-sliced kernel: its pipeline, uniforms, the bindings before its output, the
/// textures after it and its grid.
struct Sliced<'a> {
    key: PipelineKey,
    u: Conv2dUniforms,
    inputs: Vec<Option<&'a Tensor>>,
    textures: Vec<&'a wgpu::TextureView>,
    blocks: u32,
    z: u32,
}

impl Sliced<'_> {
    /// Records the pass once per K-slice of `units` reduction units, at most `per` each. The
    /// kernels only write (a read of the output in their epilogue slowed Mesa 22's register
    /// tiles): the first slice writes `out`, with the bias, each later one a temporary that
    /// `accumulate` adds into `out`, applying the activation `act` after the last.
    fn run(&self, out: &Tensor, act: Option<Activation>, units: usize, per: usize) -> Result<()> {
        let ranges: Vec<_> = slices(units, per).collect();
        let temp = match ranges.len() {
            0 | 1 => None,
            _ => Some(Tensor::uninit(out.gpu(), out.shape().clone())?),
        };
        for (i, ks) in ranges.iter().enumerate() {
            let slice = Conv2dUniforms {
                k_begin: count(ks.start)?,
                k_end: count(ks.end)?,
                has_bias: if i == 0 { self.u.has_bias } else { 0 },
                act: if temp.is_none() { self.u.act } else { 0 },
                ..self.u
            };
            let target = match (i, &temp) {
                (0, _) | (_, None) => out,
                (_, Some(t)) => t,
            };
            let mut bufs = self.inputs.clone();
            bufs.push(Some(target));
            out.gpu().dispatch_with_textures(
                &self.key,
                &slice,
                &bufs,
                &self.textures,
                self.blocks,
                self.z,
            )?;
            if let (true, Some(t)) = (i > 0, &temp) {
                let f = act.filter(|_| i + 1 == ranges.len());
                crate::ops::elementwise::gpu::accumulate(out, t, f)?;
            }
        }
        Ok(())
    }
}

/// Invocations per workgroup (the `WG` override).
fn unsupported(kernel: Conv2dKernel, g: &Conv2dGeometry) -> Error {
    Error::invalid(
        "conv2d",
        "kernel",
        format!("{kernel:?}"),
        format!("that kernel cannot run {g}"),
    )
}

fn count(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: "conv2d dispatch".into(),
        bytes: v as u64,
        limit: u64::from(u32::MAX),
    })
}

pub(crate) fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
    act: Option<Activation>,
) -> Result<Tensor> {
    if !kernel.supports(g, ConvPass::Forward) {
        return Err(unsupported(kernel, g));
    }
    if let Conv2dKernel::Winograd(m) = kernel {
        let gemm = winograd::gemm_kernel(x.gpu().adapter_info());
        return winograd::run(x, w, b, &WinogradConv::forward(g, m), act, gemm);
    }
    let gpu = x.gpu();
    let mut u = Conv2dUniforms::new(g);
    u.has_bias = u32::from(b.is_some());
    if let Some(f) = act {
        let (code, alpha) = f.code();
        (u.act, u.alpha) = (code + 1, alpha);
    }
    let kernel = match kernel {
        Conv2dKernel::Texture => match texture::forward(x, w, b, g, u, act)? {
            Some(y) => return Ok(y),
            // Past the adapter's texture limits: the register tile, which has none.
            None => Conv2dKernel::Gemm(RegisterTile::for_adapter(gpu.adapter_info())),
        },
        k => k,
    };
    let y = Tensor::uninit(gpu, g.y_shape())?;
    let inputs = vec![Some(x), Some(w), b];
    match kernel {
        Conv2dKernel::Depthwise => {
            let rows = g.n * g.c_out * g.h_out;
            let invocations = rows * g.w_out.div_ceil(DEPTHWISE_OWT as usize);
            let blocks = count(invocations.div_ceil(WG as usize))?;
            let cut = Segments::depthwise(gpu, g.kw)?;
            let (key, u) = (
                depthwise_key(entry_point!(DEPTHWISE, "forward")),
                cut.apply(&u)?,
            );
            let pass = Sliced {
                key,
                u,
                inputs,
                textures: Vec::new(),
                blocks,
                z: 1,
            };
            pass.run(&y, act, g.kh * cut.segs, cut.per)?;
        }
        Conv2dKernel::Tiled => {
            let m = g.n * g.h_out * g.w_out;
            let blocks = count(m.div_ceil(TILE as usize))?;
            let z = count(g.groups * g.cog().div_ceil(TILE as usize))?;
            let per = units_per_slice(gpu, TILED_COST, || "a tile step".into())? * BK as usize;
            let key = tiled_forward_key();
            let pass = Sliced {
                key,
                u,
                inputs,
                textures: Vec::new(),
                blocks,
                z,
            };
            pass.run(&y, act, g.reduction_len(), per)?;
        }
        // Winograd and Texture returned or were replaced above.
        Conv2dKernel::Winograd(_) | Conv2dKernel::Texture => return Err(unsupported(kernel, g)),
        Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) => {
            let m = g.n * g.h_out * g.w_out;
            let blocks = count(m.div_ceil((WG * t.mr) as usize))?;
            let z = count(g.groups * g.cog().div_ceil(t.nr as usize))?;
            let pointwise = matches!(kernel, Conv2dKernel::Pointwise(_));
            // Pointwise slices channels (one step each), the GEMM segments of window rows.
            let (units, per, u) = if pointwise {
                let cost = Cost {
                    fixed: t.fixed_passes() + 1,
                    unit: t.step_passes() + 1,
                };
                (
                    g.cg(),
                    units_per_slice(gpu, cost, || "a channel".into())?,
                    u,
                )
            } else {
                let cut = Segments::gemm(gpu, t, 0, g.kw)?;
                (g.cg() * g.kh * cut.segs, cut.per, cut.apply(&u)?)
            };
            let key = gemm_forward_key(t, pointwise);
            let pass = Sliced {
                key,
                u,
                inputs,
                textures: Vec::new(),
                blocks,
                z,
            };
            pass.run(&y, act, units, per)?;
        }
    }
    Ok(y)
}

pub(crate) fn backward_data(
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    if !kernel.supports(g, ConvPass::BackwardData) {
        return Err(unsupported(kernel, g));
    }
    if let Conv2dKernel::Winograd(m) = kernel {
        let gemm = winograd::gemm_kernel(dy.gpu().adapter_info());
        return winograd::run(dy, w, None, &WinogradConv::backward_data(g, m), None, gemm);
    }
    let gpu = dy.gpu();
    let kernel = match kernel {
        Conv2dKernel::Texture => match texture::backward_data(dy, w, g)? {
            Some(dx) => return Ok(dx),
            // Past the adapter's texture limits: the register tile, which has none.
            None => Conv2dKernel::Gemm(RegisterTile::for_adapter(gpu.adapter_info())),
        },
        k => k,
    };
    let dx = Tensor::uninit(gpu, g.x_shape())?;
    let u = Conv2dUniforms::new(g);
    match kernel {
        Conv2dKernel::Depthwise => {
            let rows = g.n * g.c_in * g.h_in;
            let invocations = rows * g.w_in.div_ceil(DEPTHWISE_OWT as usize);
            let blocks = count(invocations.div_ceil(WG as usize))?;
            // Segments of the rows of (window row, channel multiplier) pairs.
            let cut = Segments::depthwise(gpu, g.kw)?;
            let units = g.kh * (g.c_out / g.c_in) * cut.segs;
            let pass = Sliced {
                key: depthwise_key(entry_point!(DEPTHWISE, "backward_data")),
                u: cut.apply(&u)?,
                inputs: vec![Some(dy), Some(w), None],
                textures: Vec::new(),
                blocks,
                z: 1,
            };
            pass.run(&dx, None, units, cut.per)?;
        }
        Conv2dKernel::Gemm(t) => {
            // Pixels are enumerated per stride phase (see the shader's header).
            let (sh, sw) = (g.stride.h, g.stride.w);
            let m = g.n * g.h_in.div_ceil(sh) * g.w_in.div_ceil(sw);
            let blocks = count(m.div_ceil((WG * t.mr) as usize))?;
            let z = count(sh * sw * g.groups * g.cg().div_ceil(t.nr as usize))?;
            // A unit also sets up its MR output rows.
            let cut = Segments::gemm(gpu, t, t.mr as usize + 1, g.kw)?;
            let units = g.cog() * g.kh * cut.segs;
            let pass = Sliced {
                key: gemm_backward_data_key(t),
                u: cut.apply(&u)?,
                inputs: vec![Some(dy), Some(w)],
                textures: Vec::new(),
                blocks,
                z,
            };
            pass.run(&dx, None, units, cut.per)?;
        }
        // Winograd and Texture returned or were replaced above.
        Conv2dKernel::Pointwise(_)
        | Conv2dKernel::Tiled
        | Conv2dKernel::Texture
        | Conv2dKernel::Winograd(_) => return Err(unsupported(kernel, g)),
    }
    Ok(dx)
}

impl ConvBackend for GpuBackend {
    fn conv2d(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        p: &Conv2dParams,
    ) -> Result<Tensor> {
        super::conv2d(x, w, b, p)
    }
    fn conv2d_activated(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        p: &Conv2dParams,
        f: Activation,
    ) -> Result<Tensor> {
        super::conv2d_activated(x, w, b, p, f)
    }
    fn conv2d_backward_data(
        &self,
        dy: &Tensor,
        w: &Tensor,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<Tensor> {
        super::conv2d_backward_data(dy, w, x, p)
    }
    fn conv2d_backward_filter(&self, x: &Tensor, dy: &Tensor, p: &Conv2dParams) -> Result<Tensor> {
        super::conv2d_backward_filter(x, dy, p)
    }
    fn conv2d_backward_bias(&self, dy: &Tensor) -> Result<Tensor> {
        super::conv2d_backward_bias(dy)
    }
}
