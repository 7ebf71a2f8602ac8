//! The conv2d shaders: their definitions, the pipeline keys the dispatch code builds and the
//! list of every pipeline the naga test validates.

use super::gpu::Conv2dUniforms;
use super::kernel::RegisterTile;
use super::winograd::{WinogradUniforms, BLOCKS, WG as WINOGRAD_WG};
use crate::gpu::shaders::entry_point;
use crate::gpu::{Overrides, PipelineKey, ShaderDef, TextureBinding, UniformLayout};

/// `shaders/conv2d_forward.wgsl`: implicit-GEMM forward; x, w, bias, y.
pub static FORWARD: ShaderDef = ShaderDef {
    name: "conv2d_forward",
    source: include_str!("../../../shaders/conv2d_forward.wgsl"),
    entry_points: &["forward", "forward_tiled"],
    storage_read_only: &[true, true, true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/conv2d_texture.wgsl`: the forward GEMM over texels; bias, y, then x's and w's
/// textures.
pub static TEXTURE: ShaderDef = ShaderDef {
    name: "conv2d_texture",
    source: include_str!("../../../shaders/conv2d_texture.wgsl"),
    entry_points: &["forward"],
    storage_read_only: &[true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[TextureBinding::Read, TextureBinding::Read],
};

/// `shaders/conv2d_texture_pack.wgsl`: x or w, then the texture written.
pub static TEXTURE_PACK: ShaderDef = ShaderDef {
    name: "conv2d_texture_pack",
    source: include_str!("../../../shaders/conv2d_texture_pack.wgsl"),
    entry_points: &["pack_input", "pack_filter", "pack_filter_flipped"],
    storage_read_only: &[true],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[TextureBinding::Write],
};

/// `shaders/conv2d_backward_data.wgsl`: implicit-GEMM dX; dy, w, dx.
pub static BACKWARD_DATA: ShaderDef = ShaderDef {
    name: "conv2d_backward_data",
    source: include_str!("../../../shaders/conv2d_backward_data.wgsl"),
    entry_points: &["backward_data"],
    storage_read_only: &[true, true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/conv2d_backward_filter.wgsl`: implicit-GEMM dW; x, dy, dw (or split partials).
pub static BACKWARD_FILTER: ShaderDef = ShaderDef {
    name: "conv2d_backward_filter",
    source: include_str!("../../../shaders/conv2d_backward_filter.wgsl"),
    entry_points: &["backward_filter"],
    storage_read_only: &[true, true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/conv2d_depthwise.wgsl`: depthwise passes; forward (x, w, bias, y), dX (dy, w, -, dx), dW (x, dy, -, parts).
pub static DEPTHWISE: ShaderDef = ShaderDef {
    name: "conv2d_depthwise",
    source: include_str!("../../../shaders/conv2d_depthwise.wgsl"),
    entry_points: &["forward", "backward_data", "backward_filter"],
    storage_read_only: &[true, true, true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/conv2d_reduce.wgsl`: split sums and the bias gradient; src, dst.
pub static REDUCE: ShaderDef = ShaderDef {
    name: "conv2d_reduce",
    source: include_str!("../../../shaders/conv2d_reduce.wgsl"),
    entry_points: &["sum_splits", "backward_bias"],
    storage_read_only: &[true, false],
    uniform: UniformLayout::of::<Conv2dUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

/// `shaders/conv2d_winograd.wgsl`: Winograd transforms; src, bias, dst.
pub static WINOGRAD: ShaderDef = ShaderDef {
    name: "conv2d_winograd",
    source: include_str!("../../../shaders/conv2d_winograd.wgsl"),
    entry_points: &[
        "filter_transform",
        "input_transform",
        "output_transform",
        "dy_transform",
        "filter_output",
    ],
    storage_read_only: &[true, true, false],
    uniform: UniformLayout::of::<WinogradUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

pub(super) const WG: u32 = 64;
/// Outputs (forward) or inputs (backward data) of a row per depthwise invocation (`const OWT`
/// in conv2d_depthwise.wgsl).
pub const DEPTHWISE_OWT: u32 = 8;
/// Pixels × channels of one workgroup tile of `forward_tiled` (`const BM`, `const BN`).
pub const TILE: u32 = 64;
/// K depth staged per step by `forward_tiled` (the `BK` override).
pub(super) const BK: u32 = 16;
/// Workgroup size of the bias-gradient tree reduction (a power of two).
pub(super) const WG_REDUCE: u32 = 256;

fn key(
    shader: &'static ShaderDef,
    entry: &'static str,
    overrides: &[(&'static str, u32)],
) -> PipelineKey {
    PipelineKey {
        shader,
        entry,
        overrides: Overrides::new(overrides),
    }
}

pub(super) fn gemm_forward_key(t: RegisterTile, pointwise: bool) -> PipelineKey {
    let pw = u32::from(pointwise);
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr), ("POINTWISE", pw)];
    key(&FORWARD, entry_point!(FORWARD, "forward"), &o)
}
pub(super) fn gemm_backward_data_key(t: RegisterTile) -> PipelineKey {
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr)];
    key(
        &BACKWARD_DATA,
        entry_point!(BACKWARD_DATA, "backward_data"),
        &o,
    )
}
pub(super) fn gemm_backward_filter_key(t: RegisterTile) -> PipelineKey {
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr)];
    key(
        &BACKWARD_FILTER,
        entry_point!(BACKWARD_FILTER, "backward_filter"),
        &o,
    )
}
pub(super) fn tiled_forward_key() -> PipelineKey {
    key(
        &FORWARD,
        entry_point!(FORWARD, "forward_tiled"),
        &[("BK", BK)],
    )
}
pub(super) fn depthwise_key(entry: &'static str) -> PipelineKey {
    key(&DEPTHWISE, entry, &[("WG", WG)])
}
pub(super) fn texture_key() -> PipelineKey {
    key(&TEXTURE, entry_point!(TEXTURE, "forward"), &[])
}
pub(super) fn texture_pack_key(entry: &'static str) -> PipelineKey {
    key(&TEXTURE_PACK, entry, &[])
}
pub(super) fn backward_bias_key() -> PipelineKey {
    key(
        &REDUCE,
        entry_point!(REDUCE, "backward_bias"),
        &[("WG", WG_REDUCE)],
    )
}
pub(super) fn sum_splits_key() -> PipelineKey {
    key(&REDUCE, entry_point!(REDUCE, "sum_splits"), &[("WG", WG)])
}

/// This module's shaders (`ops::SHADERS` lists them with the other ops').
pub(super) static DEFS: [&ShaderDef; 8] = [
    &FORWARD,
    &TEXTURE,
    &TEXTURE_PACK,
    &BACKWARD_DATA,
    &BACKWARD_FILTER,
    &DEPTHWISE,
    &REDUCE,
    &WINOGRAD,
];

/// Every pipeline this module dispatches (the naga test validates each).
pub fn pipelines() -> Vec<PipelineKey> {
    let mut keys = Vec::new();
    for t in RegisterTile::ALL {
        keys.extend([
            gemm_forward_key(t, false),
            gemm_forward_key(t, true),
            gemm_backward_data_key(t),
            gemm_backward_filter_key(t),
        ]);
    }
    keys.extend(winograd_pipelines());
    keys.extend([
        tiled_forward_key(),
        depthwise_key(entry_point!(DEPTHWISE, "forward")),
        depthwise_key(entry_point!(DEPTHWISE, "backward_data")),
        depthwise_key(entry_point!(DEPTHWISE, "backward_filter")),
        sum_splits_key(),
        backward_bias_key(),
        texture_key(),
        texture_pack_key(entry_point!(TEXTURE_PACK, "pack_input")),
        texture_pack_key(entry_point!(TEXTURE_PACK, "pack_filter")),
        texture_pack_key(entry_point!(TEXTURE_PACK, "pack_filter_flipped")),
    ]);
    keys
}

pub(super) fn winograd_key(entry: &'static str, m: u32) -> PipelineKey {
    PipelineKey {
        shader: &WINOGRAD,
        entry,
        overrides: Overrides::new(&[("WG", WINOGRAD_WG), ("T", m + 2)]),
    }
}

fn winograd_pipelines() -> Vec<PipelineKey> {
    let entries = WINOGRAD.entry_points;
    BLOCKS
        .iter()
        .flat_map(|&m| entries.iter().map(move |e| winograd_key(e, m)))
        .collect()
}
