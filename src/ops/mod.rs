//! Operations. Each family is a folder: `mod.rs` (parameters, resolved geometry, eager API),
//! `cpu.rs` (plain f64 reference), `gpu.rs` (uniforms, kernel choice, dispatch).

pub mod augment;
pub mod backend;
pub mod conv2d;
pub mod elementwise;
mod host;
pub mod lrn;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod reduce;

use crate::error::{Error, Result};
use crate::gpu::{PipelineKey, Shader};
use crate::tensor::Tensor;

/// Every shader the crate dispatches, as the ops declare them (the naga test walks this list).
#[doc(hidden)]
pub static SHADERS: &[Shader] = &[
    &conv2d::shaders::FORWARD,
    &conv2d::shaders::BACKWARD_DATA,
    &conv2d::shaders::BACKWARD_FILTER,
    &conv2d::shaders::DEPTHWISE,
    &conv2d::shaders::REDUCE,
    &conv2d::shaders::WINOGRAD,
    &conv2d::shaders::TEXTURE,
    &conv2d::shaders::TEXTURE_PACK,
    &pool::gpu::SHADER,
    &elementwise::gpu::SHADER,
    &elementwise::dropout::DROPOUT,
    &matmul::gpu::SHADER,
    &matmul::texture::PACK,
    &matmul::texture::GEMM,
    &reduce::gpu::SHADER,
    &reduce::gpu::SUBGROUP_SHADER,
    &optim::gpu::SHADER,
    &norm::gpu::SHADER,
    &lrn::gpu::SHADER,
    &augment::gpu::SHADER,
];

/// Every pipeline (shader, entry point, override set) the crate can dispatch, from the
/// functions the dispatch code builds its keys with.
#[doc(hidden)]
pub fn all_pipelines() -> Vec<PipelineKey> {
    let mut keys = conv2d::shaders::pipelines();
    keys.extend(pool::gpu::pipelines());
    keys.extend(elementwise::gpu::pipelines());
    keys.extend(elementwise::dropout::pipelines());
    keys.extend(matmul::gpu::pipelines());
    keys.extend(reduce::gpu::pipelines());
    keys.extend(optim::gpu::pipelines());
    keys.extend(norm::gpu::pipelines());
    keys.extend(lrn::gpu::pipelines());
    keys.extend(augment::gpu::pipelines());
    keys
}

/// Checks that every tensor lives on the first one's device.
pub(crate) fn same_device(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    match ts.split_first() {
        Some((first, rest)) if rest.iter().any(|t| !t.gpu().same(first.gpu())) => {
            Err(Error::DeviceMismatch { op })
        }
        _ => Ok(()),
    }
}

/// Reference values and, per element, the sum of the absolute values of its terms.
#[derive(Clone, Debug, Default)]
pub struct Reference {
    /// The exact (f64) result, element by element.
    pub values: Vec<f64>,
    /// Per element, `Σ |term|` over the terms summed into it: the scale a tolerance for the
    /// f32 kernels' rounding error is measured against.
    pub abs_terms: Vec<f64>,
}

impl Reference {
    pub(crate) fn zeros(len: usize) -> Reference {
        Reference {
            values: vec![0.0; len],
            abs_terms: vec![0.0; len],
        }
    }
    pub(crate) fn add(&mut self, i: usize, term: f64) {
        self.values[i] += term;
        self.abs_terms[i] += term.abs();
    }
}
