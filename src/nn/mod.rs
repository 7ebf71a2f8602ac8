//! Layers: Keras-style configuration values with shape inference, parameter specs and a
//! forward/backward written once against [`Backend`] (GPU kernels or the f64 reference).
//!
//! Life cycle, as in Keras: a constructor holds the config; `output_shape` and `params` work
//! from input shapes alone (so `summary()` needs no device); `forward` runs it and keeps what
//! `backward` needs.

mod conv;
mod custom;
pub mod init;
pub mod loss;
mod merge;
mod norm;
mod pool;
mod simple;
mod softmax;

pub use crate::ops::backend;
pub use backend::{Backend, BackendTensor, CpuBackend, GpuBackend, HostTensor};
pub use conv::{Conv2d, Dense};
pub use custom::{CustomLayer, LayerBackend};
pub use init::Init;
pub use merge::{Add, AddRelu, ChannelMultiply, Concat};
pub use norm::{BatchNorm1d, BatchNorm2d, Lrn};
pub use pool::{AvgPool2d, ChannelMaxPool, GlobalAvgPool2d, MaxPool2d};
pub use simple::{Augment, Dropout, Flatten, Reshape};
pub use softmax::Softmax;

pub use crate::ops::elementwise::Activation;

use crate::error::Result;
use crate::shape::Shape;

/// A parameter or buffer a layer owns.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// Suffix of the checkpoint name (`weight`, `bias`, `running_mean`, …), PyTorch's words.
    pub name: &'static str,
    /// Its full shape, no batch axis (a conv weight is `[filters, c / groups, kh, kw]`).
    pub shape: Shape,
    /// How its first values are drawn when the graph is built.
    pub init: Init,
    /// `false` for buffers the optimiser never touches (batch-norm running statistics).
    pub trainable: bool,
}

impl ParamSpec {
    /// A trainable parameter.
    pub fn weight(name: &'static str, shape: impl Into<Shape>, init: Init) -> ParamSpec {
        ParamSpec {
            name,
            shape: shape.into(),
            init,
            trainable: true,
        }
    }
    /// A buffer the optimiser never touches (running statistics).
    pub fn buffer(name: &'static str, shape: impl Into<Shape>, init: Init) -> ParamSpec {
        ParamSpec {
            trainable: false,
            ..ParamSpec::weight(name, shape, init)
        }
    }
}

/// How a forward pass runs.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// Training: batch statistics, dropout on, keep what backward needs.
    pub training: bool,
    /// The layer's weights are frozen (batch norm then uses its running statistics, as Keras).
    pub frozen: bool,
    /// Dropout's mask key: the model seed mixed with the node index, and the step.
    pub seed: u32,
    /// The model's training step, from 0: with `seed` it keys dropout's mask and
    /// augmentation's draw, so each step gets new ones and a backward sees its forward's.
    pub step: u32,
}

impl Pass {
    /// What a layer's forward keeps for its backward: `saved` when training, nothing else.
    pub fn keep<T>(self, saved: Vec<T>) -> Vec<T> {
        if self.training {
            saved
        } else {
            Vec::new()
        }
    }
}

/// What a layer's forward gets.
#[non_exhaustive]
pub struct Forward<'a, B: Backend> {
    /// The backend whose ops the layer calls.
    pub b: &'a B,
    /// Its inputs (batch axis first).
    pub x: &'a [&'a B::T],
    /// Its parameters and buffers, in [`LayerImpl::params`] order.
    pub p: &'a [B::T],
    /// How the pass runs.
    pub pass: Pass,
}

/// What a layer's backward gets.
#[non_exhaustive]
pub struct Backward<'a, B: Backend> {
    /// The backend whose ops the layer calls.
    pub b: &'a B,
    /// d loss / d output.
    pub dy: &'a B::T,
    /// The input shapes (batch axis first).
    pub x: &'a [Shape],
    /// What the training forward returned to keep.
    pub saved: &'a [B::T],
    /// Its parameters and buffers, in [`LayerImpl::params`] order.
    pub p: &'a [B::T],
    /// The forward's pass.
    pub pass: Pass,
    /// What to produce.
    pub need: &'a Need,
}

