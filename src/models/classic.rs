//! LeNet-5, the seeds' tutorial CNNs, AlexNet, VGG, GoogLeNet's inception module, and a
//! two-head (class + box) network.

use super::{conv_bn, pad, relu};
use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, Sequential, ValueId};
use crate::nn::{
    Activation, AvgPool2d, BatchNorm2d, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d,
    Init, Lrn, MaxPool2d,
};
use crate::ops::lrn::LrnParams;
use crate::shape::Padding;

/// LeNet-5 on `[1, 32, 32]` with ReLU and max pooling: 61,706 parameters for 10 classes.
/// `average`: the 1998 paper's subsampling (average pooling) and tanh instead.
pub fn lenet5(classes: usize, average: bool, seed: u64) -> Result<Graph> {
    let act = if average {
        Activation::Tanh
    } else {
        Activation::Relu
    };
    let pool = |s: Sequential, name: &str| match average {
        true => s.add_named(name, AvgPool2d::new(2)),
        false => s.add_named(name, MaxPool2d::new(2)),
    };
    let s = Sequential::new([1, 32, 32])
        .seed(seed)
        .add_named("conv1", Conv2d::new(6, 5).activation(act));
    let s = pool(s, "pool1").add_named("conv2", Conv2d::new(16, 5).activation(act));
    pool(s, "pool2")
        .add_named("flatten", Flatten)
        .add_named("fc1", Dense::new(120).activation(act))
        .add_named("fc2", Dense::new(84).activation(act))
        .add_named("fc3", Dense::new(classes))
        .build()
}

/// The TensorFlow CIFAR-10 tutorial's CNN (122,570 parameters for 10 classes).
pub fn simple_cnn(classes: usize, seed: u64) -> Result<Graph> {
    let relu = Activation::Relu;
    Sequential::new([3, 32, 32])
        .seed(seed)
        .add(Conv2d::new(32, 3).activation(relu))
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(64, 3).activation(relu))
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(64, 3).activation(relu))
        .add(Flatten)
        .add(Dense::new(64).activation(relu))
        .add(Dense::new(classes))
        .build()
}

/// The seeds' Fashion-MNIST CNN (Géron, ch. 14): 7×7 then 3×3 "same" convs with He-normal
/// initialisation, three max pools, two dropout-regularised dense layers. On `[1, 28, 28]`.
pub fn fashion_mnist_cnn(classes: usize, seed: u64) -> Result<Graph> {
    let conv = |f: usize, k: usize| {
        Conv2d::new(f, k)
            .padding(Padding::Same)
            .activation(Activation::Relu)
            .kernel_initializer(Init::HeNormal)
    };
    let dense = |u: usize| {
        Dense::new(u)
            .activation(Activation::Relu)
            .kernel_initializer(Init::HeNormal)
    };
    Sequential::new([1, 28, 28])
        .seed(seed)
        .add(conv(64, 7))
        .add(MaxPool2d::new(2))
        .add(conv(128, 3))
        .add(conv(128, 3))
        .add(MaxPool2d::new(2))
        .add(conv(256, 3))
        .add(conv(256, 3))
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(dense(128))
        .add(Dropout::new(0.5))
        .add(dense(64))
        .add(Dropout::new(0.5))
        .add(Dense::new(classes))
        .build()
}

/// A compact CNN for 28×28 grey images (the Fashion-MNIST recipe of
/// `examples/train_fashion_mnist.rs`): two 3×3 "same" conv + batch norm + ReLU + max-pool
/// stages (32, 64 channels), dropout, a 128-unit dense layer, dropout, the classifier.
pub fn mnist_cnn(classes: usize, seed: u64) -> Result<Graph> {
    let conv = |f: usize| {
        Conv2d::new(f, 3)
            .padding(Padding::Same)
            .use_bias(false)
            .kernel_initializer(Init::HeNormal)
    };
    Sequential::new([1, 28, 28])
        .seed(seed)
        .add(conv(32))
        .add(BatchNorm2d::new())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(conv(64))
        .add(BatchNorm2d::new())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dropout::new(0.25))
        .add(
            Dense::new(128)
                .activation(Activation::Relu)
                .kernel_initializer(Init::HeNormal),
        )
        .add(Dropout::new(0.25))
        .add(Dense::new(classes))
        .build()
}

