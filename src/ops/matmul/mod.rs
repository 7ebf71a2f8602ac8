//! Matrix products: `matmul` with transposes, and the dense (fully connected) layer with its
//! gradients. Dense weights are `[out, in]`, as PyTorch's `Linear`.

pub mod backend;
mod blocks;
pub mod cpu;
pub mod gpu;
pub mod texture;

use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

const OP: &str = "matmul";

/// Strides and sizes of one product `C[m, n] = Σ_k A[m·a_m + k·a_k] · B[k·b_k + n·b_n]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MatmulGeometry {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Length of each dot product (the inner dimension).
    pub k: usize,
    /// Element stride of A along m.
    pub a_m: usize,
    /// Element stride of A along k.
    pub a_k: usize,
    /// Element stride of B along k.
    pub b_k: usize,
    /// Element stride of B along n.
    pub b_n: usize,
}

impl MatmulGeometry {
    /// `op(A)·op(B)` for row-major `a` and `b`, `op` transposing when asked.
    pub fn new(a: &Shape, trans_a: bool, b: &Shape, trans_b: bool) -> Result<MatmulGeometry> {
        let (&[ar, ac], &[br, bc]) = (a.dims(), b.dims()) else {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "operands",
                expected: "two rank-2 matrices".into(),
                got: format!("{a} and {b}"),
            });
        };
        let (m, k, a_m, a_k) = if trans_a {
            (ac, ar, 1, ac)
        } else {
            (ar, ac, ac, 1)
        };
        let (k2, n, b_k, b_n) = if trans_b {
            (bc, br, 1, bc)
        } else {
            (br, bc, bc, 1)
        };
        if k != k2 || m == 0 || n == 0 || k == 0 {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "inner dimensions",
                expected: format!("op(a) [{m}, {k}] and op(b) [{k}, n], all non-zero"),
                got: format!("op(b) [{k2}, {n}]"),
            });
        }
        for s in [a, b, &Shape::new([m, n])] {
            if s.numel() as u64 > u64::from(u32::MAX) {
                return Err(Error::TooLarge {
                    what: format!("matrix {s}"),
                    bytes: s.numel() as u64 * 4,
                    limit: u64::from(u32::MAX),
                });
            }
        }
        Ok(MatmulGeometry {
            m,
            n,
            k,
            a_m,
            a_k,
            b_k,
            b_n,
        })
    }
    /// FLOPs of the product (a multiply-add counts two).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// `op(a)·op(b)` for 2-D tensors.
pub fn matmul(a: &Tensor, trans_a: bool, b: &Tensor, trans_b: bool) -> Result<Tensor> {
    crate::ops::same_device(OP, &[a, b])?;
    let g = MatmulGeometry::new(a.shape(), trans_a, b.shape(), trans_b)?;
    gpu::matmul(a, b, None, &g)
}

fn dense_dims(x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    match (x.dims(), w.dims()) {
        (&[n, i], &[o, wi]) if i == wi => Ok((n, i, o)),
        _ => Err(Error::ShapeMismatch {
            op: "dense",
            what: "x [n, in] and w [out, in]",
            expected: "matching in".into(),
            got: format!("{} and {}", x.shape(), w.shape()),
        }),
    }
}

/// `y = x·wᵀ + b`: x `[n, in]`, w `[out, in]`, b `[out]`.
pub fn dense(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    crate::ops::same_device("dense", &[x, w])?;
    let (_, _, o) = dense_dims(x, w)?;
    if let Some(b) = b {
        crate::ops::same_device("dense", &[x, b])?;
        if b.dims() != [o] {
            return Err(Error::ShapeMismatch {
                op: "dense",
                what: "bias b",
                expected: format!("[{o}]"),
                got: b.shape().to_string(),
            });
        }
    }
    let g = MatmulGeometry::new(x.shape(), false, w.shape(), true)?;
    gpu::matmul(x, w, b, &g)
}

/// `dx = dy·w`: dy `[n, out]`, w `[out, in]`.
pub fn dense_backward_data(dy: &Tensor, w: &Tensor) -> Result<Tensor> {
    matmul(dy, false, w, false)
}

/// `dw = dyᵀ·x`: `[out, in]`.
pub fn dense_backward_filter(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    matmul(dy, true, x, false)
}

/// `db = Σ_n dy[n, :]`, a deterministic tree reduction per column.
pub fn dense_backward_bias(dy: &Tensor) -> Result<Tensor> {
    let &[n, o] = dy.dims() else {
        return Err(Error::ShapeMismatch {
            op: "dense",
            what: "dy",
            expected: "rank 2 [n, out]".into(),
            got: dy.shape().to_string(),
        });
    };
    crate::ops::conv2d::conv2d_backward_bias(&dy.reshape([n, o, 1, 1])?)
}
