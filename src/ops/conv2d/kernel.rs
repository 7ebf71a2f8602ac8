//! Which kernel runs a conv2d pass, and with which register tile: a pure function of the
//! geometry and the adapter, so tests and benches can force every variant.

use super::gpu::{backward_data_conv, TextureLayout};
use super::winograd::{self, WinogradConv};
use super::{Conv2dGeometry, ConvPass};
use crate::gpu::driver::{Driver, Quirk};

/// The register tile of the GEMM kernels: `mr` pixels × `nr` channels per invocation
/// (the `MR` / `NR` overrides).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RegisterTile {
    /// GEMM rows per invocation (pixels; filter taps in the filter gradient), WG apart: the
    /// `MR` override, at most [`MR_MAX`].
    pub mr: u32,
    /// Consecutive GEMM columns (channels) per invocation: the `NR` override, at most
    /// [`NR_MAX`].
    pub nr: u32,
}

/// Largest `mr` the shaders' arrays hold (their `const MR_MAX`).
pub const MR_MAX: u32 = 16;
/// Largest `nr` the shaders' arrays hold (their `const NR_MAX`).
pub const NR_MAX: u32 = 16;

impl RegisterTile {
    /// Every tile the crate dispatches (the naga and parity tests cover each).
    pub const ALL: [RegisterTile; 5] = [
        RegisterTile { mr: 4, nr: 8 },
        RegisterTile { mr: 8, nr: 8 },
        RegisterTile { mr: 8, nr: 16 },
        RegisterTile::NARROW,
        RegisterTile::ROW,
    ];

    /// Many pixels, few channels: dX of first layers with 1–4 input channels, where a wide
    /// channel tile computes mostly padding columns (stem_7x7 dX: 1154 → 612 ms on Mesa 25,
    /// 2772 → 1201 ms on Mesa 22, against the adapter's default tile).
    pub const NARROW: RegisterTile = RegisterTile { mr: 16, nr: 4 };

    /// One row per invocation: dW of first layers whose few taps (≤ 64) would leave most rows
    /// of a taller tile computing padding (lenet_c1 dW with 25 taps: the step's two dW
    /// dispatches 8.7 → 6.8 ms on Mesa 25 against 4×8).
    pub const ROW: RegisterTile = RegisterTile { mr: 1, nr: 8 };

    /// Loop passes of one multiply-accumulate step of the register-tile kernels (matmul and
    /// the implicit-GEMM conv passes), every loop counted rolled (`gpu::loops`): MR loads
    /// (MR + 1), then NR columns (NR + 1) each over the MR rows (MR + 1).
    pub fn step_passes(self) -> usize {
        let (mr, nr) = (self.mr as usize, self.nr as usize);
        (mr + 1) + (nr + 1) + nr * (mr + 1)
    }

    /// Loop passes outside the reduction: the MR rows' and NR columns' set-up, and the
    /// epilogue over MR rows of NR columns.
    pub fn fixed_passes(self) -> usize {
        let (mr, nr) = (self.mr as usize, self.nr as usize);
        (mr + 1) + (nr + 1) + (mr + 1) + mr * (nr + 1)
    }

    /// The tile for an adapter, from the bench on the BENCH.md workloads: lavapipe on Mesa ≥ 25
    /// keeps 128 accumulators in registers (8×16 is fastest), Mesa 22's compiler spills them
    /// (4×8 is fastest there); hardware GPUs get a tile that leaves room for occupancy.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> RegisterTile {
        let software = info.device_type == wgpu::DeviceType::Cpu;
        match crate::gpu::driver::mesa_version(&info.driver_info) {
            Some((v, _, _)) if software && v >= 25 => RegisterTile { mr: 8, nr: 16 },
            _ => RegisterTile { mr: 4, nr: 8 },
        }
    }
}

/// Which kernel runs a pass. `choose_*` picks one; tests force each to prove it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Conv2dKernel {
    /// Register-blocked implicit GEMM: any geometry, every pass.
    Gemm(RegisterTile),
    /// The forward GEMM without window arithmetic: 1×1, stride 1, no padding only.
    Pointwise(RegisterTile),
    /// Direct kernels for groups = c_in (any channel multiplier), every pass.
    Depthwise,
    /// Forward implicit GEMM with workgroup-memory tiles: the choice on hardware GPUs.
    Tiled,
    /// Winograd F(m×m, 3×3), m = 2 or 4: 3×3, stride 1, one group; every pass.
    Winograd(u32),
    /// Implicit GEMM over texels (x and w packed into textures): the forward of any geometry,
    /// and dX as the stride-1 conv of dy spread by the strides where no top or left pad
    /// passes (k − 1)·dilation; the register tile runs instead past the adapter's texture
    /// limits.
    Texture,
}

