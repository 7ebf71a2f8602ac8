//! Dispatch of the Winograd passes: the transforms of `conv2d_winograd.wgsl` around the
//! batched GEMMs of `matmul.wgsl`.

use super::super::shaders::{winograd_key as key, WINOGRAD};
use super::super::RegisterTile;
use super::{WinogradConv, WG};
use crate::error::{Error, Result};
use crate::gpu::shaders::entry_point;
use crate::ops::elementwise::Activation;
use crate::ops::matmul::gpu::{matmul_batched, Batch, MatmulKernel};
use crate::ops::matmul::MatmulGeometry;
use crate::shape::Shape;
use crate::tensor::Tensor;

fn blocks(invocations: usize) -> Result<u32> {
    u32::try_from(invocations.div_ceil(WG as usize)).map_err(|_| Error::TooLarge {
        what: "conv2d Winograd dispatch".into(),
        bytes: invocations as u64,
        limit: u64::from(u32::MAX),
    })
}

/// Records the convolution `c` of `src` (x, or dY for the input gradient) with `w`: filter
/// and input transforms, T² GEMMs run by `gemm`, output transform with bias and
/// activation. The temporaries are dropped as soon as the next stage has read them.
pub(crate) fn run(
    src: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    c: &WinogradConv,
    act: Option<Activation>,
    gemm: MatmulKernel,
) -> Result<Tensor> {
    let gpu = src.gpu();
    let m = c.m as u32;
    let u = c.uniforms(bias.is_some(), act);
    let t2 = c.t() * c.t();
    let (i, o, p) = (c.c_in, c.c_out, c.p());
    let filters = Tensor::uninit(gpu, Shape::new([t2, o, i]))?;
    let bufs = [Some(w), None, Some(&filters)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "filter_transform"), m),
        &u,
        &bufs,
        blocks(o * i)?,
        1,
    )?;
    let inputs = Tensor::uninit(gpu, Shape::new([t2, i, p]))?;
    let bufs = [Some(src), None, Some(&inputs)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "input_transform"), m),
        &u,
        &bufs,
        blocks(i * p)?,
        1,
    )?;
    // Products[a][o][tile] = Σ_i U[a][o][i] · V[a][i][tile], tiles along the GEMM's rows.
    let products = Tensor::uninit(gpu, Shape::new([t2, o, p]))?;
    let g = MatmulGeometry {
        m: p,
        n: o,
        k: i,
        a_m: 1,
        a_k: p,
        b_k: 1,
        b_n: i,
    };
    let batch = Batch {
        count: t2,
        a: i * p,
        b: o * i,
        c: o * p,
        c_m: 1,
        c_n: p,
    };
    matmul_batched(&inputs, &filters, &products, &g, gemm, batch)?;
    drop((inputs, filters));
    let y = Tensor::uninit(gpu, Shape::new([c.n, o, c.h_out, c.w_out]))?;
    let bufs = [Some(&products), bias, Some(&y)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "output_transform"), m),
        &u,
        &bufs,
        blocks(o * p)?,
        1,
    )?;
    Ok(y)
}

/// The filter gradient's GEMM tiles: its rows are the input channels, often fewer than one
/// workgroup's 64 invocations × a tall tile would cover.
pub const FILTER_TILES: [RegisterTile; 3] = [
    RegisterTile { mr: 1, nr: 16 },
    RegisterTile { mr: 4, nr: 16 },
    RegisterTile { mr: 8, nr: 16 },
];

/// The GEMM kernel of the forward and dX transforms on this adapter. Not the texture-fed
/// kernel of software adapters: its packing pass copies the transformed tiles once more, and
/// with K = the channels (16-64 in resnet20) that copy costs more than the texels save
/// (in a profiled resnet20 step on Mesa 25.0.7, 374 ms of texture GEMM and 252 ms of packing
/// against ~449 ms with the register tile; on 22.3.6 the step was unchanged).
pub fn gemm_kernel(info: &wgpu::AdapterInfo) -> MatmulKernel {
    match MatmulKernel::for_adapter(info) {
        MatmulKernel::Texture(t) => MatmulKernel::Register(t),
        k => k,
    }
}

/// The filter gradient's GEMM kernel for `c_in` rows on this adapter (register tiles, not
/// textures, as [`gemm_kernel`]).
pub fn filter_gemm_kernel(info: &wgpu::AdapterInfo, c_in: usize) -> MatmulKernel {
    match MatmulKernel::for_adapter(info) {
        MatmulKernel::Register(_) | MatmulKernel::Texture(_) => {
            MatmulKernel::Register(match c_in {
                0..=64 => FILTER_TILES[0],
                65..=256 => FILTER_TILES[1],
                _ => FILTER_TILES[2],
            })
        }
        tiled => tiled,
    }
}

/// Records the filter gradient `c` (made by [`WinogradConv::backward_filter`]) of the
/// convolution of `x` whose output gradient is `dy`: input and output-gradient transforms
/// into chunks of tiles, T²·splits GEMMs run by `gemm`, the chunks added and
/// transformed back into `[c_out, c_in, 3, 3]`.
pub(crate) fn run_filter(
    x: &Tensor,
    dy: &Tensor,
    c: &WinogradConv,
    gemm: MatmulKernel,
) -> Result<Tensor> {
    let gpu = x.gpu();
    let m = c.m as u32;
    let u = c.uniforms(false, None);
    let (t2, s, chunk) = (c.t() * c.t(), c.splits, c.chunk());
    let (i, o) = (c.c_in, c.c_out);
    let inputs = Tensor::uninit(gpu, Shape::new([t2 * s, i, chunk]))?;
    let bufs = [Some(x), None, Some(&inputs)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "input_transform"), m),
        &u,
        &bufs,
        blocks(i * s * chunk)?,
        1,
    )?;
    let grads = Tensor::uninit(gpu, Shape::new([t2 * s, o, chunk]))?;
    let bufs = [Some(dy), None, Some(&grads)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "dy_transform"), m),
        &u,
        &bufs,
        blocks(o * s * chunk)?,
        1,
    )?;
    // F[a, s][i][o] = Σ_pc V[a, s][i][pc] · D[a, s][o][pc].
    let products = Tensor::uninit(gpu, Shape::new([t2 * s, i, o]))?;
    let g = MatmulGeometry {
        m: i,
        n: o,
        k: chunk,
        a_m: chunk,
        a_k: 1,
        b_k: 1,
        b_n: chunk,
    };
    let batch = Batch {
        count: t2 * s,
        a: i * chunk,
        b: o * chunk,
        c: i * o,
        c_m: o,
        c_n: 1,
    };
    matmul_batched(&inputs, &grads, &products, &g, gemm, batch)?;
    drop((inputs, grads));
    let dw = Tensor::uninit(gpu, Shape::new([o, i, 3, 3]))?;
    let bufs = [Some(&products), None, Some(&dw)];
    gpu.dispatch_tensors(
        &key(entry_point!(WINOGRAD, "filter_output"), m),
        &u,
        &bufs,
        blocks(o * i)?,
        1,
    )?;
    Ok(dw)
}
