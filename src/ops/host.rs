//! `HostTensor`: the f64 tensor of the reference backend.

use std::cell::RefCell;
use std::rc::Rc;

use super::backend::BackendTensor;
use crate::error::{Error, Result};
use crate::shape::Shape;

/// A host tensor in f64. Clones share storage, like GPU tensors (running statistics are
/// updated in place).
#[derive(Clone, Debug)]
pub struct HostTensor {
    pub(crate) shape: Shape,
    pub(crate) data: Rc<RefCell<Vec<f64>>>,
}

impl BackendTensor for HostTensor {
    fn shape(&self) -> &Shape {
        &self.shape
    }
}

impl HostTensor {
    /// A tensor of `shape` holding `data` (row-major, last index fastest); an
    /// [`Error::ShapeMismatch`] unless `data` has the shape's element count.
    pub fn new(shape: impl Into<Shape>, data: Vec<f64>) -> Result<HostTensor> {
        let shape = shape.into();
        if shape.checked_numel() != Some(data.len()) {
            return Err(Error::ShapeMismatch {
                op: "HostTensor::new",
                what: "element count",
                expected: format!("{} for {shape}", shape.numel()),
                got: data.len().to_string(),
            });
        }
        Ok(HostTensor {
            shape,
            data: Rc::new(RefCell::new(data)),
        })
    }
    /// [`HostTensor::new`] from f32 values, widened exactly to f64.
    pub fn from_f32(shape: impl Into<Shape>, data: &[f32]) -> Result<HostTensor> {
        HostTensor::new(shape, data.iter().map(|&v| f64::from(v)).collect())
    }
    /// A copy of the values, row-major.
    pub fn to_vec(&self) -> Vec<f64> {
        self.data.borrow().clone()
    }
    /// Overwrites the values (same length).
    pub(crate) fn set(&self, v: Vec<f64>) {
        *self.data.borrow_mut() = v;
    }
    pub(crate) fn v(&self) -> std::cell::Ref<'_, Vec<f64>> {
        self.data.borrow()
    }
}

pub(crate) fn t(shape: Shape, data: Vec<f64>) -> Result<HostTensor> {
    HostTensor::new(shape, data)
}

pub(crate) fn dims4(s: &Shape) -> Result<[usize; 4]> {
    match *s.dims() {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::ShapeMismatch {
            op: "reference",
            what: "tensor",
            expected: "rank 4 [n, c, h, w]".into(),
            got: s.to_string(),
        }),
    }
}

/// `[n, c, hw]` of an NCHW (or `[n, c]`) shape.
pub(crate) fn nc_hw(s: &Shape) -> [usize; 3] {
    let d = s.dims();
    [
        d.first().copied().unwrap_or(1),
        d.get(1).copied().unwrap_or(1),
        d.iter().skip(2).product(),
    ]
}

/// Checks that a gradient has its value's shape.
pub(crate) fn same_shape(dy: &HostTensor, x: &HostTensor) -> Result<()> {
    if dy.shape != x.shape {
        return Err(Error::ShapeMismatch {
            op: "reference",
            what: "gradient",
            expected: x.shape.to_string(),
            got: dy.shape.to_string(),
        });
    }
    Ok(())
}
