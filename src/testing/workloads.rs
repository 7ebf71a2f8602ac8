//! The convolution workloads of BENCH.md, as one table for the benches, the bench example
//! and the tests.

use crate::ops::conv2d::{Conv2dGeometry, Conv2dParams};
use crate::shape::{Padding, Shape};

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
}

pub const OTHER: [(&str, OtherWorkload); 7] = [
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
        "batch_norm_64x16x8x8",
        OtherWorkload::BatchNorm {
            n: 64,
            c: 16,
            hw: 8,
        },
    ),
];
