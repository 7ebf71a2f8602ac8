//! The pending command encoder and `dispatch`: uniform upload, bind group, grid folding.

use bytemuck::Pod;

use std::sync::Arc;

use super::capture::{record, Step};
use super::per_step::PerStepBinding;
use super::pipelines::PipelineKey;
use super::Gpu;
use crate::error::{Error, Result};

/// A buffer range bound to one of a kernel's storage bindings (1, 2, … in order).
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// The buffer the range is in.
    pub buffer: &'a wgpu::Buffer,
    /// Bytes; a multiple of the adapter's `min_storage_buffer_offset_alignment`.
    pub offset: u64,
    /// Bytes, at least 4.
    pub size: u64,
}

impl<'a> Binding<'a> {
    /// The whole of `buffer`.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Binding<'a> {
        Binding {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

/// A buffer range that kernels bind and copies read or write: what a tensor is to the device
/// layer, which names no tensor type (the tensor layer implements this for `Tensor`).
pub trait BufferRange {
    /// The range, for binding to a kernel.
    fn binding(&self) -> Binding<'_>;
}

/// Work recorded but not yet submitted.
#[derive(Default)]
pub(crate) struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// Eager dispatches recorded into it.
    dispatches: usize,
}

/// Eager dispatches recorded before the pending encoder is submitted and waited on. Lavapipe
/// maps memory for every live bind group and uniform buffer, and past the kernel's 65,530
/// mappings (`vm.max_map_count`; about 30,000 unsubmitted dispatches) it crashes: an eager op
/// that records thousands (a blocked product under a small loop budget) goes in batches.
const EAGER_BATCH: usize = 4096;

impl Pending {
    /// The pending encoder, leaving an empty slot behind (a new encoder if none was pending).
    pub(crate) fn take(&mut self, device: &wgpu::Device) -> wgpu::CommandEncoder {
        self.dispatches = 0;
        self.encoder.take().unwrap_or_else(|| new_encoder(device))
    }

    /// Whether anything was recorded since the last submit.
    pub(crate) fn has_work(&self) -> bool {
        self.encoder.is_some()
    }

    /// The pending encoder, made on first use.
    pub(crate) fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| new_encoder(device))
    }
}

fn new_encoder(device: &wgpu::Device) -> wgpu::CommandEncoder {
    device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("wgcnn"),
    })
}

/// Folds a 1-D count of workgroup blocks into (x, y) under the per-dimension limit.
/// Kernels rebuild the block index as `wid.x + wid.y * nwg.x` and bound-check it.
pub(crate) fn fold(blocks: u32, max: u32) -> Option<(u32, u32)> {
    if blocks <= max {
        return Some((blocks.max(1), 1));
    }
    let y = blocks.div_ceil(max);
    (y <= max).then_some((max, y))
}

