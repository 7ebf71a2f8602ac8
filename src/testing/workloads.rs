//! The workloads of BENCH.md (convolution shapes, other kernels, whole training steps) as
//! tables for the benches, the bench example and the tests.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::graph::Graph;
use crate::models;
use crate::ops::conv2d::{Conv2dGeometry, Conv2dParams};
use crate::ops::optim::Optimizer;
use crate::ops::{matmul, norm, pool, reduce};
use crate::shape::{Padding, Shape};
use crate::tensor::Tensor;
use crate::testing::Rng;
use crate::train::{Loss, Model};

/// One BENCH.md convolution shape.
#[derive(Clone, Copy, Debug)]
pub struct ConvWorkload {
    pub name: &'static str,
    pub n: usize,
    pub c_in: usize,
    pub hw: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
    pub groups: usize,
}

const fn w(
    name: &'static str,
    [n, c_in, hw, c_out, k, stride, pad, dilation, groups]: [usize; 9],
) -> ConvWorkload {
    ConvWorkload {
        name,
        n,
        c_in,
        hw,
        c_out,
        k,
        stride,
        pad,
        dilation,
        groups,
    }
}

/// `name, N, Cin, H=W, Cout, k, stride, pad, dilation, groups` as in BENCH.md.
pub const CONV: [ConvWorkload; 9] = [
    w("lenet_c1", [64, 1, 32, 6, 5, 1, 0, 1, 1]),
    w("lenet_c3", [64, 6, 14, 16, 5, 1, 0, 1, 1]),
    w("cifar_c1", [64, 3, 32, 32, 3, 1, 1, 1, 1]),
    w("vgg_c2", [64, 64, 32, 64, 3, 1, 1, 1, 1]),
    w("resnet_s2", [64, 64, 32, 128, 3, 2, 1, 1, 1]),
    w("resnet_1x1", [64, 256, 8, 64, 1, 1, 0, 1, 1]),
    w("stem_7x7", [16, 3, 224, 64, 7, 2, 3, 1, 1]),
    w("depthwise", [64, 128, 16, 128, 3, 1, 1, 1, 128]),
    w("dilated", [16, 32, 64, 32, 3, 1, 2, 2, 1]),
];

impl ConvWorkload {
    pub fn params(&self) -> Conv2dParams {
        Conv2dParams::new(self.k)
            .stride(self.stride)
            .padding(Padding::symmetric(self.pad))
            .dilation(self.dilation)
            .groups(self.groups)
    }
    pub fn x_shape(&self) -> Shape {
        Shape::new([self.n, self.c_in, self.hw, self.hw])
    }
    pub fn w_shape(&self) -> Shape {
        Shape::new([self.c_out, self.c_in / self.groups, self.k, self.k])
    }
    pub fn geometry(&self) -> Conv2dGeometry {
        // The table is fixed and every row resolves (a unit test checks it).
        self.params()
            .resolve(&self.x_shape(), &self.w_shape())
            .unwrap_or_else(|e| panic!("BENCH.md workload {} does not resolve: {e}", self.name))
    }
}

/// The "other kernels" of BENCH.md.
#[derive(Clone, Copy, Debug)]
pub enum OtherWorkload {
    /// max_pool2d 2×2 stride 2, forward and backward, on `[n, c, hw, hw]`.
    MaxPool { n: usize, c: usize, hw: usize },
    /// C[m, n] = A[m, k] · B[k, n].
    Matmul { m: usize, n: usize, k: usize },
    /// Softmax cross-entropy forward + backward over `[rows, classes]`.
    SoftmaxXent { rows: usize, classes: usize },
    /// Batch norm forward + backward, training mode, on `[n, c, hw, hw]`.
    BatchNorm { n: usize, c: usize, hw: usize },
    /// The CIFAR training augmentation (flips, 4-pixel shifts) of `[n, 3, hw, hw]`.
    Augment { n: usize, hw: usize },
}

