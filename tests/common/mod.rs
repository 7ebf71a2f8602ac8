//! Graphs and batches that several training test files share (each binary uses some).
#![allow(dead_code)]

use wgcnn::graph::{Graph, GraphBuilder};
use wgcnn::nn::*;
use wgcnn::ops::lrn::LrnParams;
use wgcnn::testing::Rng;
use wgcnn::train::{Dataset, Head, Loss};
use wgcnn::Padding;

/// A graph with every layer kind: grouped strided conv, dilation, batch norm (2-D, and 1-D
/// over `[n, c, l]` and `[n, c]`), LRN, both pools, channel max, a residual add, a concat, a
/// reshape, dropout, dense, softmax, a channel gate; two heads.
pub fn every_layer(seed: u64) -> Graph {
    let mut b = GraphBuilder::new(seed);
    let x = b.input([4, 11, 9]);
    let c = b
        .add(
            Conv2d::new(6, 3).padding(Padding::Same).use_bias(false),
            &[x],
        )
        .unwrap();
    let c = b.add(BatchNorm2d::new(), &[c]).unwrap();
    let c = b.add(Activation::Relu, &[c]).unwrap();
    let g = b
        .add(
            Conv2d::new(6, 3)
                .groups(2)
                .padding(Padding::Same)
                .activation(Activation::Tanh),
            &[c],
        )
        .unwrap();
    let r = b.add(Add, &[c, g]).unwrap();
    let r = b.add(AddRelu, &[r, c]).unwrap();
    let d = b
        .add(
            Conv2d::new(4, 3)
                .dilation_rate(2)
                .padding(Padding::Same)
                .activation(Activation::Elu(1.0)),
            &[r],
        )
        .unwrap();
    let k = b.add(ChannelMaxPool(2), &[r]).unwrap();
    let cat = b.add(Concat, &[d, k]).unwrap();
    let l = b
        .add(
            Lrn(LrnParams {
                size: 3,
                alpha: 1e-2,
                beta: 0.75,
                k: 1.0,
            }),
            &[cat],
        )
        .unwrap();
    let m = b.add(MaxPool2d::new(3).strides(2), &[l]).unwrap();
    let a = b
        .add(AvgPool2d::new(2).padding(Padding::Same), &[m])
        .unwrap();
    let s = b
        .add(
            Conv2d::new(5, 1)
                .strides(2)
                .activation(Activation::LeakyRelu(0.1)),
            &[l],
        )
        .unwrap();
    // A squeeze-and-excitation gate on it: both inputs of the multiply get gradients.
    let se = b.add(GlobalAvgPool2d, &[s]).unwrap();
    let se = b
        .add(Dense::new(5).activation(Activation::Sigmoid), &[se])
        .unwrap();
    let s = b.add(ChannelMultiply, &[s, se]).unwrap();
    let gp = b.add(GlobalAvgPool2d, &[s]).unwrap();
    // Not an output, so its own backward runs.
    let gp = b.add(Softmax, &[gp]).unwrap();
    // [7, 3, 2] → [7, 6]: batch norm over channels and length (and later over features).
    let r = b.add(Reshape::new(&[7, -1]), &[a]).unwrap();
    let r = b.add(BatchNorm1d::new(), &[r]).unwrap();
    let f = b.add(Flatten, &[r]).unwrap();
    let f = b.add(Dropout::new(0.3), &[f]).unwrap();
    let h = b
        .add(Dense::new(7).activation(Activation::Sigmoid), &[f])
        .unwrap();
    // Not right after the other batch norm: its input gradient sums to zero over the batch,
    // which would leave that one's bias a gradient of pure rounding.
    let h = b.add(BatchNorm1d::new().momentum(0.3), &[h]).unwrap();
    let class = b.add_named("class", Dense::new(3), &[h]).unwrap();
    let boxes = b.add_named("boxes", Dense::new(5), &[gp]).unwrap();
    b.build(&[class, boxes]).unwrap()
}

pub fn heads() -> Vec<Head> {
    vec![
        Head::new(0, Loss::SparseCategoricalCrossentropy).weight(0.8),
        Head::new(1, Loss::MeanSquaredError).weight(0.2),
    ]
}

pub fn batch(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = rng.vec(n * 4 * 11 * 9);
    let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    let boxes = rng.vec(n * 5);
    (x, y, boxes)
}

pub fn worst(a: &[f32], b: &[f64]) -> (f64, f64) {
    let err = a
        .iter()
        .zip(b)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max);
    (err, scale)
}

/// Two classes: a bright left or right half, with noise.
pub fn halves(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i % 2) as u32;
        for _ in 0..2 {
            for _h in 0..8 {
                for w in 0..8 {
                    let bright = (w < 4) == (label == 0);
                    x.push(if bright { 1.0 } else { 0.0 } + 0.3 * rng.uniform());
                }
            }
        }
        labels.push(label);
    }
    Dataset::classification(x, [2, 8, 8], labels, 2).unwrap()
}

/// The separable set's small CNN (conv + ReLU, max-pool, dense).
pub fn small_cnn(seed: u64) -> Graph {
    wgcnn::graph::Sequential::new([2, 8, 8])
        .seed(seed)
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dense::new(2))
        .build()
        .unwrap()
}
