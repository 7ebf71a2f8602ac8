//! Layers written outside the crate: any type that implements [`LayerImpl`] from the eager
//! ops of [`Backend`] becomes a [`Layer`](super::Layer) with [`Layer::custom`](super::Layer::custom),
//! and runs in `Sequential`, graphs, compiled GPU plans and the f64 reference like a built-in
//! one.
//!
//! `LayerImpl`'s methods are generic over the backend, so a layer cannot be a trait object
//! as it is; [`CustomLayer`] keeps it behind one per concrete backend, and [`LayerBackend`]
//! (implemented by [`GpuBackend`] and [`CpuBackend`]) picks the matching one.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::{Backend, Backward, CpuBackend, Forward, GpuBackend, Grads, LayerImpl, ParamSpec};
use crate::error::Result;
use crate::ops::backend::Tensors;
use crate::shape::Shape;

type Gpu = <GpuBackend as Tensors>::T;
type Cpu = <CpuBackend as Tensors>::T;

/// A user-defined layer, shared (cloning a graph shares it). Two are equal when they are the
/// same instance.
#[derive(Clone)]
pub struct CustomLayer(Arc<dyn Erased>);

impl CustomLayer {
    /// Wraps `layer`.
    pub fn new<L: LayerImpl + fmt::Debug + Send + Sync + 'static>(layer: L) -> CustomLayer {
        CustomLayer(Arc::new(layer))
    }
    pub(crate) fn kind(&self) -> &'static str {
        self.0.kind()
    }
    pub(crate) fn arity(&self) -> RangeInclusive<usize> {
        self.0.arity()
    }
    pub(crate) fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        self.0.output_shape(x)
    }
    pub(crate) fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        self.0.params(x)
    }
}

impl fmt::Debug for CustomLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for CustomLayer {
    fn eq(&self, other: &CustomLayer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// [`LayerImpl`] with its generic methods instantiated for each backend.
trait Erased: fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    fn arity(&self) -> RangeInclusive<usize>;
    fn output_shape(&self, x: &[Shape]) -> Result<Shape>;
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec>;
    fn forward_gpu(&self, c: Forward<'_, GpuBackend>) -> Result<(Gpu, Vec<Gpu>)>;
    fn forward_cpu(&self, c: Forward<'_, CpuBackend>) -> Result<(Cpu, Vec<Cpu>)>;
    fn backward_gpu(&self, c: Backward<'_, GpuBackend>) -> Result<Grads<Gpu>>;
    fn backward_cpu(&self, c: Backward<'_, CpuBackend>) -> Result<Grads<Cpu>>;
}

impl<L: LayerImpl + fmt::Debug + Send + Sync> Erased for L {
    fn kind(&self) -> &'static str {
        LayerImpl::kind(self)
    }
    fn arity(&self) -> RangeInclusive<usize> {
        LayerImpl::arity(self)
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        LayerImpl::output_shape(self, x)
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        LayerImpl::params(self, x)
    }
    fn forward_gpu(&self, c: Forward<'_, GpuBackend>) -> Result<(Gpu, Vec<Gpu>)> {
        self.forward(c)
    }
    fn forward_cpu(&self, c: Forward<'_, CpuBackend>) -> Result<(Cpu, Vec<Cpu>)> {
        self.forward(c)
    }
    fn backward_gpu(&self, c: Backward<'_, GpuBackend>) -> Result<Grads<Gpu>> {
        self.backward(c)
    }
    fn backward_cpu(&self, c: Backward<'_, CpuBackend>) -> Result<Grads<Cpu>> {
        self.backward(c)
    }
}

/// A backend that layers run on: every op family, and the dispatch of a [`CustomLayer`] to
/// its instance for this backend. [`GpuBackend`] and [`CpuBackend`] are the two.
pub trait LayerBackend: Backend + Sized {
    /// Runs `l`'s forward on this backend.
    fn forward_custom(
        &self,
        l: &CustomLayer,
        c: Forward<'_, Self>,
    ) -> Result<(Self::T, Vec<Self::T>)>;
    /// Runs `l`'s backward on this backend.
    fn backward_custom(&self, l: &CustomLayer, c: Backward<'_, Self>) -> Result<Grads<Self::T>>;
}

impl LayerBackend for GpuBackend {
    fn forward_custom(&self, l: &CustomLayer, c: Forward<'_, Self>) -> Result<(Gpu, Vec<Gpu>)> {
        l.0.forward_gpu(c)
    }
    fn backward_custom(&self, l: &CustomLayer, c: Backward<'_, Self>) -> Result<Grads<Gpu>> {
        l.0.backward_gpu(c)
    }
}

impl LayerBackend for CpuBackend {
    fn forward_custom(&self, l: &CustomLayer, c: Forward<'_, Self>) -> Result<(Cpu, Vec<Cpu>)> {
        l.0.forward_cpu(c)
    }
    fn backward_custom(&self, l: &CustomLayer, c: Backward<'_, Self>) -> Result<Grads<Cpu>> {
        l.0.backward_cpu(c)
    }
}