pub const OTHER: [(&str, OtherWorkload); 8] = [
    (
        "max_pool2d_2x2",
        OtherWorkload::MaxPool {
            n: 64,
            c: 64,
            hw: 32,
        },
    ),
    (
        "matmul_1024",
        OtherWorkload::Matmul {
            m: 1024,
            n: 1024,
            k: 1024,
        },
    ),
    (
        "matmul_64x4096x1024",
        OtherWorkload::Matmul {
            m: 64,
            n: 4096,
            k: 1024,
        },
    ),
    (
        "softmax_xent_64x10",
        OtherWorkload::SoftmaxXent {
            rows: 64,
            classes: 10,
        },
    ),
    (
        "softmax_xent_256x1000",
        OtherWorkload::SoftmaxXent {
            rows: 256,
            classes: 1000,
        },
    ),
    (
        "batch_norm_64x64x32x32",
        OtherWorkload::BatchNorm {
            n: 64,
            c: 64,
            hw: 32,
        },
    ),
    (
        "augment_64x3x32x32",
        OtherWorkload::Augment { n: 64, hw: 32 },
    ),
    (
        "batch_norm_64x16x8x8",
        OtherWorkload::BatchNorm {
            n: 64,
            c: 16,
            hw: 8,
        },
    ),
];

/// One recorded run of a workload (submit and sync are the caller's).
pub type Run = Box<dyn FnMut() -> Result<()>>;

impl OtherWorkload {
    /// Uploads seeded random inputs and returns what records one run (forward and backward
    /// where the kernel has both).
    pub fn prepare(&self, gpu: &Gpu) -> Result<Run> {
        let mut rng = Rng::new(3);
        let mut up = |dims: &[usize]| {
            let s = Shape::new(dims);
            Tensor::from_slice(gpu, s.clone(), &rng.vec(s.numel()))
        };
        Ok(match *self {
            OtherWorkload::MaxPool { n, c, hw } => {
                let (x, dy) = (up(&[n, c, hw, hw])?, up(&[n, c, hw / 2, hw / 2])?);
                let p = pool::Pool2dParams::max(2);
                Box::new(move || {
                    let (_, idx) = pool::max_pool2d(&x, &p)?;
                    pool::max_pool2d_backward(&dy, &idx, x.shape(), &p).map(drop)
                })
            }
            OtherWorkload::Matmul { m, n, k } => {
                let (a, b) = (up(&[m, k])?, up(&[k, n])?);
                Box::new(move || matmul::matmul(&a, false, &b, false).map(drop))
            }
            OtherWorkload::SoftmaxXent { rows, classes } => {
                let x = up(&[rows, classes])?;
                let t: Vec<u32> = (0..rows).map(|r| (r % classes) as u32).collect();
                Box::new(move || reduce::softmax_cross_entropy(&x, &t).map(drop))
            }
            OtherWorkload::Augment { n, hw } => {
                let x = up(&[n, 3, hw, hw])?;
                let p = crate::ops::augment::AugmentParams {
                    flip: true,
                    max_shift: 4,
                    ..Default::default()
                };
                Box::new(move || crate::ops::augment::augment(&x, &p, 1, 2).map(drop))
            }
            OtherWorkload::BatchNorm { n, c, hw } => {
                let (x, dy) = (up(&[n, c, hw, hw])?, up(&[n, c, hw, hw])?);
                let (g, b, rm) = (up(&[c])?, up(&[c])?, up(&[c])?);
                let rv = Tensor::from_slice(gpu, [c], &vec![1.0; c])?;
                let p = norm::BatchNormParams::default();
                Box::new(move || {
                    let out = norm::batch_norm_train(&x, &g, &b, &rm, &rv, &p)?;
                    norm::batch_norm_backward_train(
                        &dy,
                        &x,
                        &g,
                        &out.batch_mean,
                        &out.batch_var,
                        p.eps,
                    )
                    .map(drop)
                })
            }
        })
    }

    /// The work of one run and its unit: FLOPs for matmul, bytes of tensor traffic (f32
    /// reads and writes of the kernels) for the memory-bound ones.
    pub fn work(&self) -> (f64, &'static str) {
        match *self {
            // forward reads x, writes y and idx; backward reads dy and idx, writes dx.
            OtherWorkload::MaxPool { n, c, hw } => (
                (4 * (2 * n * c * hw * hw + 4 * n * c * hw * hw / 4)) as f64,
                "B",
            ),
            OtherWorkload::Matmul { m, n, k } => (2.0 * (m * n * k) as f64, "FLOP"),
            // logits read, gradient written.
            OtherWorkload::SoftmaxXent { rows, classes } => ((4 * 2 * rows * classes) as f64, "B"),
            // forward reads x twice, writes y; backward reads x and dy twice, writes dx.
            OtherWorkload::BatchNorm { n, c, hw } => ((4 * 8 * n * c * hw * hw) as f64, "B"),
            // four bilinear taps read, one value written per element.
            OtherWorkload::Augment { n, hw } => ((4 * 5 * n * 3 * hw * hw) as f64, "B"),
        }
    }
}

