//! Adapter choice: hardware first, software last, with environment overrides.

use crate::error::{Error, Result};

/// What to tell a user whose machine shows no adapter.
const NO_ADAPTER_HINT: &str = "Install your GPU's Vulkan/Metal/DX12 driver, or on a machine \
without a GPU install Mesa's software Vulkan (Debian/Ubuntu: `apt-get install -y \
mesa-vulkan-drivers`; on Debian 12 wgcnn's tools/install-lavapipe.sh takes Mesa 25 from \
bookworm-backports, 1.5-5x faster than Debian 12's own). WGPU_BACKEND=gl tries OpenGL instead.";

fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    // GL lacks storage-buffer room and subgroups: prefer the native APIs.
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, backend)
}

/// The best adapter, or with `local_rank` (one process per adapter, as under MPI) the
/// hardware adapter at `local_rank` modulo their number, counting each device once (its
/// native backend); where there is none, every rank shares the best software adapter.
pub(super) async fn choose(local_rank: Option<usize>) -> Result<wgpu::Adapter> {
    let desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let wanted = std::env::var("WGCNN_ADAPTER")
        .ok()
        .filter(|s| !s.is_empty());
    let mut adapters = instance.enumerate_adapters(backends).await;
    if let Some(name) = &wanted {
        let seen: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let needle = name.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
        if adapters.is_empty() {
            return Err(Error::NoAdapter {
                reason: format!("WGCNN_ADAPTER={name} matches none of {seen:?}"),
                hint: "Unset WGCNN_ADAPTER or set it to part of one of those names.".into(),
            });
        }
    }
    adapters.sort_by_key(|a| rank(&a.get_info()));
    if let Some(r) = local_rank.filter(|_| wanted.is_none()) {
        let mut seen = Vec::new();
        let hardware: Vec<wgpu::Adapter> = adapters
            .iter()
            .filter(|a| rank(&a.get_info()).0 < 3)
            .filter(|a| {
                let i = a.get_info();
                let id = (i.vendor, i.device, i.name.clone());
                let new = !seen.contains(&id);
                seen.push(id);
                new
            })
            .cloned()
            .collect();
        if !hardware.is_empty() {
            return Ok(hardware[r % hardware.len()].clone());
        }
    }
    if let Some(a) = adapters.into_iter().next() {
        return Ok(a);
    }
    // enumerate_adapters is empty on some platforms where request_adapter still works, and
    // request_adapter's error names each backend's reason.
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter {
            reason: e.to_string(),
            hint: NO_ADAPTER_HINT.into(),
        })
}
