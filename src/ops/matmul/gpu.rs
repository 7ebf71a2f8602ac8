//! GPU side of matmul (`shaders/matmul.wgsl`).

use super::MatmulGeometry;
use crate::error::Result;
use crate::gpu::{uniform_block, Overrides, PipelineKey, Shader};
use crate::ops::conv2d::RegisterTile;
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in matmul.wgsl.
pub struct MatmulUniforms {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub has_bias: u32,
    pub a_m: u32,
    pub a_k: u32,
    pub b_k: u32,
    pub b_n: u32,
}
}

const WG: u32 = 64;

fn key(t: RegisterTile) -> PipelineKey {
    PipelineKey {
        shader: Shader::Matmul,
        entry: "matmul",
        overrides: Overrides::new(&[("WG", WG), ("MR", t.mr), ("NR", t.nr)]),
    }
}

pub fn pipelines() -> Vec<PipelineKey> {
    RegisterTile::ALL.iter().map(|&t| key(t)).collect()
}

pub(crate) fn matmul(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
) -> Result<Tensor> {
    matmul_with(
        a,
        b,
        bias,
        g,
        RegisterTile::for_adapter(a.gpu().adapter_info()),
    )
}

/// With a chosen register tile (tests force each).
pub fn matmul_with(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
    t: RegisterTile,
) -> Result<Tensor> {
    let gpu = a.gpu();
    let c = Tensor::zeros(gpu, Shape::new([g.m, g.n]))?;
    let spare;
    let bias_buf = match bias {
        Some(b) => b,
        None => {
            spare = Tensor::zeros(gpu, Shape::new([1]))?;
            &spare
        }
    };
    // `MatmulGeometry::new` bounds every size by u32.
    let u = MatmulUniforms {
        m: g.m as u32,
        n: g.n as u32,
        k: g.k as u32,
        has_bias: u32::from(bias.is_some()),
        a_m: g.a_m as u32,
        a_k: g.a_k as u32,
        b_k: g.b_k as u32,
        b_n: g.b_n as u32,
    };
    let blocks = (g.m as u32).div_ceil(WG * t.mr);
    let z = (g.n as u32).div_ceil(t.nr);
    let bufs = [a.buffer(), b.buffer(), bias_buf.buffer(), c.buffer()];
    gpu.dispatch(&key(t), &u, &bufs, blocks, z)?;
    Ok(c)
}
