//! Which kernel runs a conv2d pass, and with which register tile: a pure function of the
//! geometry and the adapter, so tests and benches can force every variant.

use super::winograd::{self, WinogradConv};
use super::{Conv2dGeometry, ConvPass};

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
        v.extend([Conv2dKernel::Depthwise, Conv2dKernel::Tiled]);
        v.extend(winograd::BLOCKS.map(Conv2dKernel::Winograd));
        v
    }

    /// Bytes of temporary tensors the kernel makes for `g`'s `pass` beyond its output (the
    /// Winograd transforms; the direct kernels need none worth counting).
    pub fn workspace(self, g: &Conv2dGeometry, pass: ConvPass) -> usize {
        match (self, pass) {
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

/// The forward kernel for `g`: register blocking on software adapters, where workgroup memory
/// and barriers are slow; workgroup-memory tiles on hardware GPUs.
pub fn choose_forward(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    winograd_pays(g, ConvPass::Forward, info).unwrap_or_else(|| direct_forward(g, info))
}

/// The choice among the kernels that need no workspace (for a `Gpu` whose workspace limit
/// rules Winograd out).
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

/// The kernel for dX: Winograd where it pays, else a register tile as wide as the group's input
/// channels need: 16×4 for at most 4, at most 8 columns for at most 8 (lenet_c3's dX, 6
/// channels: 7.8 → 5.3 ms on lavapipe with 8×8 against 8×16, whose 16 columns were mostly
/// padding), else the adapter's.
pub fn choose_backward_data(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    winograd_pays(g, ConvPass::BackwardData, info).unwrap_or_else(|| direct_backward_data(g, info))
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
