//! ResNets: torchvision's ResNet-18/34 (basic blocks) and ResNet-50/101/152 (bottleneck,
//! stride on the 3×3 as in torchvision's v1.5), and He et al.'s CIFAR ResNet-20/32/56 with 1×1
//! projection shortcuts.

use super::{conv_bn, pad, relu};
use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, ValueId};
use crate::nn::{
    Activation, AddRelu, ChannelMultiply, Conv2d, Dense, Flatten, GlobalAvgPool2d, Init, MaxPool2d,
    Reshape,
};

/// Which torchvision ResNet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResNetDepth {
    /// ResNet-18: basic blocks, 2-2-2-2 per stage.
    R18,
    /// ResNet-34: basic blocks, 3-4-6-3 per stage.
    R34,
    /// ResNet-50: bottleneck blocks, 3-4-6-3 per stage.
    R50,
    /// ResNet-101: bottleneck blocks, 3-4-23-3 per stage.
    R101,
    /// ResNet-152: bottleneck blocks, 3-8-36-3 per stage.
    R152,
}

/// A basic block `name` (two 3×3 convs) with a 1×1 projection when the shape changes.
fn basic(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    filters: usize,
    stride: usize,
) -> Result<ValueId> {
    let c_in = b
        .shape(x)
        .and_then(|s| s.dims().first().copied())
        .unwrap_or(0);
    let y = conv_bn(
        b,
        x,
        &format!("{name}.conv1"),
        &format!("{name}.bn1"),
        filters,
        3,
        stride,
        1,
    )?;
    let y = relu(b, y, &format!("{name}.relu1"))?;
    let y = conv_bn(
        b,
        y,
        &format!("{name}.conv2"),
        &format!("{name}.bn2"),
        filters,
        3,
        1,
        1,
    )?;
    let skip = match stride != 1 || c_in != filters {
        true => conv_bn(
            b,
            x,
            &format!("{name}.downsample.0"),
            &format!("{name}.downsample.1"),
            filters,
            1,
            stride,
            0,
        )?,
        false => x,
    };
    // The sum and its ReLU in one pass (`AddRelu`).
    b.add_named(&format!("{name}.add_relu"), AddRelu, &[y, skip])
}

/// A squeeze-and-excitation gate on `x` under `<name>` (timm's `SEModule`, reduction 16
/// rounded to a multiple of 8): global average pool, 1×1 conv `fc1` + ReLU, 1×1 conv `fc2` +
/// sigmoid, and `x` scaled per channel by the result.
pub fn squeeze_excite(b: &mut GraphBuilder, x: ValueId, name: &str) -> Result<ValueId> {
    let c = b
        .shape(x)
        .and_then(|s| s.dims().first().copied())
        .unwrap_or(0);
    // timm's make_divisible(c / 16, 8) with round_limit 0: to the nearest multiple of 8.
    let rd = ((c + 64) / 128 * 8).max(8);
    let y = b.add_named(&format!("{name}.pool"), GlobalAvgPool2d, &[x])?;
    let y = b.add_named(&format!("{name}.view"), Reshape::new(&[-1, 1, 1]), &[y])?;
    let conv = |f: usize| Conv2d::new(f, 1).kernel_initializer(Init::HeNormal);
    let y = b.add_named(&format!("{name}.fc1"), conv(rd), &[y])?;
    let y = b.add_named(&format!("{name}.act"), Activation::Relu, &[y])?;
    let y = b.add_named(&format!("{name}.fc2"), conv(c), &[y])?;
    let y = b.add_named(&format!("{name}.gate"), Activation::Sigmoid, &[y])?;
    let y = b.add_named(&format!("{name}.flatten"), Flatten, &[y])?;
    b.add_named(&format!("{name}.scale"), ChannelMultiply, &[x, y])
}

