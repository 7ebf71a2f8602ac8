//! Per-step values: the few numbers a replayed plan changes every step (the training step that
//! keys dropout masks and augmentation draws, each optimiser bank's learning rate and bias
//! corrections) live in one small uniform buffer per plan, one slot each. A kernel that reads
//! one binds its slot after its storage buffers (`ShaderDef::per_step`); the plan rewrites the
//! slots before each replay. No one patches another op's uniform block.

use super::capture::Capture;
use super::{uniform_block, Gpu};
use crate::error::{Error, Result};

/// A slot of a plan's per-step buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StepSlot(pub usize);

impl StepSlot {
    /// The training step ([`TrainingStep`]).
    pub const TRAINING_STEP: StepSlot = StepSlot(0);

    /// Optimiser bank `k`'s values of the step.
    pub const fn optimizer(k: usize) -> StepSlot {
        StepSlot(1 + k)
    }
}

uniform_block! {
/// Mirror of `struct TrainingStep` in `shaders/common/step.wgsl`: the step that, hashed with a
/// seed, keys dropout's mask and augmentation's draws.
pub(crate) struct TrainingStep {
    /// The model's training step, from 0.
    pub step: u32,
    /// The first sample of this process's batch in a data-parallel step's global batch (0 in
    /// one process): samples are keyed by their global index.
    pub sample_offset: u32,
    /// Pads the block to 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to 16 bytes; unused.
    pub _pad2: u32,
}
}

/// A per-step slot as a kernel binds it.
#[derive(Clone, Debug)]
pub(crate) struct PerStepBinding {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

/// A capture's per-step buffer: the first pass counts the slots its ops bind, the second binds
/// them in one buffer of that many slots (which the plan keeps).
#[derive(Default)]
pub(crate) struct PerStepState {
    slots: usize,
    buffer: Option<wgpu::Buffer>,
}

/// The per-step buffer of a captured plan.
pub(crate) struct PerStepBuffer {
    buffer: wgpu::Buffer,
    slots: usize,
    stride: u64,
}

/// Largest per-step block: a slot is this or the adapter's uniform offset alignment, if larger.
const SLOT_BYTES: u64 = 64;

impl Gpu {
    fn slot_stride(&self) -> u64 {
        SLOT_BYTES.max(u64::from(self.0.limits.min_uniform_buffer_offset_alignment))
    }

    /// The binding of per-step value `slot`, holding `bytes` now: inside a capture, the plan's
    /// per-step buffer (rewritten before each replay); otherwise a uniform of its own.
    pub(crate) fn per_step(&self, slot: StepSlot, bytes: &[u8]) -> Result<PerStepBinding> {
        if bytes.len() as u64 > SLOT_BYTES {
            return Err(Error::Wgpu {
                op: "per-step values".into(),
                message: format!("a {}-byte block exceeds a slot", bytes.len()),
            });
        }
        let stride = self.slot_stride();
        let mut bound = None;
        let mut lost = false;
        self.capturing(|c: &mut Capture| {
            let state = &mut c.per_step;
            match &state.buffer {
                // First pass: never executed, so any buffer does; count the slot.
                None => state.slots = state.slots.max(slot.0 + 1),
                Some(b) if slot.0 < state.slots => {
                    self.0.queue.write_buffer(b, slot.0 as u64 * stride, bytes);
                    bound = Some(PerStepBinding {
                        buffer: b.clone(),
                        offset: slot.0 as u64 * stride,
                        size: bytes.len() as u64,
                    });
                }
                Some(_) => lost = true,
            }
        })?;
        if lost {
            return Err(Error::Wgpu {
                op: "plan".into(),
                message: format!(
                    "per-step slot {} was not bound when the plan was first traced",
                    slot.0
                ),
            });
        }
        if let Some(b) = bound {
            return Ok(b);
        }
        let buffer = self.uniform_buffer(bytes.len() as u64);
        self.0.queue.write_buffer(&buffer, 0, bytes);
        Ok(PerStepBinding {
            buffer,
            offset: 0,
            size: bytes.len() as u64,
        })
    }

    /// [`Gpu::per_step`] for the training step (dropout, augmentation).
    pub(crate) fn training_step(&self, step: u32) -> Result<PerStepBinding> {
        let block = TrainingStep {
            step,
            ..TrainingStep::default()
        };
        self.per_step(StepSlot::TRAINING_STEP, bytemuck::bytes_of(&block))
    }

    /// A uniform buffer the queue may write.
    pub(crate) fn uniform_buffer(&self, size: u64) -> wgpu::Buffer {
        self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniforms"),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

impl PerStepState {
    /// The second pass's state after a first pass left `first`: one buffer of its slots.
    pub(crate) fn for_second_pass(gpu: &Gpu, first: &PerStepState) -> PerStepState {
        PerStepState {
            slots: first.slots,
            buffer: (first.slots > 0)
                .then(|| gpu.uniform_buffer(first.slots as u64 * gpu.slot_stride())),
        }
    }

    /// What the plan keeps.
    pub(crate) fn into_buffer(self, gpu: &Gpu) -> Option<PerStepBuffer> {
        self.buffer.map(|buffer| PerStepBuffer {
            buffer,
            slots: self.slots,
            stride: gpu.slot_stride(),
        })
    }
}

impl PerStepBuffer {
    /// Writes `values` into their slots (effective from the next submit); slots no kernel of
    /// the plan binds are left out.
    pub(crate) fn write(&self, gpu: &Gpu, values: &[(StepSlot, &[u8])]) {
        for (slot, v) in values.iter().filter(|(s, _)| s.0 < self.slots) {
            gpu.0
                .queue
                .write_buffer(&self.buffer, slot.0 as u64 * self.stride, v);
        }
    }
}