impl Conv2dKernel {
    /// Every kernel variant.
    pub fn all() -> Vec<Conv2dKernel> {
        let mut v: Vec<Conv2dKernel> = RegisterTile::ALL
            .iter()
            .map(|&t| Conv2dKernel::Gemm(t))
            .collect();
        v.extend(
            RegisterTile::ALL
                .iter()
                .map(|&t| Conv2dKernel::Pointwise(t)),
        );
        v.extend([
            Conv2dKernel::Depthwise,
            Conv2dKernel::Tiled,
            Conv2dKernel::Texture,
        ]);
        v.extend(winograd::BLOCKS.map(Conv2dKernel::Winograd));
        v
    }

    /// Bytes of temporary tensors and textures the kernel makes for `g`'s `pass` beyond its
    /// output (the Winograd transforms, the packed textures; the direct kernels need none
    /// worth counting).
    pub fn workspace(self, g: &Conv2dGeometry, pass: ConvPass) -> usize {
        match (self, pass) {
            (Conv2dKernel::Texture, ConvPass::Forward) => TextureLayout::of(g).bytes(),
            (Conv2dKernel::Texture, ConvPass::BackwardData) => {
                backward_data_conv(g).map_or(0, |t| TextureLayout::of(&t).bytes())
            }
            (Conv2dKernel::Winograd(m), ConvPass::Forward) => {
                WinogradConv::forward(g, m).workspace()
            }
            (Conv2dKernel::Winograd(m), ConvPass::BackwardData) => {
                WinogradConv::backward_data(g, m).workspace()
            }
            (Conv2dKernel::Winograd(m), ConvPass::BackwardFilter) => {
                WinogradConv::backward_filter(g, m).workspace()
            }
            _ => 0,
        }
    }

    /// Bytes of the kernel's largest temporary tensor for `g`'s `pass` (0 for the direct
    /// kernels): it must fit one storage binding of the device.
    pub fn largest_temp(self, g: &Conv2dGeometry, pass: ConvPass) -> usize {
        match (self, pass) {
            (Conv2dKernel::Winograd(m), ConvPass::Forward) => {
                WinogradConv::forward(g, m).largest_temp()
            }
            (Conv2dKernel::Winograd(m), ConvPass::BackwardData) => {
                WinogradConv::backward_data(g, m).largest_temp()
            }
            (Conv2dKernel::Winograd(m), ConvPass::BackwardFilter) => {
                WinogradConv::backward_filter(g, m).largest_temp()
            }
            _ => 0,
        }
    }

    /// Whether the kernel can run `g`'s `pass`.
    pub fn supports(self, g: &Conv2dGeometry, pass: ConvPass) -> bool {
        let fits = |t: RegisterTile| (1..=MR_MAX).contains(&t.mr) && (1..=NR_MAX).contains(&t.nr);
        let forward = pass == ConvPass::Forward;
        match self {
            Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) if !fits(t) => false,
            Conv2dKernel::Gemm(_) => true,
            Conv2dKernel::Pointwise(_) => forward && g.is_pointwise(),
            Conv2dKernel::Depthwise => g.is_depthwise(),
            Conv2dKernel::Tiled => forward,
            Conv2dKernel::Texture => match pass {
                ConvPass::Forward => true,
                ConvPass::BackwardData => backward_data_conv(g).is_some(),
                ConvPass::BackwardFilter => false,
            },
            Conv2dKernel::Winograd(m) => {
                winograd::eligible(g)
                    && match pass {
                        ConvPass::Forward => WinogradConv::forward(g, m).fits(),
                        ConvPass::BackwardData => WinogradConv::backward_data(g, m).fits(),
                        ConvPass::BackwardFilter => WinogradConv::backward_filter(g, m).fits(),
                    }
            }
        }
    }
}

/// Winograd where it applies on software adapters, once both channel counts are wide enough
/// for its GEMMs to outweigh the transforms (vgg_c2 forward 218 → 114 ms, forward + backward
/// 828 → 453 ms on lavapipe; cifar_c1, 3 input channels, forward 8 → 13 ms): F(4×4) on images
/// of 8 × 8 and more, F(2×2) below, where 4×4 blocks would be mostly padding. Hardware GPUs
/// are left to the autotuner: not measured there.
fn winograd_pays(
    g: &Conv2dGeometry,
    pass: ConvPass,
    info: &wgpu::AdapterInfo,
) -> Option<Conv2dKernel> {
    let m = if g.h_out.min(g.w_out) >= 8 { 4 } else { 2 };
    let k = Conv2dKernel::Winograd(m);
    (info.device_type == wgpu::DeviceType::Cpu && g.c_in.min(g.c_out) >= 16 && k.supports(g, pass))
        .then_some(k)
}

