//! Texture arrays the texture-fed kernels of software adapters read their operands from
//! (`ops::matmul::texture`, `ops::conv2d::gpu::texture`): rgba32float, written by a packing
//! dispatch, then bound for reading.

use super::Gpu;

impl Gpu {
    /// Whether a `width` × `height` texture array of `layers` layers is within the device's
    /// texture limits.
    pub(crate) fn texture_fits(&self, width: u32, height: u32, layers: u32) -> bool {
        let l = self.limits();
        width.max(height) <= l.max_texture_dimension_2d
            && self.allocated_layers(layers) <= l.max_texture_array_layers
    }

    /// A `width` × `height` rgba32float texture array of `layers` layers, viewed as a 2D array,
    /// usable as a storage texture (packing) and a sampled one (the kernels' fetches).
    pub(crate) fn texture_array(
        &self,
        label: &str,
        width: u32,
        height: u32,
        layers: u32,
    ) -> wgpu::TextureView {
        let texture = self.device().create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: self.allocated_layers(layers),
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
            view_formats: &[],
        });
        texture.create_view(&wgpu::TextureViewDescriptor {
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        })
    }

    /// Layers to allocate for `layers`. wgpu's GL backend makes a texture of one layer a plain
    /// 2D texture, which a 2D-array binding then reads as zeros (gfx-rs/wgpu#4665, measured:
    /// every single-layer product wrong on Mesa 25's GL llvmpipe); there an array gets a
    /// second layer, never written or read.
    fn allocated_layers(&self, layers: u32) -> u32 {
        match self.adapter_info().backend {
            wgpu::Backend::Gl => layers.max(2),
            _ => layers,
        }
    }
}
