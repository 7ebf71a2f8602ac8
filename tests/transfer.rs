//! Transfer learning: a backbone cut out of a built graph with its trained values, a new head
//! on it, the base frozen by index range and then partly thawed.

mod common;

use common::{batch, every_layer};
use wgcnn::graph::{GraphBuilder, Sequential};
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{Loss, Model};

#[test]
fn a_new_head_trains_on_a_frozen_backbone_then_its_top_thaws() {
    let gpu = gpu();
    let base = Sequential::new([2, 8, 8])
        .seed(9)
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(BatchNorm2d::new())
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(Flatten)
        .add(Dense::new(10))
        .build()
        .unwrap();
    let (mut b, features) = GraphBuilder::from_graph(&base, "flatten_1").unwrap();
    let head = b.add_named("head", Dense::new(2), &[features]).unwrap();
    let g = b.build(&[head]).unwrap();
    let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
    let trunk = base.params().len() - 2;
    assert_eq!(names[trunk..], ["head.weight", "head.bias"]);
    for (p, q) in g.params().iter().zip(&base.params()[..trunk]) {
        assert_eq!((&p.name, &p.data), (&q.name, &q.data));
    }
    assert_eq!(g.nodes().len(), 5, "the old top is gone");

    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
        .unwrap();
    assert_eq!(m.set_trainable_range(0..4, false).unwrap(), 4);
    let mut rng = Rng::new(4);
    let x = rng.vec(6 * 2 * 8 * 8);
    let y: Vec<f32> = (0..6).map(|i| (i % 2) as f32).collect();
    let step = |m: &mut Model| {
        let before = m.parameters().unwrap();
        m.train_on_batch(&x, &[&y]).unwrap();
        let after = m.parameters().unwrap();
        let changed: Vec<String> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| a.0.clone())
            .collect();
        changed
    };
    assert_eq!(step(&mut m), ["head.weight", "head.bias"]);
    // Keras's `layers[3:]` thaws the second conv (index 2 here) and everything after it.
    m.set_trainable_range(2..5, true).unwrap();
    assert_eq!(
        step(&mut m),
        [
            "conv2d_2.weight",
            "conv2d_2.bias",
            "head.weight",
            "head.bias"
        ]
    );

    assert!(GraphBuilder::from_graph(&base, "nope").is_err());
    assert!(m.set_trainable_range(3..3, false).is_err());
    assert!(m.set_trainable_range(4..6, false).is_err());
}

/// A cut keeps exactly what its node needs, across residual and concatenation branches.
#[test]
fn a_cut_keeps_the_branches_its_node_needs() {
    let g = every_layer(2);
    let (b, v) = GraphBuilder::from_graph(&g, "add_relu_1").unwrap();
    let cut = b.build(&[v]).unwrap();
    let kept: Vec<&str> = cut.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        kept,
        [
            "conv2d_1",
            "batch_normalization_1",
            "activation_1",
            "conv2d_2",
            "add_1",
            "add_relu_1"
        ]
    );
    let gpu = gpu();
    let mut m = Model::new(&gpu, cut).unwrap();
    let (x, _, _) = batch(&mut Rng::new(1), 2);
    m.compile(Loss::MeanSquaredError, Optimizer::sgd(0.1))
        .unwrap();
    let out = m.predict(&x, 2).unwrap();
    assert_eq!(out[0].len(), 2 * 6 * 11 * 9);
}

#[test]
fn inner_activations_are_the_reference_outputs_of_those_layers() {
    let gpu = gpu();
    let g = Sequential::new([2, 8, 8])
        .seed(4)
        .add(Conv2d::new(4, 3).use_bias(false))
        .add(BatchNorm2d::new())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dense::new(3))
        .build()
        .unwrap();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
        .unwrap();
    let mut rng = Rng::new(5);
    let x = rng.vec(6 * 2 * 8 * 8);
    let y: Vec<f32> = (0..6).map(|i| (i % 3) as f32).collect();
    // Trained, so the batch norm's running statistics are not the initial ones.
    for _ in 0..2 {
        m.train_on_batch(&x, &[&y]).unwrap();
    }
    // The conv's raw output and the ReLU after the batch norm: a conv whose output is asked
    // for is not folded away.
    let layers = ["conv2d_1", "activation_1", "max_pooling2d_1"];
    let got = m.activations(&x[..3 * 128], &layers, 2).unwrap();
    m.sync_params().unwrap();
    let part = m.graph().outputs_of(&layers).unwrap();
    let r = wgcnn::train::ReferenceTrainer::new(part, &[], Optimizer::sgd(0.1)).unwrap();
    let want = r.predict(&x[..3 * 128]).unwrap();
    let dims: Vec<Vec<usize>> = got.iter().map(|(s, _)| s.dims().to_vec()).collect();
    assert_eq!(dims, [vec![3, 4, 6, 6], vec![3, 4, 6, 6], vec![3, 4, 3, 3]]);
    for ((name, (_, a)), b) in layers.iter().zip(&got).zip(&want) {
        let (err, scale) = common::worst(a, b);
        assert!(err <= 1e-5 * (1.0 + scale), "{name}: {err:e}");
    }
    assert!(m.activations(&x, &["no_such_layer"], 2).is_err());
}
