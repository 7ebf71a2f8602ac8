//! Xception (Chollet 2017) as timm's `legacy_xception`, the port of Keras's model, with its
//! layer names: an entry flow (two plain convs, three blocks that halve the size), a middle
//! flow of eight residual blocks at 728 channels, an exit flow, global average pooling and
//! `fc`. Its separable convolutions are Keras's `SeparableConv2D`: a depthwise conv then a
//! 1×1 pointwise conv ([`SeparableConv2d`]).

use super::pad;
use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, ValueId};
use crate::nn::{Activation, Add, BatchNorm2d, Conv2d, Dense, GlobalAvgPool2d, Init, MaxPool2d};

/// Keras's `SeparableConv2D` as two layers: `<name>.conv1`, a depthwise conv
/// (`depth_multiplier` filters per input channel, the stride and padding), then
/// `<name>.pointwise`, a 1×1 conv to `filters` channels carrying the bias (timm's and
/// torchvision-style names; Keras calls them `depthwise_kernel` / `pointwise_kernel`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SeparableConv2d {
    /// Output channels.
    pub filters: usize,
    /// Square kernel side of the depthwise conv.
    pub kernel_size: usize,
    /// Stride of the depthwise conv.
    pub strides: usize,
    /// Zero padding on every side of the depthwise conv.
    pub padding: usize,
    /// Depthwise filters per input channel.
    pub depth_multiplier: usize,
    /// A bias on the pointwise conv (Keras's default; timm's Xception has none).
    pub use_bias: bool,
}

impl SeparableConv2d {
    /// `filters` outputs, a `kernel_size` depthwise kernel, stride 1, "same" padding for odd
    /// kernels, depth multiplier 1, with bias.
    pub fn new(filters: usize, kernel_size: usize) -> SeparableConv2d {
        SeparableConv2d {
            filters,
            kernel_size,
            strides: 1,
            padding: kernel_size / 2,
            depth_multiplier: 1,
            use_bias: true,
        }
    }

    /// Adds the two layers after `x` under `name`; returns the pointwise output.
    pub fn add(&self, b: &mut GraphBuilder, name: &str, x: ValueId) -> Result<ValueId> {
        let c_in = b
            .shape(x)
            .and_then(|s| s.dims().first().copied())
            .unwrap_or(0);
        let depthwise = Conv2d::new(c_in * self.depth_multiplier, self.kernel_size)
            .strides(self.strides)
            .padding(pad(self.padding))
            .groups(c_in.max(1))
            .use_bias(false)
            .kernel_initializer(Init::HeNormal);
        let y = b.add_named(&format!("{name}.conv1"), depthwise, &[x])?;
        let pointwise = Conv2d::new(self.filters, 1)
            .use_bias(self.use_bias)
            .kernel_initializer(Init::HeNormal);
        b.add_named(&format!("{name}.pointwise"), pointwise, &[y])
    }
}

fn separable(b: &mut GraphBuilder, x: ValueId, name: &str, filters: usize) -> Result<ValueId> {
    SeparableConv2d {
        use_bias: false,
        ..SeparableConv2d::new(filters, 3)
    }
    .add(b, name, x)
}

/// timm's `Block`: `reps` × (ReLU, separable conv, batch norm) under `<name>.rep.<i>`, the
/// first ReLU left out when `start_with_relu` is false, a 3×3 stride-2 max pool when
/// `stride` is 2, and the skip (a 1×1 conv + batch norm where the shape changes) added.
fn block(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    (c_in, c_out, reps, stride): (usize, usize, usize, usize),
    start_with_relu: bool,
    grow_first: bool,
) -> Result<ValueId> {
    let mut i = 0;
    let mut y = x;
    for r in 0..reps {
        if r > 0 || start_with_relu {
            y = b.add_named(&format!("{name}.rep.{i}"), Activation::Relu, &[y])?;
            i += 1;
        }
        let out = match (grow_first, r + 1 == reps) {
            (true, _) | (false, true) => c_out,
            (false, false) => c_in,
        };
        y = separable(b, y, &format!("{name}.rep.{i}"), out)?;
        y = b.add_named(&format!("{name}.rep.{}", i + 1), BatchNorm2d::new(), &[y])?;
        i += 2;
    }
    if stride != 1 {
        let pool = MaxPool2d::new(3).strides(stride).padding(pad(1));
        y = b.add_named(&format!("{name}.rep.{i}"), pool, &[y])?;
    }
    let skip = match c_in != c_out || stride != 1 {
        true => {
            let conv = Conv2d::new(c_out, 1)
                .strides(stride)
                .use_bias(false)
                .kernel_initializer(Init::HeNormal);
            let s = b.add_named(&format!("{name}.skip"), conv, &[x])?;
            b.add_named(&format!("{name}.skipbn"), BatchNorm2d::new(), &[s])?
        }
        false => x,
    };
    b.add_named(&format!("{name}.add"), Add, &[y, skip])
}

/// Xception on `[3, size, size]` inputs (299 for ImageNet; 22,855,952 parameters with 1,000
/// classes; at least 36 so the last block has a pixel) with `classes` outputs.
pub fn xception(size: usize, classes: usize, seed: u64) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, size, size]);
    let plain = |f: usize, s: usize| {
        Conv2d::new(f, 3)
            .strides(s)
            .use_bias(false)
            .kernel_initializer(Init::HeNormal)
    };
    let mut y = b.add_named("conv1", plain(32, 2), &[x])?;
    y = b.add_named("bn1", BatchNorm2d::new(), &[y])?;
    y = b.add_named("act1", Activation::Relu, &[y])?;
    y = b.add_named("conv2", plain(64, 1), &[y])?;
    y = b.add_named("bn2", BatchNorm2d::new(), &[y])?;
    y = b.add_named("act2", Activation::Relu, &[y])?;
    y = block(&mut b, y, "block1", (64, 128, 2, 2), false, true)?;
    y = block(&mut b, y, "block2", (128, 256, 2, 2), true, true)?;
    y = block(&mut b, y, "block3", (256, 728, 2, 2), true, true)?;
    for k in 4..=11 {
        y = block(
            &mut b,
            y,
            &format!("block{k}"),
            (728, 728, 3, 1),
            true,
            true,
        )?;
    }
    y = block(&mut b, y, "block12", (728, 1024, 2, 2), true, false)?;
    y = separable(&mut b, y, "conv3", 1536)?;
    y = b.add_named("bn3", BatchNorm2d::new(), &[y])?;
    y = b.add_named("act3", Activation::Relu, &[y])?;
    y = separable(&mut b, y, "conv4", 2048)?;
    y = b.add_named("bn4", BatchNorm2d::new(), &[y])?;
    y = b.add_named("act4", Activation::Relu, &[y])?;
    y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    y = b.add_named("fc", Dense::new(classes), &[y])?;
    b.build(&[y])
}
