//! The registry of WGSL sources. Every shader the crate dispatches is listed here; the naga
//! test walks this list (and `all_pipelines`) rather than a folder.

use super::pipelines::PipelineKey;
use super::UniformBlock;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Shader {
    Conv2dForward,
    Conv2dBackwardData,
    Conv2dBackwardFilter,
    Conv2dDepthwise,
    Conv2dReduce,
    Conv2dWinograd,
    Pool,
    Elementwise,
    Matmul,
    Reduce,
    Optim,
    Norm,
    Lrn,
    ReduceSubgroup,
    Augment,
}

impl Shader {
    pub const ALL: &'static [Shader] = &[
        Shader::Conv2dForward,
        Shader::Conv2dBackwardData,
        Shader::Conv2dBackwardFilter,
        Shader::Conv2dDepthwise,
        Shader::Conv2dReduce,
        Shader::Conv2dWinograd,
        Shader::Pool,
        Shader::Elementwise,
        Shader::Matmul,
        Shader::Reduce,
        Shader::Optim,
        Shader::Norm,
        Shader::Lrn,
        Shader::ReduceSubgroup,
        Shader::Augment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shader::Conv2dForward => "conv2d_forward",
            Shader::Conv2dBackwardData => "conv2d_backward_data",
            Shader::Conv2dBackwardFilter => "conv2d_backward_filter",
            Shader::Conv2dDepthwise => "conv2d_depthwise",
            Shader::Conv2dReduce => "conv2d_reduce",
            Shader::Conv2dWinograd => "conv2d_winograd",
            Shader::Pool => "pool",
            Shader::Elementwise => "elementwise",
            Shader::Matmul => "matmul",
            Shader::Reduce => "reduce",
            Shader::Optim => "optim",
            Shader::Norm => "norm",
            Shader::Lrn => "lrn",
            Shader::ReduceSubgroup => "reduce_subgroup",
            Shader::Augment => "augment",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            // The conv shaders with an epilogue share its activation function.
            // The direct conv shaders share their uniform block.
            Shader::Conv2dForward => concat!(
                include_str!("../../shaders/conv2d_params.wgsl"),
                include_str!("../../shaders/conv2d_forward.wgsl"),
                include_str!("../../shaders/conv2d_activation.wgsl")
            ),
            Shader::Conv2dBackwardData => concat!(
                include_str!("../../shaders/conv2d_params.wgsl"),
                include_str!("../../shaders/conv2d_backward_data.wgsl")
            ),
            Shader::Conv2dBackwardFilter => concat!(
                include_str!("../../shaders/conv2d_params.wgsl"),
                include_str!("../../shaders/conv2d_backward_filter.wgsl")
            ),
            Shader::Conv2dDepthwise => concat!(
                include_str!("../../shaders/conv2d_params.wgsl"),
                include_str!("../../shaders/conv2d_depthwise.wgsl"),
                include_str!("../../shaders/conv2d_activation.wgsl")
            ),
            Shader::Conv2dWinograd => concat!(
                include_str!("../../shaders/conv2d_winograd.wgsl"),
                include_str!("../../shaders/conv2d_activation.wgsl")
            ),
            Shader::Conv2dReduce => concat!(
                include_str!("../../shaders/conv2d_params.wgsl"),
                include_str!("../../shaders/conv2d_reduce.wgsl")
            ),
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Reduce => concat!(
                include_str!("../../shaders/reduce_params.wgsl"),
                include_str!("../../shaders/reduce.wgsl")
            ),
            Shader::Optim => include_str!("../../shaders/optim.wgsl"),
            Shader::Norm => include_str!("../../shaders/norm.wgsl"),
            Shader::Lrn => include_str!("../../shaders/lrn.wgsl"),
            Shader::Augment => include_str!("../../shaders/augment.wgsl"),
            Shader::ReduceSubgroup => concat!(
                include_str!("../../shaders/reduce_params.wgsl"),
                include_str!("../../shaders/reduce_subgroup.wgsl")
            ),
        }
    }

    /// Whether the shader needs the device feature SUBGROUP (`enable subgroups;`).
    pub fn needs_subgroups(self) -> bool {
        self == Shader::ReduceSubgroup
    }

    /// Compute entry points of the file.
    pub fn entry_points(self) -> &'static [&'static str] {
        match self {
            Shader::Conv2dForward => &["forward", "forward_tiled"],
            Shader::Conv2dBackwardData => &["backward_data"],
            Shader::Conv2dBackwardFilter => &["backward_filter"],
            Shader::Conv2dDepthwise => &["forward", "backward_data", "backward_filter"],
            Shader::Conv2dReduce => &["sum_splits", "backward_bias"],
            Shader::Conv2dWinograd => &[
                "filter_transform",
                "input_transform",
                "output_transform",
                "dy_transform",
                "filter_output",
            ],
            Shader::Pool => &[
                "max_forward",
                "max_backward",
                "max_backward_cells",
                "avg_forward",
                "avg_backward",
                "adaptive_forward",
                "adaptive_backward",
                "channel_max_forward",
                "channel_max_backward",
            ],
            Shader::Elementwise => &[
                "activation_forward",
                "activation_backward",
                "activation_backward_output",
                "binary",
                "bias_add",
                "dropout",
                "copy_channels",
                "accumulate",
                "track_nonfinite",
            ],
            Shader::Matmul => &["matmul", "matmul_tiled", "accumulate"],
            Shader::Reduce => &[
                "reduce_axis",
                "reduce_axis_tree",
                "sum_all",
                "softmax",
                "softmax_xent",
                "topk_hits",
                "pointwise_loss",
                "rows_apply",
            ],
            Shader::Optim => &["sgd", "adam", "nadam", "rmsprop"],
            Shader::Norm => &[
                "stats_forward",
                "stats_partial",
                "stats_finalize",
                "normalize",
                "backward_reduce",
                "backward_data",
                "fold_conv",
            ],
            Shader::Lrn => &["forward", "backward_terms", "backward_data"],
            Shader::Augment => &["forward"],
            Shader::ReduceSubgroup => &["sum_all_subgroup"],
        }
    }

    /// The storage buffers at bindings 1, 2, …: `true` = read-only. Binding 0 is always the
    /// uniform `Params` block.
    pub fn storage_read_only(self) -> &'static [bool] {
        match self {
            // x, w, bias, y
            Shader::Conv2dForward => &[true, true, true, false],
            // dy, w, dx
            Shader::Conv2dBackwardData => &[true, true, false],
            // x, dy, dw (or split partials)
            Shader::Conv2dBackwardFilter => &[true, true, false],
            // a, b, bias, out: forward (x, w, bias, y), dX (dy, w, -, dx), dW (x, dy, -, parts)
            Shader::Conv2dDepthwise => &[true, true, true, false],
            // src, dst
            Shader::Conv2dReduce => &[true, false],
            // src, bias, dst
            Shader::Conv2dWinograd => &[true, true, false],
            // src, aux, dst, dst_idx
            Shader::Pool => &[true, true, false, false],
            // a, b, dst
            Shader::Elementwise => &[true, true, false],
            // a, b, bias, c
            Shader::Matmul => &[true, true, true, false],
            // src, aux, dst, dst2
            Shader::Reduce | Shader::ReduceSubgroup => &[true, true, false, false],
            // grad, param, s1, s2, s3
            Shader::Optim => &[true, false, false, false, false],
            // x, dy, gamma, aux, stats, out, chan_out
            Shader::Norm => &[true, true, true, true, true, false, false],
            // a, b, t, out
            Shader::Lrn => &[true, true, true, false],
            Shader::Augment => &[true, true, false],
        }
    }
}

