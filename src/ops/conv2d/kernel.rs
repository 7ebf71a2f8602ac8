//! Which kernel runs a conv2d pass, and with which register tile: a pure function of the
//! geometry and the adapter, so tests and benches can force every variant.

use super::Conv2dGeometry;

/// The register tile of the GEMM kernels: `mr` pixels × `nr` channels per invocation
/// (the `MR` / `NR` overrides).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RegisterTile {
    pub mr: u32,
    pub nr: u32,
}

/// Largest tile the shaders' arrays hold (`const MR_MAX`, `const NR_MAX`).
pub const MR_MAX: u32 = 16;
pub const NR_MAX: u32 = 16;

impl RegisterTile {
    /// Every tile the crate dispatches (the naga and parity tests cover each).
    pub const ALL: [RegisterTile; 4] = [
        RegisterTile { mr: 4, nr: 8 },
        RegisterTile { mr: 8, nr: 8 },
        RegisterTile { mr: 8, nr: 16 },
        RegisterTile::NARROW,
    ];

    /// Many pixels, few channels: dX of first layers with 1–4 input channels, where a wide
    /// channel tile computes mostly padding columns (stem_7x7 dX: 1154 → 612 ms on Mesa 25,
    /// 2772 → 1201 ms on Mesa 22, against the adapter's default tile).
    pub const NARROW: RegisterTile = RegisterTile { mr: 16, nr: 4 };

    /// The tile for an adapter, from the bench on the BENCH.md workloads: lavapipe on Mesa ≥ 25
    /// keeps 128 accumulators in registers (8×16 is fastest), Mesa 22's compiler spills them
    /// (4×8 is fastest there); hardware GPUs get a tile that leaves room for occupancy.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> RegisterTile {
        let software = info.device_type == wgpu::DeviceType::Cpu;
        match mesa_major(&info.driver_info) {
            Some(v) if software && v >= 25 => RegisterTile { mr: 8, nr: 16 },
            _ => RegisterTile { mr: 4, nr: 8 },
        }
    }
}

/// "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)" → 25.
fn mesa_major(driver_info: &str) -> Option<u32> {
    let rest = &driver_info[driver_info.find("Mesa ")? + 5..];
    rest.split('.').next()?.trim().parse().ok()
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
        v
    }

    /// Whether the kernel can run `g` (`forward`: the forward pass, else dX and dW).
    pub fn supports(self, g: &Conv2dGeometry, forward: bool) -> bool {
        let fits = |t: RegisterTile| (1..=MR_MAX).contains(&t.mr) && (1..=NR_MAX).contains(&t.nr);
        match self {
            Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) if !fits(t) => false,
            Conv2dKernel::Gemm(_) => true,
            Conv2dKernel::Pointwise(_) => forward && g.is_pointwise(),
            Conv2dKernel::Depthwise => g.is_depthwise(),
            Conv2dKernel::Tiled => forward,
        }
    }
}

/// The forward kernel for `g`: register blocking on software adapters, where workgroup memory
/// and barriers are slow; workgroup-memory tiles on hardware GPUs.
pub fn choose_forward(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
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

/// The kernel for dX: the narrow tile when the group has at most 4 input channels.
pub fn choose_backward_data(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    if g.is_depthwise() {
        Conv2dKernel::Depthwise
    } else if g.cg() <= 4 {
        Conv2dKernel::Gemm(RegisterTile::NARROW)
    } else {
        Conv2dKernel::Gemm(RegisterTile::for_adapter(info))
    }
}

/// The kernel for dW. Its rows are the c_in/groups·kh·kw taps; when they do not fill one block
/// of 64 invocations × 8 rows, the 4×8 tile idles fewer invocations (lenet_c1 dW: 21 → 6 ms on
/// Mesa 25).
pub fn choose_backward_filter(g: &Conv2dGeometry, info: &wgpu::AdapterInfo) -> Conv2dKernel {
    if g.is_depthwise() {
        Conv2dKernel::Depthwise
    } else if g.reduction_len() < 512 {
        Conv2dKernel::Gemm(RegisterTile { mr: 4, nr: 8 })
    } else {
        Conv2dKernel::Gemm(RegisterTile::for_adapter(info))
    }
}

#[cfg(test)]
mod tests {
    use super::mesa_major;

    #[test]
    fn reads_the_mesa_version() {
        assert_eq!(mesa_major("Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"), Some(25));
        assert_eq!(mesa_major("Mesa 22.3.6 (LLVM 15.0.6)"), Some(22));
        assert_eq!(mesa_major("NVIDIA 550.1"), None);
        assert_eq!(mesa_major(""), None);
    }
}
