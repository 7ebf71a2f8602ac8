//! torchvision's MobileNetV2 (width 1.0): a stride-2 stem, 17 inverted residual blocks
//! (1×1 expansion, 3×3 depthwise, 1×1 linear projection; a residual add where the shape
//! allows), a 1×1 head to 1,280 channels, global average pooling, dropout 0.2, the classifier.
//! Layer names are torchvision's (`features.<i>.conv.<j>…`, `classifier.1`), so its
//! state dicts load as they are.

use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, ValueId};
use crate::nn::{Activation, Add, BatchNorm2d, Conv2d, Dense, Dropout, GlobalAvgPool2d, Init};

use super::pad;

/// torchvision's `Conv2dNormActivation`: conv (no bias) `name.0`, batch norm `name.1`, then
/// ReLU6 when `relu6`.
fn conv_bn_act(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    (filters, k, stride, groups): (usize, usize, usize, usize),
    relu6: bool,
) -> Result<ValueId> {
    let conv = Conv2d::new(filters, k)
        .strides(stride)
        .padding(pad((k - 1) / 2))
        .groups(groups)
        .use_bias(false)
        .kernel_initializer(Init::HeNormal);
    let y = b.add_named(&format!("{name}.0"), conv, &[x])?;
    let y = b.add_named(&format!("{name}.1"), BatchNorm2d::new(), &[y])?;
    match relu6 {
        true => b.add_named(&format!("{name}.2"), Activation::Relu6, &[y]),
        false => Ok(y),
    }
}

/// One inverted residual block `name` from `c_in` to `c_out` channels.
fn inverted_residual(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    (c_in, c_out, stride, expand): (usize, usize, usize, usize),
) -> Result<ValueId> {
    let hidden = c_in * expand;
    let mut j = 0;
    let mut y = x;
    if expand != 1 {
        y = conv_bn_act(b, y, &format!("{name}.conv.0"), (hidden, 1, 1, 1), true)?;
        j = 1;
    }
    let dw = format!("{name}.conv.{j}");
    y = conv_bn_act(b, y, &dw, (hidden, 3, stride, hidden), true)?;
    let project = Conv2d::new(c_out, 1)
        .use_bias(false)
        .kernel_initializer(Init::HeNormal);
    y = b.add_named(&format!("{name}.conv.{}", j + 1), project, &[y])?;
    y = b.add_named(&format!("{name}.conv.{}", j + 2), BatchNorm2d::new(), &[y])?;
    match stride == 1 && c_in == c_out {
        true => b.add_named(&format!("{name}.add"), Add, &[x, y]),
        false => Ok(y),
    }
}

/// MobileNetV2 on `[3, size, size]` inputs (224 for ImageNet; 3,504,872 parameters with
/// 1,000 classes) with `classes` outputs.
pub fn mobilenet_v2(size: usize, classes: usize, seed: u64) -> Result<Graph> {
    // (expansion t, channels c, blocks n, first stride s), as in the paper's Table 2.
    const SETTINGS: [(usize, usize, usize, usize); 7] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, size, size]);
    let mut y = conv_bn_act(&mut b, x, "features.0", (32, 3, 2, 1), true)?;
    let (mut c_in, mut k) = (32, 1);
    for (t, c, n, s) in SETTINGS {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            y = inverted_residual(&mut b, y, &format!("features.{k}"), (c_in, c, stride, t))?;
            (c_in, k) = (c, k + 1);
        }
    }
    y = conv_bn_act(&mut b, y, &format!("features.{k}"), (1280, 1, 1, 1), true)?;
    y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    y = b.add_named("classifier.0", Dropout::new(0.2), &[y])?;
    y = b.add_named("classifier.1", Dense::new(classes), &[y])?;
    b.build(&[y])
}
