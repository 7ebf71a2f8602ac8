//! torchvision's GoogLeNet (Inception v1) in its inference layout (the auxiliary heads,
//! which torchvision runs only in training, left out), with its layer names: `BasicConv2d`
//! (conv without bias, batch norm with eps 0.001, ReLU), inception modules whose third
//! branch is a 3×3 conv (torchvision's, kept for its weights, where the paper has 5×5), and
//! max pools with `ceil_mode=True`, built as extra bottom / right padding.

use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, ValueId};
use crate::nn::{
    Activation, BatchNorm2d, Concat, Conv2d, Dense, Dropout, GlobalAvgPool2d, Init, MaxPool2d,
};
use crate::shape::Padding;

use super::pad;

/// `BasicConv2d` under `name.conv` / `name.bn` (eps 0.001) / `name.relu`.
fn basic(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    (f, k, s): (usize, usize, usize),
) -> Result<ValueId> {
    let conv = Conv2d::new(f, k)
        .strides(s)
        .padding(pad(k / 2))
        .use_bias(false)
        .kernel_initializer(Init::HeNormal);
    let y = b.add_named(&format!("{name}.conv"), conv, &[x])?;
    let y = b.add_named(&format!("{name}.bn"), BatchNorm2d::new().eps(1e-3), &[y])?;
    b.add_named(&format!("{name}.relu"), Activation::Relu, &[y])
}

/// Extra bottom (right) padding that makes the floor output size of a `k`/`s`/`p` window
/// over `size` PyTorch's `ceil_mode` size (whose last window must start inside the input or
/// its left padding).
fn ceil_extra(size: usize, k: usize, s: usize, p: usize) -> usize {
    // A window larger than the padded input: no padding helps; the pool's shape check fails.
    let Some(span) = (size + 2 * p).checked_sub(k) else {
        return 0;
    };
    let mut out = span.div_ceil(s) + 1;
    if (out - 1) * s >= size + p {
        out -= 1;
    }
    ((out - 1) * s + k).saturating_sub(size + 2 * p)
}

/// A max pool with PyTorch's `ceil_mode=True` after `x` (ReLU outputs, so the zeros of the
/// extra padding never win).
fn ceil_pool(
    b: &mut GraphBuilder,
    x: ValueId,
    name: &str,
    (k, s, p): (usize, usize, usize),
) -> Result<ValueId> {
    let dims = b.shape(x).map(|s| s.dims().to_vec()).unwrap_or_default();
    let (h, w) = (
        dims.get(1).copied().unwrap_or(0),
        dims.get(2).copied().unwrap_or(0),
    );
    let padding = Padding::Explicit {
        top: p,
        bottom: p + ceil_extra(h, k, s, p),
        left: p,
        right: p + ceil_extra(w, k, s, p),
    };
    b.add_named(name, MaxPool2d::new(k).strides(s).padding(padding), &[x])
}

/// torchvision's `Inception`: 1×1; 1×1 → 3×3; 1×1 → 3×3; 3×3 max pool → 1×1; concatenated.
fn inception(b: &mut GraphBuilder, x: ValueId, name: &str, c: [usize; 6]) -> Result<ValueId> {
    let b1 = basic(b, x, &format!("{name}.branch1"), (c[0], 1, 1))?;
    let t = basic(b, x, &format!("{name}.branch2.0"), (c[1], 1, 1))?;
    let b2 = basic(b, t, &format!("{name}.branch2.1"), (c[2], 3, 1))?;
    let t = basic(b, x, &format!("{name}.branch3.0"), (c[3], 1, 1))?;
    let b3 = basic(b, t, &format!("{name}.branch3.1"), (c[4], 3, 1))?;
    let t = ceil_pool(b, x, &format!("{name}.branch4.0"), (3, 1, 1))?;
    let b4 = basic(b, t, &format!("{name}.branch4.1"), (c[5], 1, 1))?;
    b.add_named(&format!("{name}.concat"), Concat, &[b1, b2, b3, b4])
}

/// GoogLeNet on `[3, size, size]` inputs (224 for ImageNet; 6,624,904 parameters with 1,000
/// classes) with `classes` outputs. torchvision's pretrained weights expect its
/// `transform_input`: inputs normalised to [-1, 1] (mean and std 0.5) instead of ImageNet's
/// statistics.
pub fn googlenet(size: usize, classes: usize, seed: u64) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, size, size]);
    let mut y = basic(&mut b, x, "conv1", (64, 7, 2))?;
    y = ceil_pool(&mut b, y, "maxpool1", (3, 2, 0))?;
    y = basic(&mut b, y, "conv2", (64, 1, 1))?;
    y = basic(&mut b, y, "conv3", (192, 3, 1))?;
    y = ceil_pool(&mut b, y, "maxpool2", (3, 2, 0))?;
    y = inception(&mut b, y, "inception3a", [64, 96, 128, 16, 32, 32])?;
    y = inception(&mut b, y, "inception3b", [128, 128, 192, 32, 96, 64])?;
    y = ceil_pool(&mut b, y, "maxpool3", (3, 2, 0))?;
    y = inception(&mut b, y, "inception4a", [192, 96, 208, 16, 48, 64])?;
    y = inception(&mut b, y, "inception4b", [160, 112, 224, 24, 64, 64])?;
    y = inception(&mut b, y, "inception4c", [128, 128, 256, 24, 64, 64])?;
    y = inception(&mut b, y, "inception4d", [112, 144, 288, 32, 64, 64])?;
    y = inception(&mut b, y, "inception4e", [256, 160, 320, 32, 128, 128])?;
    y = ceil_pool(&mut b, y, "maxpool4", (2, 2, 0))?;
    y = inception(&mut b, y, "inception5a", [256, 160, 320, 32, 128, 128])?;
    y = inception(&mut b, y, "inception5b", [384, 192, 384, 48, 128, 128])?;
    y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    y = b.add_named("dropout", Dropout::new(0.2), &[y])?;
    y = b.add_named("fc", Dense::new(classes), &[y])?;
    b.build(&[y])
}

#[cfg(test)]
mod tests {
    use super::ceil_extra;

    #[test]
    fn ceil_mode_sizes_are_pytorchs() {
        // (size, k, s, p) → PyTorch's ceil_mode output, from torch.nn.MaxPool2d.
        for (size, k, s, p, out) in [
            (112, 3, 2, 0, 56),
            (56, 3, 2, 0, 28),
            (28, 3, 2, 0, 14),
            (14, 2, 2, 0, 7),
            (15, 3, 2, 0, 7),
            (16, 3, 2, 0, 8),
            (7, 3, 1, 1, 7),
            (5, 2, 2, 0, 3),
        ] {
            let padded = size + 2 * p + ceil_extra(size, k, s, p);
            assert_eq!((padded - k) / s + 1, out, "{size} {k} {s} {p}");
        }
    }
}
