//! The model zoo: the seeds' tutorial networks and the classic architectures, with
//! torchvision's layer names wherever torchvision has the model (so its safetensors exports
//! load), and CIFAR-sized variants.
//!
//! Every builder returns a [`Graph`](crate::graph::Graph) whose output is logits (the losses
//! apply softmax / sigmoid themselves).

mod classic;
mod googlenet;
pub mod hub;
mod mobilenet;
pub mod pretrained;
mod resnet;
mod xception;

pub use classic::{
    alexnet, fashion_mnist_cnn, googlenet_small, inception, lenet5, mnist_cnn, simple_cnn,
    two_head_cnn, vgg, InceptionCfg, VggDepth,
};
pub use googlenet::googlenet;
pub use mobilenet::mobilenet_v2;
pub use resnet::{resnet, resnet_cifar, seresnet50, squeeze_excite, ResNetDepth};
pub use xception::{xception, SeparableConv2d};

use crate::error::Result;
use crate::graph::{GraphBuilder, ValueId};
use crate::nn::{Activation, BatchNorm2d, Conv2d};
use crate::shape::{Padding, HW};

/// `[padding; 4]` on every side.
pub(crate) fn pad(p: usize) -> Padding {
    Padding::Explicit {
        top: p,
        bottom: p,
        left: p,
        right: p,
    }
}

/// conv (no bias) → batch norm, named `conv` and `bn`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_bn(
    b: &mut GraphBuilder,
    x: ValueId,
    conv: &str,
    bn: &str,
    filters: usize,
    k: usize,
    stride: usize,
    padding: usize,
) -> Result<ValueId> {
    let c = Conv2d::new(filters, HW::square(k))
        .strides(stride)
        .padding(pad(padding))
        .use_bias(false)
        .kernel_initializer(crate::nn::Init::HeNormal);
    let y = b.add_named(conv, c, &[x])?;
    b.add_named(bn, BatchNorm2d::new(), &[y])
}

pub(crate) fn relu(b: &mut GraphBuilder, x: ValueId, name: &str) -> Result<ValueId> {
    b.add_named(name, Activation::Relu, &[x])
}