/// The forward kernel for `g`: on software adapters, where workgroup memory and barriers are
/// slow, Winograd, texel-fed or register-blocked GEMMs; workgroup-memory tiles on hardware GPUs.
pub fn choose_forward(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    let winograd = || winograd_pays(g, ConvPass::Forward, info);
    let texture = || texture_pays(g, info);
    // Before Mesa 25 texel fetches beat Winograd's storage-buffer GEMMs too (vgg_c2 forward
    // 430–490 → 180–280 ms on Mesa 22.3.6); on 25 Winograd holds its own (170–210 against
    // 205–320 ms).
    let first = if slow_buffers(info) {
        texture().or_else(winograd)
    } else {
        winograd().or_else(texture)
    };
    first.unwrap_or_else(|| direct_forward(g, info))
}

/// Whether storage-buffer loads are the driver's slow path: lavapipe before Mesa 25
/// ([`Quirk::SlowMesa`]), whose texel fetches are as fast as on 25.
fn slow_buffers(info: &wgpu::AdapterInfo) -> bool {
    Driver::of(info).quirks.contains(&Quirk::SlowMesa)
}

/// The texel-fed kernel on software adapters where Winograd does not apply. On Mesa 25 once a
/// group has at least 64 input channels (lavapipe, Mesa 25.0.7: resnet_s2 forward 150–162 →
/// 116 ms). With fewer it gains little (dilated, 32 channels: 66–69 → 56–63 ms), the tuner
/// keeps the register GEMM on resnet20's 16- and 32-channel stride-2 convs, where compiling
/// the texture candidate only slowed the cold start by 1 s, and narrow inputs leave most of
/// each texel's 4 channels as padding (cifar_c1, 3 channels: 11–15 → 16–23 ms); 1×1 convs keep
/// the pointwise GEMM. Before Mesa 25 ([`Quirk::SlowMesa`]) storage-buffer loads are what is
/// slow and texel fetches are not, so it pays from 2 channels on (Mesa 22.3.6: resnet_s2
/// 800–830 → 119–128 ms, cifar_c1 58 → 14 ms, resnet_1x1 41 → 25 ms; lenet_c1, 1 channel,
/// 8.6 → 16 ms); see [`slow_buffers`].
fn texture_pays(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Option<Conv2dKernel> {
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let pays = if slow_buffers(info) {
        g.cg() >= 2
    } else {
        g.cg() >= 64 && !g.is_pointwise()
    };
    (software && pays && !g.is_depthwise()).then_some(Conv2dKernel::Texture)
}

/// The choice among the kernels that need no workspace (for a `Gpu` whose workspace limit
/// rules Winograd and the texture kernel out).
pub fn choose_direct(g: &Conv2dGeometry, pass: ConvPass, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    match pass {
        ConvPass::Forward => direct_forward(g, info),
        ConvPass::BackwardData => direct_backward_data(g, info),
        ConvPass::BackwardFilter => direct_backward_filter(g, info),
    }
}

fn direct_forward(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    let tile = RegisterTile::for_adapter(info);
    if g.is_depthwise() {
        Conv2dKernel::Depthwise
    } else if info.device_type != wgpu::DeviceType::Cpu {
        Conv2dKernel::Tiled
    } else if g.is_pointwise() {
        Conv2dKernel::Pointwise(tile)
    } else {
        Conv2dKernel::Gemm(tile)
    }
}

/// The kernel for dX: before Mesa 25 the texture kernel from 2 output channels a group on (its
/// reduction runs over them; Mesa 22.3.6, forward + backward: resnet_s2 4.7 → 2.1 s, resnet_1x1
/// 216 → 106 ms, vgg_c2 against Winograd 2.6 → 2.1 s). On Mesa 25 it lost where it was not
/// already slow (resnet_s2's dX spread 4× by its strides, 1.36 → 1.60 s; vgg_c2 against
/// Winograd 0.74 → 1.31 s), so there Winograd where it pays, else a register tile as wide as
/// the group's input channels need: 16×4 for at most 4, at most 8 columns for at most 8
/// (lenet_c3's dX, 6 channels: 7.8 → 5.3 ms on lavapipe with 8×8 against 8×16, whose 16
/// columns were mostly padding), else the adapter's.
pub fn choose_backward_data(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    texture_backward_data_pays(g, info)
        .or_else(|| winograd_pays(g, ConvPass::BackwardData, info))
        .unwrap_or_else(|| direct_backward_data(g, info))
}

fn texture_backward_data_pays(
    g: &Conv2dGeometry,
    info: &wgpu::AdapterInfo,
) -> Option<Conv2dKernel> {
    let k = Conv2dKernel::Texture;
    (info.device_type == wgpu::DeviceType::Cpu
        && slow_buffers(info)
        && g.cog() >= 2
        && !g.is_depthwise()
        && k.supports(g, ConvPass::BackwardData))
    .then_some(k)
}

fn direct_backward_data(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    if g.is_depthwise() {
        Conv2dKernel::Depthwise
    } else if g.cg() <= 4 {
        Conv2dKernel::Gemm(RegisterTile::NARROW)
    } else {
        // 8 columns where the adapter's tile is wider and 8 cover the channels.
        let t = RegisterTile::for_adapter(info);
        let nr = if g.cg() <= 8 { t.nr.min(8) } else { t.nr };
        Conv2dKernel::Gemm(RegisterTile { mr: t.mr, nr })
    }
}

/// The kernel for dW: Winograd where it pays (as forward), else the direct GEMM.
pub fn choose_backward_filter(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    winograd_pays(g, ConvPass::BackwardFilter, info)
        .unwrap_or_else(|| direct_backward_filter(g, info))
}

/// The direct dW GEMM's rows are the c_in/groups·kh·kw taps; when they do not fill one block
/// of 64 invocations × 8 rows, shorter tiles idle fewer invocations: 4×8 under 512 taps
/// (lenet_c1 dW: 21 → 6 ms on Mesa 25 against 8×16), one row under 64 (see `ROW`).
fn direct_backward_filter(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    if g.is_depthwise() {
        Conv2dKernel::Depthwise
    } else if g.reduction_len() <= 64 {
        Conv2dKernel::Gemm(RegisterTile::ROW)
    } else if g.reduction_len() < 512 {
        Conv2dKernel::Gemm(RegisterTile { mr: 4, nr: 8 })
    } else {
        Conv2dKernel::Gemm(RegisterTile::for_adapter(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::Conv2dParams;
    use crate::shape::{Padding, Shape};

    fn lavapipe(mesa: &str) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            driver: "llvmpipe".into(),
            driver_info: format!("Mesa {mesa} (LLVM 15.0.6)"),
            ..wgpu::AdapterInfo::new(wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan)
        }
    }

    /// BENCH.md's workloads: x [n, c_in, hw, hw], c_out, k, stride, groups.
    fn geometry(
        x: [usize; 4],
        c_out: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> Conv2dGeometry {
        let p = Conv2dParams::new(k)
            .stride(stride)
            .padding(Padding::Same)
            .groups(groups);
        p.resolve(&Shape::new(x), &p.weight_shape(x[1], c_out))
            .unwrap()
    }

    #[test]
    fn texture_kernels_go_where_they_were_measured_to_pay() {
        let (old, new) = (lavapipe("22.3.6"), lavapipe("25.0.7"));
        let resnet_s2 = geometry([64, 64, 32, 32], 128, 3, 2, 1);
        let vgg_c2 = geometry([64, 64, 32, 32], 64, 3, 1, 1);
        let cifar_c1 = geometry([64, 3, 32, 32], 32, 3, 1, 1);
        let lenet_c1 = geometry([64, 1, 32, 32], 6, 5, 1, 1);
        let resnet_1x1 = geometry([64, 256, 8, 8], 64, 1, 1, 1);
        let depthwise = geometry([64, 128, 16, 16], 128, 3, 1, 128);
        let choose = |g: &Conv2dGeometry, info| choose_forward(g, info);

        // Mesa 25: only 64 channels a group and more where Winograd does not apply; Winograd,
        // the pointwise and the register GEMM keep the rest.
        assert_eq!(choose(&resnet_s2, &new), Conv2dKernel::Texture);
        assert!(matches!(choose(&vgg_c2, &new), Conv2dKernel::Winograd(_)));
        assert!(matches!(choose(&cifar_c1, &new), Conv2dKernel::Gemm(_)));
        assert!(matches!(
            choose(&resnet_1x1, &new),
            Conv2dKernel::Pointwise(_)
        ));
        // Mesa 22: from 2 channels on, before Winograd too.
        for g in [&resnet_s2, &vgg_c2, &cifar_c1, &resnet_1x1] {
            assert_eq!(choose(g, &old), Conv2dKernel::Texture, "{g:?}");
        }
        assert!(matches!(choose(&lenet_c1, &old), Conv2dKernel::Gemm(_)));
        for info in [&old, &new] {
            assert_eq!(choose(&depthwise, info), Conv2dKernel::Depthwise);
        }
        // dX: through textures before Mesa 25 only.
        assert_eq!(
            choose_backward_data(&resnet_s2, &old),
            Conv2dKernel::Texture
        );
        assert!(matches!(
            choose_backward_data(&resnet_s2, &new),
            Conv2dKernel::Gemm(_)
        ));
        assert!(matches!(
            choose_backward_data(&vgg_c2, &new),
            Conv2dKernel::Winograd(_)
        ));
        // Hardware GPUs keep the workgroup-memory kernel.
        let gpu = wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan);
        assert_eq!(choose(&resnet_s2, &gpu), Conv2dKernel::Tiled);
    }
}
