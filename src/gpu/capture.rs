//! Capture: ops run once while the `Gpu` records their dispatches (pipeline, bind group,
//! uniform buffer, grid) instead of encoding them, and the result is a [`Program`] that a
//! compiled plan replays every step with no allocation and no bind-group creation.
//!
//! While capturing, `Tensor::zeros` takes its buffer from a pool: a pooled buffer is free once
//! no `Tensor` refers to it any more (the pool holds the only `Arc`), so the plan's liveness is
//! Rust ownership — a value dropped after its last consumer was captured gives its buffer to the
//! next allocation that fits. Replays run in capture order, so a reused buffer is never read
//! after it is overwritten.

use std::sync::Arc;
use std::thread::ThreadId;

use super::pipelines::Pipeline;
use super::Gpu;
use crate::error::{Error, Result};

/// One recorded command.
#[derive(Clone)]
pub(crate) enum Step {
    Dispatch {
        pipeline: Arc<Pipeline>,
        bind: wgpu::BindGroup,
        uniforms: wgpu::Buffer,
        groups: [u32; 3],
        entry: &'static str,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    },
}

/// Encodes `steps` into `enc`: runs of dispatches share one compute pass (wgpu orders
/// dispatches within a pass by their resource use), copies go between passes.
pub(crate) fn record(enc: &mut wgpu::CommandEncoder, steps: &[Step]) {
    let mut i = 0;
    while i < steps.len() {
        match &steps[i] {
            Step::Copy {
                src,
                src_offset,
                dst,
                dst_offset,
                bytes,
            } => {
                enc.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *bytes);
                i += 1;
            }
            Step::Dispatch { entry, .. } => {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(entry),
                    timestamp_writes: None,
                });
                while let Some(Step::Dispatch {
                    pipeline,
                    bind,
                    groups: [x, y, z],
                    ..
                }) = steps.get(i)
                {
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, bind, &[]);
                    pass.dispatch_workgroups(*x, *y, *z);
                    i += 1;
                }
            }
        }
    }
}

pub(crate) struct Capture {
    thread: ThreadId,
    pub(crate) steps: Vec<Step>,
    pool: Vec<Arc<wgpu::Buffer>>,
}

/// A captured sequence of dispatches and copies, replayed by [`Program::record`].
pub struct Program {
    gpu: Gpu,
    steps: Vec<Step>,
    pool_bytes: u64,
    dispatches: u64,
}

impl Program {
    /// Records every step into the pending encoder (one submit later carries them all).
    pub(crate) fn record(&self) -> Result<()> {
        let mut pending = self.gpu.lock_pending()?;
        let enc = pending.encoder(&self.gpu.0.device);
        record(enc, &self.steps);
        self.gpu
            .0
            .dispatches
            .fetch_add(self.dispatches, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Compute dispatches per replay.
    pub fn dispatches(&self) -> u64 {
        self.dispatches
    }

    /// Bytes of the pooled buffers the steps use (activations and temporaries).
    pub fn pool_bytes(&self) -> u64 {
        self.pool_bytes
    }

    /// Rewrites bytes `offset..` of dispatch step `i`'s uniforms (effective from the next
    /// submit on: queue writes land before it).
    pub(crate) fn set_uniforms(&self, i: usize, offset: u64, bytes: &[u8]) -> Result<()> {
        match self.steps.get(i) {
            Some(Step::Dispatch { uniforms, .. })
                if offset + bytes.len() as u64 <= uniforms.size() =>
            {
                self.gpu.queue().write_buffer(uniforms, offset, bytes);
                Ok(())
            }
            _ => Err(Error::Wgpu {
                op: "plan".into(),
                message: format!(
                    "step {i} is not a dispatch with uniform bytes {offset}..{}",
                    offset + bytes.len() as u64
                ),
            }),
        }
    }
}

impl Gpu {
    /// Runs `f` with this thread's dispatches and copies captured into a [`Program`] instead
    /// of being recorded. Work pending from before is submitted first.
    pub(crate) fn capture<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<(T, Program)> {
        self.flush()?;
        {
            let mut slot = self.lock_capture()?;
            if slot.is_some() {
                return Err(Error::Wgpu {
                    op: "plan".into(),
                    message: "another plan is being compiled on this Gpu".into(),
                });
            }
            *slot = Some(Capture {
                thread: std::thread::current().id(),
                steps: Vec::new(),
                pool: Vec::new(),
            });
        }
        let out = f();
        let cap = self.lock_capture()?.take();
        let out = out?;
        self.check_errors("plan")?;
        let cap = cap.ok_or_else(|| Error::Wgpu {
            op: "plan".into(),
            message: "capture vanished".into(),
        })?;
        let dispatches = cap
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Dispatch { .. }))
            .count() as u64;
        Ok((
            out,
            Program {
                gpu: self.clone(),
                steps: cap.steps,
                pool_bytes: cap.pool.iter().map(|b| b.size()).sum(),
                dispatches,
            },
        ))
    }

    /// Runs `f` on this thread's capture; `false` when this thread is not capturing.
    pub(crate) fn capturing(&self, f: impl FnOnce(&mut Capture)) -> Result<bool> {
        let mut slot = self.lock_capture()?;
        match slot.as_mut() {
            Some(c) if c.thread == std::thread::current().id() => {
                f(c);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The index the next captured step will get, or `None` when this thread is not capturing.
    pub(crate) fn capture_len(&self) -> Result<Option<usize>> {
        let mut at = None;
        self.capturing(|c| at = Some(c.steps.len()))?;
        Ok(at)
    }

    /// A free pooled buffer of at least `size` bytes (the smallest that fits, else a new
    /// one), or `None` when this thread is not capturing.
    pub(crate) fn pooled_buffer(&self, size: u64) -> Result<Option<Arc<wgpu::Buffer>>> {
        let mut out = None;
        self.capturing(|c| {
            let free = c
                .pool
                .iter()
                .filter(|b| Arc::strong_count(b) == 1 && b.size() >= size)
                .min_by_key(|b| b.size());
            let buf = match free {
                Some(b) => b.clone(),
                None => {
                    let b = Arc::new(crate::tensor::new_buffer(self, size));
                    c.pool.push(b.clone());
                    b
                }
            };
            out = Some(buf);
        })?;
        Ok(out)
    }

    fn lock_capture(&self) -> Result<std::sync::MutexGuard<'_, Option<Capture>>> {
        self.0.capture.lock().map_err(|_| Error::Wgpu {
            op: "plan".into(),
            message: "a thread panicked while compiling a plan".into(),
        })
    }
}
