//! The ops a layer is written against, once, for two backends: the GPU kernels
//! ([`GpuBackend`]) and the f64 reference ([`crate::nn::reference::CpuBackend`]). Training on
//! either runs the same layer and autodiff code, which is what lets the CPU prove the GPU.

use crate::error::Result;
use crate::ops;
use crate::ops::augment::AugmentParams;
use crate::ops::conv2d::Conv2dParams;
use crate::ops::elementwise::Activation;
use crate::ops::lrn::LrnParams;
use crate::ops::norm::BatchNormParams;
use crate::ops::pool::Pool2dParams;
use crate::ops::reduce::PointwiseLoss;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A backend's tensor: cheap to clone (shared storage), with a shape.
pub trait BackendTensor: Clone {
    /// The tensor's shape, outermost first.
    fn shape(&self) -> &Shape;
}

impl BackendTensor for Tensor {
    fn shape(&self) -> &Shape {
        Tensor::shape(self)
    }
}

/// Forward and backward ops in the layouts of `ops` (NCHW, OIHW, dense `[out, in]`).
pub trait Backend {
    /// The backend's tensor: [`Tensor`] on the GPU, a host tensor of f64 in the reference.
    type T: BackendTensor;
    /// The same elements under shape `s`; an error unless `s` has `x`'s element count.
    fn reshape(&self, x: &Self::T, s: Shape) -> Result<Self::T>;
    /// `conv2d(x, w) + b`: x `[n, c_in, h, w]`, w `[c_out, c_in/groups, kh, kw]`, b `[c_out]`.
    fn conv2d(
        &self,
        x: &Self::T,
        w: &Self::T,
        b: Option<&Self::T>,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// `f(conv2d(x, w) + b)` with the activation in the conv's epilogue.
    fn conv2d_activated(
        &self,
        x: &Self::T,
        w: &Self::T,
        b: Option<&Self::T>,
        p: &Conv2dParams,
        f: Activation,
    ) -> Result<Self::T>;
    /// Gradient of the conv with respect to its input, shaped `x`.
    fn conv2d_backward_data(
        &self,
        dy: &Self::T,
        w: &Self::T,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// Gradient of the conv with respect to its weights, `[c_out, c_in/groups, kh, kw]`.
    fn conv2d_backward_filter(
        &self,
        x: &Self::T,
        dy: &Self::T,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// Sums `dy` over every axis but 1 (conv and dense bias gradients).
    fn bias_backward(&self, dy: &Self::T) -> Result<Self::T>;
    /// `x·wᵀ + b`: x `[n, in]`, w `[out, in]`, b `[out]`.
    fn dense(&self, x: &Self::T, w: &Self::T, b: Option<&Self::T>) -> Result<Self::T>;
    /// `dx = dy·w`: dy `[n, out]`, w `[out, in]`.
    fn dense_backward_data(&self, dy: &Self::T, w: &Self::T) -> Result<Self::T>;
    /// `dw = dyᵀ·x`, `[out, in]`.
    fn dense_backward_filter(&self, x: &Self::T, dy: &Self::T) -> Result<Self::T>;
    /// (y, arg-max indices when `with_idx`; inference skips them).
    fn max_pool(
        &self,
        x: &Self::T,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(Self::T, Option<Self::T>)>;
    /// Gradient of max pooling, shaped `x`: each `dy` goes to its window's arg-max in `idx`,
    /// summed where windows overlap.
    fn max_pool_backward(
        &self,
        dy: &Self::T,
        idx: &Self::T,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<Self::T>;
    /// Average pooling of NCHW `x`.
    fn avg_pool(&self, x: &Self::T, p: &Pool2dParams) -> Result<Self::T>;
    /// Gradient of average pooling, shaped `x`.
    fn avg_pool_backward(&self, dy: &Self::T, x: &Shape, p: &Pool2dParams) -> Result<Self::T>;
    /// `[n, c, h, w]` → `[n, c, 1, 1]`.
    fn global_avg_pool(&self, x: &Self::T) -> Result<Self::T>;
    /// Gradient of [`Backend::global_avg_pool`] from dy `[n, c, 1, 1]`, shaped `x`.
    fn global_avg_pool_backward(&self, dy: &Self::T, x: &Shape) -> Result<Self::T>;
    /// Maximum over groups of `k` consecutive channels, `[n, c, h, w]` → `[n, c/k, h, w]`:
    /// (y, flat channel index of each maximum as exact f32 values).
    fn channel_max_pool(&self, x: &Self::T, k: usize) -> Result<(Self::T, Self::T)>;
    /// Gradient of channel max pooling, shaped `x`, from the indices it returned.
    fn channel_max_pool_backward(
        &self,
        dy: &Self::T,
        idx: &Self::T,
        x: &Shape,
        k: usize,
    ) -> Result<Self::T>;
    /// (y, batch mean, batch biased variance); updates the running statistics in place.
    fn batch_norm_train(
        &self,
        x: &Self::T,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        p: &BatchNormParams,
    ) -> Result<[Self::T; 3]>;
    /// Evaluation-mode batch norm: normalises with the running statistics (mean, variance).
    fn batch_norm_eval(
        &self,
        x: &Self::T,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        eps: f32,
    ) -> Result<Self::T>;
    /// (dx, dgamma, dbeta); `training`: `mean_var` are the batch's statistics.
    fn batch_norm_backward(
        &self,
        dy: &Self::T,
        x: &Self::T,
        gamma: &Self::T,
        mean_var: [&Self::T; 2],
        eps: f32,
        training: bool,
    ) -> Result<[Self::T; 3]>;
    /// A batch norm in evaluation mode folded into the conv weight `w` and bias `b` before it:
    /// `(w·s, beta + (b − mean)·s)`, `s = gamma/√(var + eps)` per output channel.
    fn fold_batch_norm(
        &self,
        w: &Self::T,
        b: Option<&Self::T>,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        eps: f32,
    ) -> Result<(Self::T, Self::T)>;
    /// `f(x)` elementwise.
    fn activation(&self, x: &Self::T, f: Activation) -> Result<Self::T>;
    /// `dy · f'(x)` from the activation's input `x`.
    fn activation_backward(&self, dy: &Self::T, x: &Self::T, f: Activation) -> Result<Self::T>;
    /// `dy · f'(x)` from `y = f(x)` (see `Activation::grad_from_output`).
    fn activation_backward_from_output(
        &self,
        dy: &Self::T,
        y: &Self::T,
        f: Activation,
    ) -> Result<Self::T>;
    /// Dropout whose mask is keyed by (seed, step); a compiled plan advances `step` itself.
    fn dropout(&self, x: &Self::T, rate: f32, seed: u32, step: u32) -> Result<Self::T>;
    /// Gradient of [`Backend::dropout`]: the mask of the same `rate`, `seed` and `step`
    /// recomputed and applied to `dy`.
    fn dropout_backward(&self, dy: &Self::T, rate: f32, seed: u32, step: u32) -> Result<Self::T>;
    /// Random augmentation keyed by (seed, step); a compiled plan advances `step` itself.
    fn augment(&self, x: &Self::T, p: &AugmentParams, seed: u32, step: u32) -> Result<Self::T>;
    /// Local response normalisation across the channels of NCHW `x`.
    fn lrn(&self, x: &Self::T, p: &LrnParams) -> Result<Self::T>;
    /// Gradient of [`Backend::lrn`] from its input `x`.
    fn lrn_backward(&self, dy: &Self::T, x: &Self::T, p: &LrnParams) -> Result<Self::T>;
    /// `alpha·a + beta·b` for `a` and `b` of one shape.
    fn axpby(&self, alpha: f32, a: &Self::T, beta: f32, b: &Self::T) -> Result<Self::T>;
    /// `max(a + b, 0)`.
    fn add_relu(&self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// Concatenates NCHW tensors of equal n, h, w along channels.
    fn concat(&self, parts: &[&Self::T]) -> Result<Self::T>;
    /// Splits NCHW `x` along channels into parts of `sizes` channels (the gradient of
    /// [`Backend::concat`]).
    fn split(&self, x: &Self::T, sizes: &[usize]) -> Result<Vec<Self::T>>;
    /// (mean loss `[1]`, d loss / d logits) for class indices held as exact f32 values.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::T,
        targets: &Self::T,
    ) -> Result<(Self::T, Self::T)>;
    /// (loss `[1]`, d loss / d pred) of a loss averaged over every element, for `pred` and
    /// `target` of one shape.
    fn pointwise_loss(
        &self,
        pred: &Self::T,
        target: &Self::T,
        loss: PointwiseLoss,
    ) -> Result<(Self::T, Self::T)>;
    /// `[1]`: rows whose target class has the largest logit (ties count for the target).
    fn hits(&self, logits: &Self::T, targets: &Self::T) -> Result<Self::T>;
}

/// The GPU kernels: ops recorded into the device's pending encoder, or into the plan being
/// captured on this thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuBackend;

impl Backend for GpuBackend {
    type T = Tensor;
    fn reshape(&self, x: &Tensor, s: Shape) -> Result<Tensor> {
        x.reshape(s)
    }
    fn conv2d(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        p: &Conv2dParams,
    ) -> Result<Tensor> {
        ops::conv2d::conv2d(x, w, b, p)
    }
    fn conv2d_activated(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        p: &Conv2dParams,
        f: Activation,
    ) -> Result<Tensor> {
        ops::conv2d::conv2d_activated(x, w, b, p, f)
    }
    fn conv2d_backward_data(
        &self,
        dy: &Tensor,
        w: &Tensor,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<Tensor> {
        ops::conv2d::conv2d_backward_data(dy, w, x, p)
    }
    fn conv2d_backward_filter(&self, x: &Tensor, dy: &Tensor, p: &Conv2dParams) -> Result<Tensor> {
        ops::conv2d::conv2d_backward_filter(x, dy, p)
    }
    fn bias_backward(&self, dy: &Tensor) -> Result<Tensor> {
        if dy.shape().rank() == 2 {
            ops::matmul::dense_backward_bias(dy)
        } else {
            ops::conv2d::conv2d_backward_bias(dy)
        }
    }
    fn dense(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        ops::matmul::dense(x, w, b)
    }
    fn dense_backward_data(&self, dy: &Tensor, w: &Tensor) -> Result<Tensor> {
        ops::matmul::dense_backward_data(dy, w)
    }
    fn dense_backward_filter(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        ops::matmul::dense_backward_filter(x, dy)
    }
    fn max_pool(
        &self,
        x: &Tensor,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        match with_idx {
            true => ops::pool::max_pool2d(x, p).map(|(y, i)| (y, Some(i))),
            false => ops::pool::max_pool2d_inference(x, p).map(|y| (y, None)),
        }
    }
    fn max_pool_backward(
        &self,
        dy: &Tensor,
        idx: &Tensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<Tensor> {
        ops::pool::max_pool2d_backward(dy, idx, x, p)
    }
    fn avg_pool(&self, x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
        ops::pool::avg_pool2d(x, p)
    }
    fn avg_pool_backward(&self, dy: &Tensor, x: &Shape, p: &Pool2dParams) -> Result<Tensor> {
        ops::pool::avg_pool2d_backward(dy, x, p)
    }
    fn global_avg_pool(&self, x: &Tensor) -> Result<Tensor> {
        ops::pool::global_avg_pool2d(x)
    }
    fn global_avg_pool_backward(&self, dy: &Tensor, x: &Shape) -> Result<Tensor> {
        ops::pool::adaptive_avg_pool2d_backward(dy, x)
    }
    fn channel_max_pool(&self, x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
        ops::pool::channel_max_pool(x, k)
    }
    fn channel_max_pool_backward(
        &self,
        dy: &Tensor,
        idx: &Tensor,
        x: &Shape,
        k: usize,
    ) -> Result<Tensor> {
        ops::pool::channel_max_pool_backward(dy, idx, x, k)
    }
    fn batch_norm_train(
        &self,
        x: &Tensor,
        [g, b]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        p: &BatchNormParams,
    ) -> Result<[Tensor; 3]> {
        let t = ops::norm::batch_norm_train(x, g, b, rm, rv, p)?;
        Ok([t.y, t.batch_mean, t.batch_var])
    }
    fn batch_norm_eval(
        &self,
        x: &Tensor,
        [g, b]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        eps: f32,
    ) -> Result<Tensor> {
        ops::norm::batch_norm_eval(x, g, b, rm, rv, eps)
    }
    fn batch_norm_backward(
        &self,
        dy: &Tensor,
        x: &Tensor,
        gamma: &Tensor,
        [mean, var]: [&Tensor; 2],
        eps: f32,
        training: bool,
    ) -> Result<[Tensor; 3]> {
        let g = if training {
            ops::norm::batch_norm_backward_train(dy, x, gamma, mean, var, eps)?
        } else {
            ops::norm::batch_norm_backward_eval(dy, x, gamma, mean, var, eps)?
        };
        Ok([g.dx, g.dgamma, g.dbeta])
    }
    fn fold_batch_norm(
        &self,
        w: &Tensor,
        b: Option<&Tensor>,
        [g, be]: [&Tensor; 2],
        [rm, rv]: [&Tensor; 2],
        eps: f32,
    ) -> Result<(Tensor, Tensor)> {
        ops::norm::fold_into_conv(w, b, g, be, rm, rv, eps)
    }
    fn activation(&self, x: &Tensor, f: Activation) -> Result<Tensor> {
        ops::elementwise::activation(x, f)
    }
    fn activation_backward(&self, dy: &Tensor, x: &Tensor, f: Activation) -> Result<Tensor> {
        ops::elementwise::activation_backward(dy, x, f)
    }
    fn activation_backward_from_output(
        &self,
        dy: &Tensor,
        y: &Tensor,
        f: Activation,
    ) -> Result<Tensor> {
        ops::elementwise::activation_backward_from_output(dy, y, f)
    }
    fn dropout(&self, x: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
        ops::elementwise::dropout(x, rate, seed, step)
    }
    fn dropout_backward(&self, dy: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
        ops::elementwise::dropout_backward(dy, rate, seed, step)
    }
    fn augment(&self, x: &Tensor, p: &AugmentParams, seed: u32, step: u32) -> Result<Tensor> {
        ops::augment::augment(x, p, seed, step)
    }
    fn lrn(&self, x: &Tensor, p: &LrnParams) -> Result<Tensor> {
        ops::lrn::lrn(x, p)
    }
    fn lrn_backward(&self, dy: &Tensor, x: &Tensor, p: &LrnParams) -> Result<Tensor> {
        ops::lrn::lrn_backward(dy, x, p)
    }
    fn axpby(&self, alpha: f32, a: &Tensor, beta: f32, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::axpby(alpha, a, beta, b)
    }
    fn add_relu(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::add_relu(a, b)
    }
    fn concat(&self, parts: &[&Tensor]) -> Result<Tensor> {
        ops::elementwise::concat_channels(parts)
    }
    fn split(&self, x: &Tensor, sizes: &[usize]) -> Result<Vec<Tensor>> {
        ops::elementwise::split_channels(x, sizes)
    }
    fn softmax_cross_entropy(&self, logits: &Tensor, targets: &Tensor) -> Result<(Tensor, Tensor)> {
        let (rows, classes) = ops::reduce::rows_cols("softmax_cross_entropy", logits)?;
        ops::reduce::check_target_tensor("softmax_cross_entropy", targets, rows)?;
        ops::reduce::gpu::softmax_xent(logits, targets, rows, classes)
    }
    fn pointwise_loss(
        &self,
        pred: &Tensor,
        target: &Tensor,
        loss: PointwiseLoss,
    ) -> Result<(Tensor, Tensor)> {
        ops::reduce::pointwise_loss(pred, target, loss)
    }
    fn hits(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (rows, classes) = ops::reduce::rows_cols("hits", logits)?;
        ops::reduce::check_target_tensor("hits", targets, rows)?;
        ops::reduce::gpu::topk_hits(logits, targets, rows, classes, 1)
    }
}