impl Shader {
    /// Field names and offsets of the Rust mirror of the shader's uniform `Params`, and its size.
    pub fn uniform_layout(self) -> (&'static [(&'static str, usize)], usize) {
        use crate::ops::{augment, conv2d, elementwise, lrn, matmul, norm, optim, pool, reduce};
        fn of<T: UniformBlock>() -> (&'static [(&'static str, usize)], usize) {
            (T::FIELDS, std::mem::size_of::<T>())
        }
        match self {
            // Every conv2d shader shares one uniform block.
            Shader::Conv2dForward
            | Shader::Conv2dBackwardData
            | Shader::Conv2dBackwardFilter
            | Shader::Conv2dDepthwise
            | Shader::Conv2dReduce => of::<conv2d::gpu::Conv2dUniforms>(),
            Shader::Conv2dWinograd => of::<conv2d::winograd::WinogradUniforms>(),
            Shader::Pool => of::<pool::gpu::PoolUniforms>(),
            Shader::Elementwise => of::<elementwise::gpu::EwUniforms>(),
            Shader::Matmul => of::<matmul::gpu::MatmulUniforms>(),
            Shader::Reduce | Shader::ReduceSubgroup => of::<reduce::gpu::ReduceUniforms>(),
            Shader::Optim => of::<optim::gpu::OptimUniforms>(),
            Shader::Norm => of::<norm::gpu::NormUniforms>(),
            Shader::Lrn => of::<lrn::gpu::LrnUniforms>(),
            Shader::Augment => of::<augment::gpu::AugmentUniforms>(),
        }
    }
}

/// Every pipeline (shader, entry point, override set) the crate can dispatch.
pub fn all_pipelines() -> Vec<PipelineKey> {
    let mut keys = crate::ops::conv2d::gpu::pipelines();
    keys.extend(crate::ops::pool::gpu::pipelines());
    keys.extend(crate::ops::elementwise::gpu::pipelines());
    keys.extend(crate::ops::matmul::gpu::pipelines());
    keys.extend(crate::ops::reduce::gpu::pipelines());
    keys.extend(crate::ops::optim::gpu::pipelines());
    keys.extend(crate::ops::norm::gpu::pipelines());
    keys.extend(crate::ops::lrn::gpu::pipelines());
    keys.extend(crate::ops::augment::gpu::pipelines());
    keys
}