/// A whole-training-step workload of BENCH.md (batch 64, forward, loss, backward, update).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TrainWorkload {
    Lenet5,
    SimpleCnn,
    Resnet20,
    /// VGG-11 with batch norm, CIFAR variant.
    Vgg11,
}

pub const TRAIN: [(&str, TrainWorkload); 4] = [
    ("lenet5", TrainWorkload::Lenet5),
    ("simple_cnn", TrainWorkload::SimpleCnn),
    ("resnet20", TrainWorkload::Resnet20),
    ("vgg11", TrainWorkload::Vgg11),
];

/// BENCH.md's batch for training steps.
pub const TRAIN_BATCH: usize = 64;

impl TrainWorkload {
    pub fn graph(self) -> Result<Graph> {
        match self {
            TrainWorkload::Lenet5 => models::lenet5(10, false, 0),
            TrainWorkload::SimpleCnn => models::simple_cnn(10, 0),
            TrainWorkload::Resnet20 => models::resnet_cifar(3, 10, 0),
            TrainWorkload::Vgg11 => models::vgg(models::VggDepth::V11, true, true, 10, 0),
        }
    }

    /// A model compiled with SGD + momentum and a seeded random batch of `batch` samples.
    pub fn prepare(self, gpu: &Gpu, batch: usize) -> Result<TrainStep> {
        self.prepare_with(gpu, batch, |_| {})
    }

    /// [`TrainWorkload::prepare`] with the graph changed by `edit` first.
    pub fn prepare_with(
        self,
        gpu: &Gpu,
        batch: usize,
        edit: impl FnOnce(&mut Graph),
    ) -> Result<TrainStep> {
        let mut g = self.graph()?;
        edit(&mut g);
        let per = g.shape(g.inputs()[0]).numel();
        let mut model = Model::new(gpu, g)?;
        let opt = Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 5e-4,
            nesterov: false,
        };
        model.compile(Loss::SparseCategoricalCrossentropy, opt)?;
        let mut rng = Rng::new(9);
        Ok(TrainStep {
            model,
            x: rng.vec(batch * per),
            y: (0..batch).map(|i| (i % 10) as f32).collect(),
        })
    }
}

/// ImageNet-sized inference workloads (the pretrained-models issue): 1,000 classes at
/// 224 × 224, batch [`INFER_BATCH`], eval mode.
pub const INFER: [&str; 4] = [
    "resnet50_224",
    "mobilenet_v2_224",
    "xception_224",
    "vgg19_224",
];

/// The batch of the inference workloads.
pub const INFER_BATCH: usize = 8;

/// The graph of an [`INFER`] workload.
pub fn infer_graph(name: &str) -> Result<Graph> {
    match name {
        "resnet50_224" => models::resnet(models::ResNetDepth::R50, 224, 1000, 0),
        "mobilenet_v2_224" => models::mobilenet_v2(224, 1000, 0),
        "xception_224" => models::xception(224, 1000, 0),
        "vgg19_224" => models::vgg(models::VggDepth::V19, false, false, 1000, 0),
        other => Err(crate::error::Error::Model(format!(
            "no inference workload `{other}`"
        ))),
    }
}

/// A model and one batch: `step` records and submits one training step.
pub struct TrainStep {
    pub model: Model,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl TrainStep {
    pub fn step(&mut self) -> Result<()> {
        self.model.train_on_batch(&self.x, &[&self.y])
    }
    /// One step with every dispatch timed (see `Model::profile_on_batch`).
    pub fn profile(&mut self) -> Result<Vec<crate::gpu::timing::KernelTime>> {
        self.model.profile_on_batch(&self.x, &[&self.y])
    }
    pub fn batch(&self) -> usize {
        self.y.len()
    }
    /// Inference on the batch (the inference plan; logits read back).
    pub fn predict(&mut self) -> Result<()> {
        let n = self.batch();
        self.model.predict(&self.x, n).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::CONV;

    #[test]
    fn every_conv_workload_resolves() {
        for wl in &CONV {
            assert!(
                wl.params().resolve(&wl.x_shape(), &wl.w_shape()).is_ok(),
                "{}",
                wl.name
            );
        }
    }
}
