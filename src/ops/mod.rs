//! Operations. Each family is a folder: `mod.rs` (parameters, resolved geometry, eager API),
//! `cpu.rs` (plain f64 reference), `gpu.rs` (uniforms, kernel choice, dispatch).

pub mod conv2d;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Checks that every tensor lives on the first one's device.
pub(crate) fn same_device(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    match ts.split_first() {
        Some((first, rest)) if rest.iter().any(|t| !t.gpu().same(first.gpu())) => {
            Err(Error::DeviceMismatch { op })
        }
        _ => Ok(()),
    }
}
