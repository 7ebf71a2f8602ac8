//! The adapter's driver and the quirks of it that wgcnn knows: which it works around (for
//! every adapter) and which it only warns about.

use std::fmt;

/// A driver behaviour that matters to wgcnn.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Quirk {
    /// gallivm (lavapipe, and llvmpipe behind GL) ends every loop of an invocation once
    /// 65,535 loop passes have run in all, with no error: measured on Mesa 22.3.6, absent
    /// on 25.0.7 (versions between not measured). wgcnn keeps every dispatch under its loop
    /// budget on every adapter (`gpu::loops`), so nothing needs to change here.
    LoopLimit,
    /// lavapipe before Mesa 25 runs wgcnn's training steps 1.5–5× slower than Mesa 25 on the
    /// same machine (22.3.6 against 25.0.7; BENCH.md): a warning; `tools/install-lavapipe.sh`
    /// installs 25. Its storage-buffer loads in loops are run-time loops over the lanes while
    /// its texel fetches are not, so the conv kernel choice sends most forwards and dX through
    /// textures there (`ops::conv2d::choose_forward`, `choose_backward_data`).
    SlowMesa,
    /// wgpu's GL backend shares one GL context between threads and panics ("Could not lock
    /// adapter context") when a thread waits more than a second for it, which a long shader
    /// compile on llvmpipe can make happen (gfx-rs/wgpu#5299): a warning; on GL use a `Gpu`
    /// from one thread at a time.
    GlContextLock,
}

impl Quirk {
    /// Whether wgcnn works around it (else it only warns).
    pub fn applied(self) -> bool {
        matches!(self, Quirk::LoopLimit)
    }
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quirk::LoopLimit => {
                "loops end after 65,535 passes per invocation (kept under by the loop budget)"
            }
            Quirk::SlowMesa => {
                "Mesa before 25: training 1.5-5x slower than on Mesa 25; upgrade (tools/install-lavapipe.sh)"
            }
            Quirk::GlContextLock => {
                "wgpu's GL backend panics when a thread waits over 1 s for its context \
                 (gfx-rs/wgpu#5299): use this Gpu from one thread at a time"
            }
        })
    }
}

/// What the adapter reports of its driver, and its quirks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Driver {
    /// The driver's name (`driver`, else the adapter's name), e.g. "llvmpipe".
    pub name: String,
    /// The Mesa version (major, minor, patch) where the driver is Mesa's.
    pub mesa: Option<(u32, u32, u32)>,
    /// The quirks this driver is known to have; empty for most adapters.
    pub quirks: Vec<Quirk>,
}

impl Driver {
    /// Identifies the driver from what wgpu reports of the adapter: the Mesa version is read
    /// from `driver_info` or the adapter's name, and gallivm's quirks apply to llvmpipe and
    /// lavapipe CPU adapters before Mesa 25.
    pub fn of(info: &wgpu::AdapterInfo) -> Driver {
        let name = if info.driver.is_empty() {
            info.name.clone()
        } else {
            info.driver.clone()
        };
        let mesa = mesa_version(&info.driver_info).or_else(|| mesa_version(&info.name));
        // gallivm is the software rasteriser of llvmpipe and lavapipe.
        let gallivm = info.device_type == wgpu::DeviceType::Cpu
            && (info.name.contains("llvmpipe") || name.contains("llvmpipe"));
        let mut quirks = Vec::new();
        if let (true, Some((major, _, _))) = (gallivm, mesa) {
            if major < 25 {
                quirks.extend([Quirk::LoopLimit, Quirk::SlowMesa]);
            }
        }
        if info.backend == wgpu::Backend::Gl {
            quirks.push(Quirk::GlContextLock);
        }
        Driver { name, mesa, quirks }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((a, b, c)) = self.mesa {
            write!(f, ", Mesa {a}.{b}.{c}")?;
        }
        Ok(())
    }
}

/// "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)" or "4.5 (Core Profile) Mesa 22.3.6" → (25, 0, 7).
pub(crate) fn mesa_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = &text[text.find("Mesa ")? + 5..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    Some((
        major,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        name: &str,
        driver: &str,
        driver_info: &str,
        ty: wgpu::DeviceType,
    ) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            driver: driver.into(),
            driver_info: driver_info.into(),
            ..wgpu::AdapterInfo::new(ty, wgpu::Backend::Vulkan)
        }
    }

    #[test]
    fn mesa_versions_parse() {
        assert_eq!(
            mesa_version("Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"),
            Some((25, 0, 7))
        );
        assert_eq!(
            mesa_version("4.5 (Core Profile) Mesa 22.3.6"),
            Some((22, 3, 6))
        );
        assert_eq!(mesa_version("Mesa 23"), Some((23, 0, 0)));
        assert_eq!(mesa_version("NVIDIA 550.1"), None);
        assert_eq!(mesa_version(""), None);
    }

    #[test]
    fn quirks_follow_the_driver() {
        let cpu = wgpu::DeviceType::Cpu;
        let lvp22 = Driver::of(&info(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            "llvmpipe",
            "Mesa 22.3.6 (LLVM 15.0.6)",
            cpu,
        ));
        assert_eq!(lvp22.quirks, vec![Quirk::LoopLimit, Quirk::SlowMesa]);
        assert_eq!(lvp22.to_string(), "llvmpipe, Mesa 22.3.6");
        let gl22 = Driver::of(&info(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            "",
            "4.5 (Core Profile) Mesa 22.3.6",
            cpu,
        ));
        assert_eq!(gl22.quirks, lvp22.quirks);
        let through_gl = Driver::of(&wgpu::AdapterInfo {
            backend: wgpu::Backend::Gl,
            ..info(
                "llvmpipe (LLVM 15.0.6, 256 bits)",
                "",
                "4.5 (Core Profile) Mesa 25.0.7",
                cpu,
            )
        });
        assert_eq!(through_gl.quirks, vec![Quirk::GlContextLock]);
        let lvp25 = Driver::of(&info("llvmpipe", "llvmpipe", "Mesa 25.0.7", cpu));
        assert!(lvp25.quirks.is_empty());
        let gpu = Driver::of(&info(
            "NVIDIA H200",
            "NVIDIA",
            "550.54",
            wgpu::DeviceType::DiscreteGpu,
        ));
        assert_eq!((gpu.mesa, gpu.quirks.len()), (None, 0));
        assert!(Quirk::LoopLimit.applied() && !Quirk::SlowMesa.applied());
        assert!(!Quirk::GlContextLock.applied());
    }
}