/// A bottleneck block: 1×1 → 3×3 (stride) → 1×1 with 4× the width, and with `se` a
/// squeeze-and-excitation gate after the last batch norm (timm's SE-ResNet).
fn bottleneck(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    width: usize,
    stride: usize,
    se: bool,
) -> Result<ValueId> {
    let c_in = b
        .shape(x)
        .and_then(|s| s.dims().first().copied())
        .unwrap_or(0);
    let out = 4 * width;
    let y = conv_bn(
        b,
        x,
        &format!("{name}.conv1"),
        &format!("{name}.bn1"),
        width,
        1,
        1,
        0,
    )?;
    let y = relu(b, y, &format!("{name}.relu1"))?;
    let y = conv_bn(
        b,
        y,
        &format!("{name}.conv2"),
        &format!("{name}.bn2"),
        width,
        3,
        stride,
        1,
    )?;
    let y = relu(b, y, &format!("{name}.relu2"))?;
    let y = conv_bn(
        b,
        y,
        &format!("{name}.conv3"),
        &format!("{name}.bn3"),
        out,
        1,
        1,
        0,
    )?;
    let y = match se {
        true => squeeze_excite(b, y, &format!("{name}.se"))?,
        false => y,
    };
    let skip = match stride != 1 || c_in != out {
        true => conv_bn(
            b,
            x,
            &format!("{name}.downsample.0"),
            &format!("{name}.downsample.1"),
            out,
            1,
            stride,
            0,
        )?,
        false => x,
    };
    b.add_named(&format!("{name}.add_relu"), AddRelu, &[y, skip])
}

/// torchvision's ResNet on `[3, size, size]` inputs (224 for ImageNet) with `classes` outputs.
pub fn resnet(depth: ResNetDepth, size: usize, classes: usize, seed: u64) -> Result<Graph> {
    build(depth, size, classes, seed, false)
}

/// timm's SE-ResNet-50 (`seresnet50`: ResNet-50 with a squeeze-and-excitation gate in each
/// bottleneck, 28,088,024 parameters with 1,000 classes) with its names.
pub fn seresnet50(size: usize, classes: usize, seed: u64) -> Result<Graph> {
    build(ResNetDepth::R50, size, classes, seed, true)
}

fn build(depth: ResNetDepth, size: usize, classes: usize, seed: u64, se: bool) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, size, size]);
    let y = conv_bn(&mut b, x, "conv1", "bn1", 64, 7, 2, 3)?;
    let y = relu(&mut b, y, "relu")?;
    let mut y = b.add_named(
        "maxpool",
        MaxPool2d::new(3).strides(2).padding(pad(1)),
        &[y],
    )?;
    let blocks = match depth {
        ResNetDepth::R18 => [2, 2, 2, 2],
        ResNetDepth::R34 | ResNetDepth::R50 => [3, 4, 6, 3],
        ResNetDepth::R101 => [3, 4, 23, 3],
        ResNetDepth::R152 => [3, 8, 36, 3],
    };
    for (stage, &n) in blocks.iter().enumerate() {
        let width = 64 << stage;
        for i in 0..n {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let name = format!("layer{}.{i}", stage + 1);
            y = match depth {
                ResNetDepth::R18 | ResNetDepth::R34 => basic(&mut b, y, &name, width, stride)?,
                _ => bottleneck(&mut b, y, &name, width, stride, se)?,
            };
        }
    }
    let y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    let y = b.add_named("fc", Dense::new(classes), &[y])?;
    b.build(&[y])
}

/// He et al.'s CIFAR ResNet with `6n + 2` layers (n = 3: ResNet-20, ~0.27 M parameters) on
/// `[3, 32, 32]`: 16/32/64 channels, 1×1 projections where a stage starts.
pub fn resnet_cifar(n: usize, classes: usize, seed: u64) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, 32, 32]);
    let y = conv_bn(&mut b, x, "conv1", "bn1", 16, 3, 1, 1)?;
    let mut y = relu(&mut b, y, "relu")?;
    for stage in 0..3 {
        for i in 0..n {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            y = basic(
                &mut b,
                y,
                &format!("layer{}.{i}", stage + 1),
                16 << stage,
                stride,
            )?;
        }
    }
    let y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    let y = b.add_named("fc", Dense::new(classes), &[y])?;
    b.build(&[y])
}