impl Gpu {
    /// Records one dispatch of `key` into the pending encoder.
    ///
    /// `blocks` workgroups along the kernel's folded linear axis and `z` along its second
    /// axis; `uniforms` goes to binding 0, `buffers` to bindings 1.. in order, `per_step`
    /// (a kernel with per-step values, `ShaderDef::per_step`) to the binding after them, and
    /// `textures` (`ShaderDef::textures`) to the bindings after that.
    pub(crate) fn dispatch<U: Pod>(
        &self,
        key: &PipelineKey,
        uniforms: &U,
        buffers: &[Binding<'_>],
        per_step: Option<&PerStepBinding>,
        textures: &[&wgpu::TextureView],
        (blocks, z): (u32, u32),
    ) -> Result<()> {
        let max = self.0.limits.max_compute_workgroups_per_dimension;
        let too_large = || Error::TooLarge {
            what: format!(
                "dispatch of {}::{} ({blocks} × {z} workgroups)",
                key.shader.name, key.entry
            ),
            bytes: u64::from(blocks) * u64::from(z),
            limit: u64::from(max) * u64::from(max),
        };
        let (x, y) = fold(blocks, max).ok_or_else(too_large)?;
        if z > max {
            return Err(too_large());
        }
        if blocks == 0 || z == 0 {
            return Ok(());
        }
        let expected = key.shader.storage_read_only.len();
        if buffers.len() != expected {
            return Err(Error::Wgpu {
                op: format!("{}::{}", key.shader.name, key.entry),
                message: format!(
                    "{} buffers bound, the shader declares {expected}",
                    buffers.len()
                ),
            });
        }
        if textures.len() != key.shader.textures.len() {
            return Err(Error::Wgpu {
                op: format!("{}::{}", key.shader.name, key.entry),
                message: format!(
                    "{} textures bound, the shader declares {}",
                    textures.len(),
                    key.shader.textures.len()
                ),
            });
        }
        if per_step.is_some() != key.shader.per_step.is_some() {
            return Err(Error::Wgpu {
                op: format!("{}::{}", key.shader.name, key.entry),
                message: "per-step values bound to a kernel that has none, or missing".into(),
            });
        }
        let align = u64::from(self.0.limits.min_storage_buffer_offset_alignment);
        if let Some(b) = buffers
            .iter()
            .find(|b| b.offset % align != 0 || b.size == 0)
        {
            return Err(Error::Wgpu {
                op: format!("{}::{}", key.shader.name, key.entry),
                message: format!(
                    "a binding at byte {} (size {}) is not aligned to {align}",
                    b.offset, b.size
                ),
            });
        }
        // A tensor may be larger than one binding may be (up to `max_buffer_size`): ops that
        // take such tensors bind them in parts (a matmul in blocks, the optimiser in chunks);
        // any other op gets this error instead of a validation failure.
        let limit = self.0.limits.max_storage_buffer_binding_size;
        if let Some((i, b)) = buffers.iter().enumerate().find(|(_, b)| b.size > limit) {
            return Err(Error::TooLarge {
                what: format!(
                    "binding {} of {}::{} (past the adapter's storage binding limit)",
                    i + 1,
                    key.shader.name,
                    key.entry
                ),
                bytes: b.size,
                limit,
            });
        }
        let pipe = self.pipeline(key)?;
        let device = &self.0.device;
        let bytes = bytemuck::bytes_of(uniforms);
        let ubuf = self.uniform_buffer(bytes.len() as u64);
        // A fresh buffer per dispatch: queue writes land before the next submit, so a shared
        // buffer would leave every dispatch of the encoder with the last uniforms.
        self.0.queue.write_buffer(&ubuf, 0, bytes);
        let groups = [x, y, z];
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: ubuf.as_entire_binding(),
        }];
        for (i, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b.buffer,
                    offset: b.offset,
                    size: std::num::NonZeroU64::new(b.size),
                }),
            });
        }
        if let Some(s) = per_step {
            entries.push(wgpu::BindGroupEntry {
                binding: buffers.len() as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &s.buffer,
                    offset: s.offset,
                    size: std::num::NonZeroU64::new(s.size),
                }),
            });
        }
        for (i, view) in textures.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: key.shader.texture_binding(i),
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(key.entry),
            layout: &pipe.layout,
            entries: &entries,
        });
        let step = Step::Dispatch {
            pipeline: pipe,
            bind,
            groups,
            shader: key.shader.name,
            entry: key.entry,
        };
        if self.capturing(|c| c.steps.push(step.clone()))? {
            return Ok(());
        }
        let mut pending = self.lock_pending()?;
        record(pending.encoder(device), std::slice::from_ref(&step));
        pending.dispatches += 1;
        let full = pending.dispatches >= EAGER_BATCH;
        drop(pending);
        self.0
            .dispatches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match full {
            true => self.sync(),
            false => Ok(()),
        }
    }
}

impl Gpu {
    /// Like `dispatch`, with tensors for bindings 1.. where an absent one (`None`) is bound to
    /// a 4-byte stand-in of its own slot.
    pub(crate) fn dispatch_tensors<U: Pod, T: BufferRange>(
        &self,
        key: &PipelineKey,
        uniforms: &U,
        tensors: &[Option<&T>],
        blocks: u32,
        z: u32,
    ) -> Result<()> {
        self.dispatch_tensors_per_step(key, uniforms, tensors, None, blocks, z)
    }

