//! Synchronised batch norm's forward pass (data-parallel training): the batch statistics
//! become the whole global batch's at an exchange point of the plan (`gpu::exchange`), where
//! each process's mean, variance and count are combined. Before that point the range holds
//! this process's own statistics, so in one process (or eagerly) this is batch norm itself;
//! the CPU reference of the combined statistics is batch norm over the concatenated batch
//! (tests/distributed.rs: 2 ranks × 16 against 1 rank × 32).

use super::gpu::{batch_stats, normalize, unpack, Dims};
use super::{BatchNormParams, BatchNormTrain};
use crate::error::Result;
use crate::gpu::exchange::Exchange;
use crate::ops::elementwise::{axpby, scale};
use crate::shape::Shape;
use crate::tensor::Tensor;

pub(super) fn train_forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    p: &BatchNormParams,
    dims: Dims,
) -> Result<BatchNormTrain> {
    let gpu = x.gpu();
    let c = dims.1;
    let count = dims.0 * dims.2;
    let (u, chan) = batch_stats(x, rm, rv, p, dims)?;
    // [mean | biased variance | unbiased variance]: this process's, then the global batch's.
    let stats = Tensor::uninit(gpu, Shape::new([3 * c]))?;
    gpu.copy(&chan, 0, &stats, 0, 2 * c)?;
    // One value per channel here (the global batch has more): a finite stand-in, replaced.
    let unbiased = scale(
        &unpack(gpu, &chan, 1, c)?,
        count as f32 / (count.max(2) - 1) as f32,
    )?;
    gpu.copy(&unbiased, 0, &stats, 2 * c, c)?;
    gpu.exchange_point(&stats, 3 * c, Exchange::Statistics { groups: c, count })?;
    let y = normalize(x, gamma, beta, &stats, &u)?;
    let mean = unpack(gpu, &stats, 0, c)?;
    let var = unpack(gpu, &stats, 1, c)?;
    let m = p.momentum;
    let new_mean = axpby(1.0 - m, rm, m, &mean)?;
    let new_var = axpby(1.0 - m, rv, m, &unpack(gpu, &stats, 2, c)?)?;
    gpu.copy(&new_mean, 0, rm, 0, c)?;
    gpu.copy(&new_var, 0, rv, 0, c)?;
    Ok(BatchNormTrain {
        y,
        batch_mean: mean,
        batch_var: var,
        running_mean: rm.clone(),
        running_var: rv.clone(),
    })
}