/// What a backward pass must produce.
#[derive(Clone, Debug)]
pub struct Need {
    /// Per input: its gradient is used upstream.
    pub inputs: Vec<bool>,
    /// The trainable parameters' gradients.
    pub params: bool,
}

/// Gradients from one layer: per input (`None` where not needed) and per trainable parameter
/// in spec order (empty when not needed).
pub type Grads<T> = (Vec<Option<T>>, Vec<T>);

/// The one list of layers: it generates the [`Layer`] enum, its dispatch to each layer's
/// [`LayerImpl`] and the `From` conversions. A new layer is a file with its type and
/// `LayerImpl`, its `mod` / `pub use` lines above, and one entry here.
macro_rules! layers {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// One layer of a model.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Layer {
            $($(#[$doc])* $name($name),)*
            /// A layer defined outside the crate ([`Layer::custom`]).
            Custom(CustomLayer),
        }

        $(impl From<$name> for Layer {
            fn from(l: $name) -> Layer {
                Layer::$name(l)
            }
        })*

        impl Layer {
            /// Keras's name stem for the layer type (`conv2d`, `dense`, …): automatic node
            /// names (`conv2d_3`) and summaries use it.
            pub fn kind(&self) -> &'static str {
                match self { $(Layer::$name(l) => l.kind(),)* Layer::Custom(l) => l.kind() }
            }
            pub(crate) fn arity(&self) -> std::ops::RangeInclusive<usize> {
                match self { $(Layer::$name(l) => l.arity(),)* Layer::Custom(l) => l.arity() }
            }
            /// The output shape for inputs of shapes `x` (batch axis included). Fails when the
            /// layer's configuration or those shapes are invalid ([`crate::Error::InvalidParam`],
            /// [`crate::Error::ShapeMismatch`]), or past the kernels' 32-bit indexing
            /// ([`crate::Error::TooLarge`]).
            pub fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
                match self { $(Layer::$name(l) => l.output_shape(x),)* Layer::Custom(l) => l.output_shape(x) }
            }
            /// The parameters and buffers the layer owns for inputs of shapes `x`, in the order
            /// `forward` and `backward` take them (empty for a layer without any). Meaningful
            /// only for shapes that [`Layer::output_shape`] accepts.
            pub fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
                match self { $(Layer::$name(l) => l.params(x),)* Layer::Custom(l) => l.params(x) }
            }
            /// Runs the layer on backend `b` with inputs `x` and parameters `p` (in
            /// [`Layer::params`] order): the output and what `backward` needs from this pass
            /// (empty unless `pass.training`).
            pub fn forward<B: LayerBackend>(
                &self,
                b: &B,
                x: &[&B::T],
                p: &[B::T],
                pass: Pass,
            ) -> Result<(B::T, Vec<B::T>)> {
                let c = Forward { b, x, p, pass };
                match self {
                    $(Layer::$name(l) => l.forward(c),)*
                    Layer::Custom(l) => b.forward_custom(l, c),
                }
            }
            /// Gradients from `dy` (d loss / d output), the input shapes `x`, what the training
            /// `forward` saved and the parameters `p`, for the same `pass`: those `need` asks
            /// for (see [`Grads`]).
            #[allow(clippy::too_many_arguments)]
            pub fn backward<B: LayerBackend>(
                &self,
                b: &B,
                dy: &B::T,
                x: &[Shape],
                saved: &[B::T],
                p: &[B::T],
                pass: Pass,
                need: &Need,
            ) -> Result<Grads<B::T>> {
                let c = Backward { b, dy, x, saved, p, pass, need };
                match self {
                    $(Layer::$name(l) => l.backward(c),)*
                    Layer::Custom(l) => b.backward_custom(l, c),
                }
            }
        }
    };
}