    /// Like `dispatch_tensors`, with `textures` at the bindings after the buffers.
    pub(crate) fn dispatch_with_textures<U: Pod, T: BufferRange>(
        &self,
        key: &PipelineKey,
        uniforms: &U,
        tensors: &[Option<&T>],
        textures: &[&wgpu::TextureView],
        blocks: u32,
        z: u32,
    ) -> Result<()> {
        let stand_ins = self.stand_ins(tensors.len())?;
        let bufs = bindings(tensors, &stand_ins);
        self.dispatch(key, uniforms, &bufs, None, textures, (blocks, z))
    }

    /// [`Gpu::dispatch_tensors`] for a kernel with per-step values.
    pub(crate) fn dispatch_tensors_per_step<U: Pod, T: BufferRange>(
        &self,
        key: &PipelineKey,
        uniforms: &U,
        tensors: &[Option<&T>],
        per_step: Option<&PerStepBinding>,
        blocks: u32,
        z: u32,
    ) -> Result<()> {
        let stand_ins = self.stand_ins(tensors.len())?;
        let bufs = bindings(tensors, &stand_ins);
        self.dispatch(key, uniforms, &bufs, per_step, &[], (blocks, z))
    }

    /// The first `n` stand-in buffers, made on first use.
    fn stand_ins(&self, n: usize) -> Result<Vec<Arc<wgpu::Buffer>>> {
        let mut v = self.0.stand_ins.lock().map_err(|_| Error::Wgpu {
            op: "stand-in buffers".into(),
            message: "a thread panicked while holding them".into(),
        })?;
        while v.len() < n {
            v.push(Arc::new(self.0.device.create_buffer(
                &wgpu::BufferDescriptor {
                    label: Some("absent binding"),
                    size: 4,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                },
            )));
        }
        Ok(v[..n].to_vec())
    }

    /// Zeroes `range` at every replay of the plan this thread is capturing; `false` (nothing
    /// recorded) when it is not capturing.
    pub(crate) fn clear_in_capture(&self, range: &impl BufferRange) -> Result<bool> {
        let b = range.binding();
        let step = Step::Clear {
            buffer: b.buffer.clone(),
            offset: b.offset,
            bytes: b.size,
        };
        self.capturing(|c| c.steps.push(step))
    }

    /// Records a copy of `bytes` bytes from element `src_at` of `src` to element `dst_at` of
    /// `dst` into the pending encoder.
    pub(crate) fn copy(
        &self,
        src: &impl BufferRange,
        src_at: usize,
        dst: &impl BufferRange,
        dst_at: usize,
        elements: usize,
    ) -> Result<()> {
        let (src, dst) = (src.binding(), dst.binding());
        let step = Step::Copy {
            src: src.buffer.clone(),
            src_offset: src.offset + src_at as u64 * 4,
            dst: dst.buffer.clone(),
            dst_offset: dst.offset + dst_at as u64 * 4,
            bytes: elements as u64 * 4,
        };
        if self.capturing(|c| c.steps.push(step.clone()))? {
            return Ok(());
        }
        let mut pending = self.lock_pending()?;
        record(pending.encoder(&self.0.device), std::slice::from_ref(&step));
        Ok(())
    }
}

/// `tensors`' bindings, an absent one bound to its stand-in.
fn bindings<'a, T: BufferRange>(
    tensors: &'a [Option<&T>],
    stand_ins: &'a [Arc<wgpu::Buffer>],
) -> Vec<Binding<'a>> {
    tensors
        .iter()
        .zip(stand_ins)
        .map(|(t, spare)| t.map_or(Binding::whole(spare), |t| t.binding()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_past_the_limit() {
        assert_eq!(fold(10, 65535), Some((10, 1)));
        assert_eq!(fold(65536, 65535), Some((65535, 2)));
        assert_eq!(fold(u32::MAX, 65535), None);
        assert_eq!(fold(0, 65535), Some((1, 1)));
    }
}
