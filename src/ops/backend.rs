//! The ops a layer is written against, once, for two backends: the GPU kernels
//! ([`GpuBackend`]) and the f64 reference ([`CpuBackend`]). Training on either runs the same
//! layer and autodiff code, which is what lets the CPU prove the GPU.
//!
//! Each op family declares its trait beside its kernels (`ops/<op>/backend.rs`), with default
//! bodies for the compositions a backend may fuse (conv + activation, add + ReLU, dropout's
//! backward); `ops/<op>/gpu.rs` implements it for [`GpuBackend`] and `ops/<op>/cpu.rs` for
//! [`CpuBackend`]. [`Backend`] is every family at once. Calling an op on a concrete backend
//! needs its family's trait in scope: `use wgcnn::nn::backend::*`.

pub use super::augment::backend::AugmentBackend;
pub use super::conv2d::backend::ConvBackend;
pub use super::elementwise::backend::ElementwiseBackend;
pub use super::host::HostTensor;
pub use super::lrn::backend::LrnBackend;
pub use super::matmul::backend::MatmulBackend;
pub use super::norm::backend::NormBackend;
pub use super::pool::backend::PoolBackend;
pub use super::reduce::backend::LossBackend;

use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A backend's tensor: cheap to clone (shared storage), with a shape.
pub trait BackendTensor: Clone {
    /// The tensor's shape, outermost first.
    fn shape(&self) -> &Shape;
}

impl BackendTensor for Tensor {
    fn shape(&self) -> &Shape {
        Tensor::shape(self)
    }
}

/// What every family builds on: the backend's tensor type, and reshaping it.
pub trait Tensors {
    /// The backend's tensor: [`Tensor`] on the GPU, a [`HostTensor`] of f64 in the reference.
    type T: BackendTensor;
    /// The same elements under shape `s`; an error unless `s` has `x`'s element count.
    fn reshape(&self, x: &Self::T, s: Shape) -> Result<Self::T>;
}

/// Every op family: what a layer's forward and backward may call, in the layouts of `ops`
/// (NCHW, OIHW, dense `[out, in]`). Implemented for any type that implements the families.
pub trait Backend:
    ConvBackend
    + MatmulBackend
    + PoolBackend
    + NormBackend
    + ElementwiseBackend
    + LrnBackend
    + AugmentBackend
    + LossBackend
{
}

impl<B> Backend for B where
    B: ConvBackend
        + MatmulBackend
        + PoolBackend
        + NormBackend
        + ElementwiseBackend
        + LrnBackend
        + AugmentBackend
        + LossBackend
{
}

/// The GPU kernels: ops recorded into the device's pending encoder, or into the plan being
/// captured on this thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuBackend;

impl Tensors for GpuBackend {
    type T = Tensor;
    fn reshape(&self, x: &Tensor, s: Shape) -> Result<Tensor> {
        x.reshape(s)
    }
}

/// The f64 reference (stateless): every op through the plain loops of `ops::<op>::cpu`. Slow
/// and exact; it proves graph training on the GPU and gives the finite differences their
/// function.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Tensors for CpuBackend {
    type T = HostTensor;
    fn reshape(&self, x: &HostTensor, s: Shape) -> Result<HostTensor> {
        if s.numel() != x.shape.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                what: "element count",
                expected: x.shape.numel().to_string(),
                got: s.to_string(),
            });
        }
        Ok(HostTensor {
            shape: s,
            data: x.data.clone(),
        })
    }
}