/// AlexNet. `cifar = false`: torchvision's layers and names on `[3, 224, 224]` (61.1 M
/// parameters for 1000 classes); `cifar = true`: 3×3 convs with the same widths on
/// `[3, 32, 32]` and a 1024-wide classifier. `lrn`: the paper's local response normalisation
/// after the first two ReLUs (no parameters, names `lrn1`, `lrn2`).
pub fn alexnet(classes: usize, cifar: bool, lrn: bool, seed: u64) -> Result<Graph> {
    let relu = |n: usize| (format!("features.{n}"), Activation::Relu);
    let norm = Lrn(LrnParams {
        size: 5,
        alpha: 1e-4,
        beta: 0.75,
        k: 2.0,
    });
    let (c1, c2, pool, size, hidden) = match cifar {
        false => (
            Conv2d::new(64, 11).strides(4).padding(pad(2)),
            Conv2d::new(192, 5).padding(pad(2)),
            MaxPool2d::new(3).strides(2),
            224,
            4096,
        ),
        true => (
            Conv2d::new(64, 3).padding(pad(1)),
            Conv2d::new(192, 3).padding(pad(1)),
            MaxPool2d::new(2),
            32,
            1024,
        ),
    };
    let mut s = Sequential::new([3, size, size])
        .seed(seed)
        .add_named("features.0", c1);
    let (n, r) = relu(1);
    s = s.add_named(&n, r);
    if lrn {
        s = s.add_named("lrn1", norm.clone());
    }
    s = s
        .add_named("features.2", pool.clone())
        .add_named("features.3", c2);
    let (n, r) = relu(4);
    s = s.add_named(&n, r);
    if lrn {
        s = s.add_named("lrn2", norm);
    }
    s = s.add_named("features.5", pool.clone());
    for (i, f) in [(6, 384), (8, 256), (10, 256)] {
        let (n, r) = relu(i + 1);
        s = s
            .add_named(&format!("features.{i}"), Conv2d::new(f, 3).padding(pad(1)))
            .add_named(&n, r);
    }
    s.add_named("features.12", pool)
        .add_named("flatten", Flatten)
        .add_named("classifier.0", Dropout::new(0.5))
        .add_named(
            "classifier.1",
            Dense::new(hidden).activation(Activation::Relu),
        )
        .add_named("classifier.3", Dropout::new(0.5))
        .add_named(
            "classifier.4",
            Dense::new(hidden).activation(Activation::Relu),
        )
        .add_named("classifier.6", Dense::new(classes))
        .build()
}

/// VGG depth (torchvision's configurations A and D).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VggDepth {
    /// VGG-11 (configuration A): 8 convolutions in 5 stages.
    V11,
    /// VGG-16 (configuration D): 13 convolutions in 5 stages.
    V16,
    /// VGG-19 (configuration E): 16 convolutions in 5 stages.
    V19,
}

/// VGG with torchvision's `features.<i>` names. `cifar = true`: `[3, 32, 32]` input and one
/// dense layer `classifier` (the BENCH.md vgg11); `cifar = false`: `[3, 224, 224]` and
/// torchvision's 4096-4096 classifier (138,357,544 parameters for VGG-16 and 1000 classes).
pub fn vgg(
    depth: VggDepth,
    batch_norm: bool,
    cifar: bool,
    classes: usize,
    seed: u64,
) -> Result<Graph> {
    const M: usize = 0;
    let cfg: &[usize] = match depth {
        VggDepth::V11 => &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
        VggDepth::V16 => &[
            64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
        ],
        VggDepth::V19 => &[
            64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512,
            512, M,
        ],
    };
    let size = if cifar { 32 } else { 224 };
    let mut s = Sequential::new([3, size, size]).seed(seed);
    let mut i = 0;
    let mut name = |s: Sequential, l: crate::nn::Layer| {
        let s = s.add_named(&format!("features.{i}"), l);
        i += 1;
        s
    };
    for &c in cfg {
        if c == M {
            s = name(s, MaxPool2d::new(2).into());
            continue;
        }
        s = name(
            s,
            Conv2d::new(c, 3)
                .padding(pad(1))
                .kernel_initializer(Init::HeNormal)
                .into(),
        );
        if batch_norm {
            s = name(s, BatchNorm2d::new().into());
        }
        s = name(s, Activation::Relu.into());
    }
    s = s.add_named("flatten", Flatten);
    match cifar {
        true => s.add_named("classifier", Dense::new(classes)),
        false => s
            .add_named(
                "classifier.0",
                Dense::new(4096).activation(Activation::Relu),
            )
            .add_named("classifier.2", Dropout::new(0.5))
            .add_named(
                "classifier.3",
                Dense::new(4096).activation(Activation::Relu),
            )
            .add_named("classifier.5", Dropout::new(0.5))
            .add_named("classifier.6", Dense::new(classes)),
    }
    .build()
}

