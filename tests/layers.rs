//! Output and user-defined layers: a Softmax output trains on logits and predicts
//! probabilities; a layer written outside the crate from the eager ops trains in a compiled
//! plan like the f64 reference and passes a finite-difference check.

mod common;

use common::worst;
use wgcnn::graph::{Graph, Sequential};
use wgcnn::nn::backend::*;
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{central_difference, gpu, Rng};
use wgcnn::train::{Head, Loss, Model, ReferenceTrainer};
use wgcnn::{Error, Result, Shape};

/// `y = x + tanh(x·Wᵀ + b)`: a residual dense unit, written as an embedder would, from the
/// backend's dense, activation and axpby ops.
#[derive(Debug)]
struct ResidualTanh;

impl LayerImpl for ResidualTanh {
    fn kind(&self) -> &'static str {
        "residual_tanh"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        match x[0].rank() {
            2 => Ok(x[0].clone()),
            _ => Err(Error::Model(format!(
                "residual_tanh needs [n, f], got {}",
                x[0]
            ))),
        }
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        let f = x[0].dims()[1];
        vec![
            ParamSpec::weight("weight", [f, f], Init::GlorotUniform),
            ParamSpec::weight("bias", [f], Init::Zeros),
        ]
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let (b, x, p) = (c.b, c.x[0], c.p);
        let t = b.activation(&b.dense(x, &p[0], Some(&p[1]))?, Activation::Tanh)?;
        let y = b.axpby(1.0, x, 1.0, &t)?;
        Ok((y, c.pass.keep(vec![x.clone(), t])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let (b, dy, saved, p) = (c.b, c.dy, c.saved, c.p);
        let dz = b.activation_backward_from_output(dy, &saved[1], Activation::Tanh)?;
        let dx = match c.need.inputs[0] {
            true => Some(b.axpby(1.0, dy, 1.0, &b.dense_backward_data(&dz, &p[0])?)?),
            false => None,
        };
        let dp = match c.need.params {
            true => vec![
                b.dense_backward_filter(&saved[0], &dz)?,
                b.dense_backward_bias(&dz)?,
            ],
            false => vec![],
        };
        Ok((vec![dx], dp))
    }
}

fn with_custom(seed: u64) -> Graph {
    Sequential::new([2, 5, 5])
        .seed(seed)
        .add(Conv2d::new(3, 3).activation(Activation::Relu))
        .add(Flatten)
        .add(Layer::custom(ResidualTanh))
        .add(Dense::new(4))
        .build()
        .unwrap()
}

fn classes(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = rng.vec(n * 2 * 5 * 5);
    let y = (0..n).map(|i| (i % 4) as f32).collect();
    (x, y)
}

#[test]
fn a_user_layer_backward_matches_finite_differences() {
    let g = with_custom(3);
    let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"residual_tanh_1.weight"), "{names:?}");
    let heads = [Head::new(0, Loss::SparseCategoricalCrossentropy)];
    let mut r = ReferenceTrainer::new(g, &heads, Optimizer::sgd(0.1)).unwrap();
    let (x, y) = classes(&mut Rng::new(4), 3);
    let t: [&[f32]; 1] = [&y];
    let (_, grads) = r.loss_and_grads(&x, &t, 0).unwrap();
    // Every tensor, the conv's included: its gradient flows back through the user layer.
    for (k, g) in grads.iter().enumerate() {
        let g = g.clone().expect("every parameter has a gradient");
        let base = r.params()[k].clone();
        for i in (0..base.len()).step_by(base.len().div_ceil(5).max(1)) {
            let fd = central_difference(&mut base.clone(), i, 1e-6, |v| {
                r.set_param(k, v.to_vec());
                r.loss_and_grads(&x, &t, 0).unwrap().0
            });
            r.set_param(k, base.clone());
            assert!(
                (fd - g[i]).abs() <= 1e-7 + 1e-5 * g[i].abs(),
                "parameter {k}[{i}]: autodiff {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn a_user_layer_trains_in_a_plan_like_the_reference() {
    let gpu = gpu();
    let g = with_custom(5);
    let heads = [Head::new(0, Loss::SparseCategoricalCrossentropy)];
    let opt = Optimizer::sgd(0.1);
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile_heads(&heads, opt).unwrap();
    let mut r = ReferenceTrainer::new(g, &heads, opt).unwrap();
    let mut rng = Rng::new(6);
    for step in 0..3 {
        let (x, y) = classes(&mut rng, 6);
        m.train_on_batch(&x, &[&y]).unwrap();
        r.train_on_batch(&x, &[&y], step).unwrap();
    }
    // Rounding of the longest reduction (the conv's 2·3·3 taps over 6·3·3 pixels of its
    // filter gradient) per step, relative to the weights.
    let tol = 3.0 * 18.0 * 54.0 * f64::from(f32::EPSILON);
    for ((name, a), b) in m.parameters().unwrap().iter().zip(r.params()) {
        let (err, scale) = worst(a, &b);
        assert!(err <= tol * (1.0 + scale), "{name}: {err:e}");
    }
    // Moved at all: the reference is not still at its initial weights.
    let init = with_custom(5);
    let (moved, _) = worst(&init.params()[2].data, &r.params()[2]);
    assert!(moved > 1e-4, "the user layer's weight did not train");
}

#[test]
fn a_user_layer_that_refuses_its_input_is_an_error_naming_it() {
    let e = Sequential::new([2, 5, 5])
        .add(Layer::custom(ResidualTanh))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("residual_tanh"), "{e}");
}

fn logits_model(seed: u64, softmax: bool) -> Graph {
    let s = Sequential::new([2, 5, 5])
        .seed(seed)
        .add(Conv2d::new(3, 3).activation(Activation::Relu))
        .add(Flatten)
        .add(Dense::new(4));
    match softmax {
        true => s.add(Softmax).build().unwrap(),
        false => s.build().unwrap(),
    }
}

#[test]
fn a_softmax_output_trains_on_the_logits_and_predicts_probabilities() {
    let gpu = gpu();
    let mut models: Vec<Model> = [false, true]
        .iter()
        .map(|&s| {
            let mut m = Model::new(&gpu, logits_model(7, s)).unwrap();
            m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-2))
                .unwrap();
            m
        })
        .collect();
    let mut rng = Rng::new(8);
    for _ in 0..3 {
        let (x, y) = classes(&mut rng, 5);
        for m in &mut models {
            m.train_on_batch(&x, &[&y]).unwrap();
        }
    }
    // The same kernels on the same logits: bit for bit the same weights.
    assert_eq!(
        models[0].parameters().unwrap(),
        models[1].parameters().unwrap()
    );
    let (x, _) = classes(&mut rng, 3);
    let logits = models[0].predict(&x, 3).unwrap().remove(0);
    let probs = models[1].predict(&x, 3).unwrap().remove(0);
    let want = wgcnn::ops::reduce::cpu::softmax(
        &logits.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        4,
        false,
    );
    let (err, _) = worst(&probs, &want);
    assert!(err < 1e-6, "probabilities differ by {err:e}");
    for row in probs.chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn softmax_inside_a_graph_backpropagates_like_the_reference() {
    // Not an output: its own backward runs (a mean-squared-error head on the probabilities).
    let g = logits_model(9, true);
    let heads = [Head::new(0, Loss::MeanSquaredError)];
    let mut r = ReferenceTrainer::new(g, &heads, Optimizer::sgd(0.1)).unwrap();
    let mut rng = Rng::new(10);
    let x = rng.vec(2 * 2 * 5 * 5);
    let target = rng.vec(2 * 4);
    let t: [&[f32]; 1] = [&target];
    let (_, grads) = r.loss_and_grads(&x, &t, 0).unwrap();
    let k = grads.len() - 2; // the dense weight, just before the softmax
    let g = grads[k].clone().unwrap();
    let base = r.params()[k].clone();
    for i in (0..base.len()).step_by(7) {
        let fd = central_difference(&mut base.clone(), i, 1e-6, |v| {
            r.set_param(k, v.to_vec());
            r.loss_and_grads(&x, &t, 0).unwrap().0
        });
        r.set_param(k, base.clone());
        assert!(
            (fd - g[i]).abs() <= 1e-8 + 1e-5 * g[i].abs(),
            "[{i}] {} vs {fd}",
            g[i]
        );
    }
}

#[test]
fn a_sigmoid_output_under_binary_cross_entropy_reads_the_logits() {
    let gpu = gpu();
    let build = |sigmoid: bool| {
        let s = Sequential::new([2, 5, 5])
            .seed(11)
            .add(Flatten)
            .add(Dense::new(1));
        let g = match sigmoid {
            true => s.add(Activation::Sigmoid).build(),
            false => s.build(),
        };
        let mut m = Model::new(&gpu, g.unwrap()).unwrap();
        m.compile(Loss::BinaryCrossentropy, Optimizer::sgd(0.5))
            .unwrap();
        m
    };
    let (mut plain, mut squashed) = (build(false), build(true));
    let mut rng = Rng::new(12);
    let x = rng.vec(4 * 2 * 5 * 5);
    let y = [1.0, 0.0, 1.0, 1.0];
    for m in [&mut plain, &mut squashed] {
        m.train_on_batch(&x, &[&y]).unwrap();
    }
    assert_eq!(plain.parameters().unwrap(), squashed.parameters().unwrap());
}
