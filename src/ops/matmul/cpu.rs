//! Plain reference matrix product in f64.

use super::MatmulGeometry;
use crate::error::{Error, Result};
use crate::ops::backend::{CpuBackend, MatmulBackend};
use crate::ops::conv2d::cpu::bias_sums;
use crate::ops::host::{t, HostTensor};
use crate::ops::Reference;
use crate::shape::Shape;

/// `C[m, n] = Σ_k A[m·a_m + k·a_k] · B[k·b_k + n·b_n] (+ bias[n])`.
pub fn matmul(g: &MatmulGeometry, a: &[f64], b: &[f64], bias: Option<&[f64]>) -> Reference {
    let mut c = Reference::zeros(g.m * g.n);
    for m in 0..g.m {
        for n in 0..g.n {
            let o = m * g.n + n;
            if let Some(bias) = bias {
                c.add(o, bias[n]);
            }
            for k in 0..g.k {
                c.add(o, a[m * g.a_m + k * g.a_k] * b[k * g.b_k + n * g.b_n]);
            }
        }
    }
    c
}

impl MatmulBackend for CpuBackend {
    fn dense(&self, x: &HostTensor, w: &HostTensor, b: Option<&HostTensor>) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&x.shape, false, &w.shape, true)?;
        let bias = b.map(|b| b.to_vec());
        t(
            Shape::new([g.m, g.n]),
            matmul(&g, &x.v(), &w.v(), bias.as_deref()).values,
        )
    }
    fn dense_backward_data(&self, dy: &HostTensor, w: &HostTensor) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&dy.shape, false, &w.shape, false)?;
        t(
            Shape::new([g.m, g.n]),
            matmul(&g, &dy.v(), &w.v(), None).values,
        )
    }
    fn dense_backward_filter(&self, x: &HostTensor, dy: &HostTensor) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&dy.shape, true, &x.shape, false)?;
        t(
            Shape::new([g.m, g.n]),
            matmul(&g, &dy.v(), &x.v(), None).values,
        )
    }
    fn dense_backward_bias(&self, dy: &HostTensor) -> Result<HostTensor> {
        let &[n, c] = dy.shape.dims() else {
            return Err(Error::ShapeMismatch {
                op: "dense_backward_bias",
                what: "dy",
                expected: "rank 2 [n, out]".into(),
                got: dy.shape.to_string(),
            });
        };
        t(Shape::new([c]), bias_sums(&dy.v(), [n, c, 1]))
    }
}