/// Widths of an inception module: 1×1; 1×1 → 3×3; 1×1 → 5×5; 3×3 max pool → 1×1.
#[derive(Clone, Copy, Debug)]
pub struct InceptionCfg {
    /// Output channels of branch 1, the 1×1 conv.
    pub b1: usize,
    /// Channels of branch 2's 1×1 reduction before its 3×3.
    pub b2_reduce: usize,
    /// Output channels of branch 2's 3×3 conv.
    pub b2: usize,
    /// Channels of branch 3's 1×1 reduction before its 5×5.
    pub b3_reduce: usize,
    /// Output channels of branch 3's 5×5 conv.
    pub b3: usize,
    /// Output channels of branch 4's 1×1 conv after the 3×3 max pool (the pool projection).
    pub b4: usize,
}

/// conv → batch norm → ReLU (torchvision's `BasicConv2d`) under `name.conv`, `name.bn`.
fn basic_conv(b: &mut GraphBuilder, x: ValueId, name: &str, f: usize, k: usize) -> Result<ValueId> {
    let y = conv_bn(
        b,
        x,
        &format!("{name}.conv"),
        &format!("{name}.bn"),
        f,
        k,
        1,
        k / 2,
    )?;
    relu(b, y, &format!("{name}.relu"))
}

/// GoogLeNet's inception module `name` on `x`: four branches concatenated on channels.
pub fn inception(b: &mut GraphBuilder, x: ValueId, name: &str, c: InceptionCfg) -> Result<ValueId> {
    let b1 = basic_conv(b, x, &format!("{name}.branch1"), c.b1, 1)?;
    let t = basic_conv(b, x, &format!("{name}.branch2.0"), c.b2_reduce, 1)?;
    let b2 = basic_conv(b, t, &format!("{name}.branch2.1"), c.b2, 3)?;
    let t = basic_conv(b, x, &format!("{name}.branch3.0"), c.b3_reduce, 1)?;
    let b3 = basic_conv(b, t, &format!("{name}.branch3.1"), c.b3, 5)?;
    let t = b.add_named(
        &format!("{name}.branch4.0"),
        MaxPool2d::new(3).strides(1).padding(pad(1)),
        &[x],
    )?;
    let b4 = basic_conv(b, t, &format!("{name}.branch4.1"), c.b4, 1)?;
    b.add_named(&format!("{name}.concat"), Concat, &[b1, b2, b3, b4])
}

/// A small GoogLeNet for `[3, 32, 32]`: a 3×3 stem, inception 3a, 3b, a max pool, 4a, global
/// average pooling, dropout and the classifier.
pub fn googlenet_small(classes: usize, seed: u64) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([3, 32, 32]);
    let y = basic_conv(&mut b, x, "conv1", 192, 3)?;
    let cfg = |b1, b2_reduce, b2, b3_reduce, b3, b4| InceptionCfg {
        b1,
        b2_reduce,
        b2,
        b3_reduce,
        b3,
        b4,
    };
    let y = inception(&mut b, y, "inception3a", cfg(64, 96, 128, 16, 32, 32))?;
    let y = inception(&mut b, y, "inception3b", cfg(128, 128, 192, 32, 96, 64))?;
    let y = b.add_named(
        "maxpool3",
        MaxPool2d::new(3).strides(2).padding(pad(1)),
        &[y],
    )?;
    let y = inception(&mut b, y, "inception4a", cfg(192, 96, 208, 16, 48, 64))?;
    let y = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    let y = b.add_named("dropout", Dropout::new(0.4), &[y])?;
    let y = b.add_named("fc", Dense::new(classes), &[y])?;
    b.build(&[y])
}

/// The seeds' classification + localisation set-up on a small backbone: one output of
/// `classes` logits and one of 4 box coordinates, trained with weighted losses.
pub fn two_head_cnn(input: [usize; 3], classes: usize, seed: u64) -> Result<Graph> {
    let mut b = GraphBuilder::new(seed);
    let x = b.input(input);
    let mut y = x;
    for (i, f) in [16, 32, 64].into_iter().enumerate() {
        y = conv_bn(
            &mut b,
            y,
            &format!("conv{i}"),
            &format!("bn{i}"),
            f,
            3,
            1,
            1,
        )?;
        y = relu(&mut b, y, &format!("relu{i}"))?;
        y = b.add_named(&format!("pool{i}"), MaxPool2d::new(2), &[y])?;
    }
    let avg = b.add_named("avgpool", GlobalAvgPool2d, &[y])?;
    let class = b.add_named("class_head", Dense::new(classes), &[avg])?;
    let boxes = b.add_named("box_head", Dense::new(4), &[avg])?;
    b.build(&[class, boxes])
}
