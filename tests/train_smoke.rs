use wgcnn::graph::Sequential;
use wgcnn::nn::*;
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{shared_gpu, Rng};
use wgcnn::train::*;
use wgcnn::Padding;

#[test]
fn smoke() {
    let gpu = shared_gpu().unwrap();
    let g = Sequential::new([3, 8, 8])
        .seed(1)
        .add(Conv2d::new(4, 3).padding(Padding::Same).use_bias(false))
        .add(BatchNorm2d::new())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dense::new(5))
        .build()
        .unwrap();
    println!("{}", g.summary());
    let mut rng = Rng::new(3);
    let x = rng.vec(6 * 3 * 64);
    let y: Vec<f32> = (0..6).map(|i| (i % 5) as f32).collect();
    let mut m = Model::new(&gpu, g.clone()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(0.01))
        .unwrap();
    let mut r = ReferenceTrainer::new(g, m.heads(), Optimizer::adam(0.01)).unwrap();
    for s in 0..3 {
        m.train_on_batch(&x, &[&y]).unwrap();
        r.train_on_batch(&x, &[&y], s).unwrap();
    }
    let gp = m.parameters().unwrap();
    let rp = r.params();
    for ((name, a), b) in gp.iter().zip(&rp) {
        let worst = a
            .iter()
            .zip(b)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, f64::max);
        println!("{name}: worst {worst:e}");
    }
    println!("{}", m.summary(6).unwrap());
}
