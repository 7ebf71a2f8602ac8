//! # wgcnn
//!
//! Convolutional networks on WGSL compute shaders run through wgpu, each kernel proven
//! against a plain f64 CPU reference. Runs on any adapter wgpu reaches, including Mesa's
//! software Vulkan (lavapipe) on machines without a GPU.
//!
//! - [`ops`]: the eager op API (conv2d, pooling, reductions, matmul, norms, optimisers);
//! - [`nn`], [`graph`], [`train`], [`models`]: layers, graphs compiled to one-submit training
//!   plans, `fit` / `evaluate` / `predict`, safetensors checkpoints, the model zoo.
//!
//! ```
//! use wgcnn::prelude::*;
//!
//! let gpu = Gpu::new()?;                                   // best adapter, or Err with a hint
//! let x = Tensor::from_slice(&gpu, [1, 1, 4, 4], &[1.0; 16])?;
//! let w = Tensor::from_slice(&gpu, [2, 1, 3, 3], &[0.5; 18])?;
//! let p = Conv2dParams::new(3).padding(Padding::Same);
//! let y = conv2d(&x, &w, None, &p)?;                       // recorded, not yet submitted
//! assert_eq!(y.dims(), &[1, 2, 4, 4]);
//! let values = y.to_vec()?;                                // submits, waits, reads back
//! assert_eq!(values[5], 4.5);                              // an interior pixel: 9 taps × 0.5
//! # Ok::<(), wgcnn::Error>(())
//! ```

#![warn(missing_docs)]

pub mod data;
#[cfg(feature = "mpi")]
pub mod dist;
pub mod error;
pub mod gpu;
pub mod graph;
pub mod models;
pub mod nn;
pub mod ops;
pub mod rng;
pub mod shape;
pub mod tensor;
#[doc(hidden)]
pub mod testing;
pub mod train;

pub use error::{Error, Result};

/// Runs the README's example as a doc-test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub use gpu::Gpu;
pub use ops::conv2d::{
    conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, Conv2dGeometry,
    Conv2dKernel, Conv2dParams, ConvTuning,
};
pub use shape::{Padding, Shape, HW};
pub use tensor::Tensor;

/// The names most programs need.
pub mod prelude {
    pub use crate::graph::{GraphBuilder, Sequential};
    pub use crate::ops::optim::Optimizer;
    pub use crate::{
        conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, Conv2dParams,
        ConvTuning, Error, Gpu, Padding, Result, Shape, Tensor, HW,
    };
}