layers! {
    /// 2-D convolution of `[n, c, h, w]` with an optional bias and activation (Keras's
    /// `Conv2D`).
    Conv2d,
    /// Fully connected `[n, features]` → `[n, units]`, optional bias and activation (Keras's
    /// `Dense`).
    Dense,
    /// Max pooling over windows of each channel (Keras's `MaxPooling2D`).
    MaxPool2d,
    /// Average pooling over windows of each channel (Keras's `AveragePooling2D`).
    AvgPool2d,
    /// Mean of each channel's plane, `[n, c, h, w]` → `[n, c]` (Keras's
    /// `GlobalAveragePooling2D`).
    GlobalAvgPool2d,
    /// Maximum over groups of `k` neighbouring channels (maxout).
    ChannelMaxPool,
    /// Batch normalisation per channel with running statistics (PyTorch's `BatchNorm2d`).
    BatchNorm2d,
    /// Batch normalisation per feature of `[n, c]` or `[n, c, l]` (PyTorch's `BatchNorm1d`,
    /// Keras's `BatchNormalization` after a dense layer).
    BatchNorm1d,
    /// Local response normalisation across channels (AlexNet).
    Lrn,
    /// Inverted dropout in training, the identity in inference.
    Dropout,
    /// `[n, …]` → `[n, product of the rest]`, a view without a copy.
    Flatten,
    /// `[n, …]` → `[n, dims…]` with one −1 inferred, a view without a copy (Keras's
    /// `Reshape`).
    Reshape,
    /// An elementwise activation on its own (Keras's `Activation`).
    Activation,
    /// Softmax over the last axis (Keras's `Softmax`); as an output, the loss reads the
    /// logits before it.
    Softmax,
    /// Elementwise sum of two or more inputs of one shape (Keras's `Add`).
    Add,
    /// `max(a + b, 0)` of two inputs in one pass: a residual unit's sum and ReLU.
    AddRelu,
    /// Concatenation along channels of NCHW inputs (Keras's `Concatenate`, channel axis).
    Concat,
    /// A map `[n, c, …]` times a per-channel gate `[n, c]` (squeeze-and-excitation).
    ChannelMultiply,
    /// Random image augmentation in training, the identity in inference; it has no gradient.
    Augment,
}

/// What every layer provides; [`Layer`] forwards to it. Implement it to write a layer of
/// your own from the backend's eager ops (`use wgcnn::nn::backend::*` brings them in scope)
/// and add it with [`Layer::custom`]: it runs on the GPU, in compiled plans, and in the f64
/// reference, where [`crate::train::ReferenceTrainer::loss_and_grads`] checks its backward
/// against finite differences.
pub trait LayerImpl {
    /// Keras's default name stem (`conv2d`, `dense`, …): automatic node names use it.
    fn kind(&self) -> &'static str;
    /// How many inputs it takes (one by default).
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }
    /// The output shape for inputs of shapes `x` (batch axis first), or an `Err` for shapes
    /// or a configuration the layer cannot take.
    fn output_shape(&self, x: &[Shape]) -> Result<Shape>;
    /// The parameters and buffers it owns for inputs of shapes `x` (none by default).
    fn params(&self, _x: &[Shape]) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// (output, what backward needs: keep it only when `c.pass.training`, see
    /// [`Pass::keep`]).
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)>;
    /// The gradients `c.need` asks for: per input (`None` where not needed) and per
    /// trainable parameter in spec order (empty unless `c.need.params`).
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>>;
}

impl Layer {
    /// A layer of your own ([`LayerImpl`]).
    pub fn custom<L: LayerImpl + std::fmt::Debug + Send + Sync + 'static>(layer: L) -> Layer {
        Layer::Custom(CustomLayer::new(layer))
    }
}

impl LayerImpl for Activation {
    fn kind(&self) -> &'static str {
        "activation"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        Ok(x[0].clone())
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let y = b.activation(x[0], *self)?;
        Ok((y, pass.keep(vec![x[0].clone()])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, saved, .. } = c;
        Ok((
            vec![Some(b.activation_backward(dy, &saved[0], *self)?)],
            vec![],
        ))
    }
}

/// `Err` naming a layer's expected input.
pub(crate) fn wrong_input(op: &'static str, expected: &str, got: &Shape) -> crate::Error {
    crate::Error::ShapeMismatch {
        op,
        what: "input",
        expected: expected.into(),
        got: got.to_string(),
    }
}
