//! Capture: ops run once while the `Gpu` records their dispatches (pipeline, bind group,
//! uniform buffer, grid) instead of encoding them, and the result is a [`Plan`]: what a
//! compiled model replays every step with no allocation and no bind-group creation (to
//! capture is how a plan is made; `graph::plan::GraphPlan` is one with its batch buffers).
//!
//! Buffers are planned in two passes over the same code. The first pass hands every pooled
//! allocation (`Tensor::uninit`, `Tensor::zeros`) a stand-in and records its lifetime: an
//! allocation is live until no `Tensor` refers to it (the capture holds the only `Arc`), so
//! liveness is Rust ownership — a value dropped after its last consumer was captured is dead.
//! The lifetimes are then packed into shared buffers greedily by size (largest first, each into
//! the smallest shared buffer with no overlapping tenant: `pack.rs`), and the second pass,
//! which makes the real plan, gets those buffers. Replays run in capture order, so a shared
//! buffer is never read after a later tenant overwrote it.

use std::sync::Arc;
use std::thread::ThreadId;

use super::exchange::{Exchange, ExchangeHandler};
use super::pack::{pack, Lifetime};
use super::per_step::{PerStepBuffer, PerStepState, StepSlot};
use super::pipelines::Pipeline;
use super::readback::Readback;
use super::Gpu;
use crate::error::{Error, Result};

/// One recorded command.
#[derive(Clone)]
pub(crate) enum Step {
    Dispatch {
        pipeline: Arc<Pipeline>,
        bind: wgpu::BindGroup,
        groups: [u32; 3],
        shader: &'static str,
        entry: &'static str,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    },
    /// Zeroes a range (`Tensor::zeros` in a plan, whose pooled buffer holds an earlier tenant's
    /// values at every replay).
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        bytes: u64,
    },
    /// An exchange point (`exchange.rs`): `len` f32 at byte `offset` that a replay with a
    /// handler reads, changes and writes back before the steps after it; skipped otherwise.
    Exchange {
        buffer: wgpu::Buffer,
        offset: u64,
        len: usize,
        exchange: Exchange,
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
            Step::Clear {
                buffer,
                offset,
                bytes,
            } => {
                enc.clear_buffer(buffer, *offset, Some(*bytes));
                i += 1;
            }
            Step::Exchange { .. } => i += 1,
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
    alloc: Alloc,
    pub(crate) per_step: PerStepState,
}

enum Alloc {
    /// First pass: stand-in buffers (one per power-of-two size, never executed) and lifetimes.
    Record {
        live: Vec<(usize, Arc<wgpu::Buffer>)>,
        lifetimes: Vec<Lifetime>,
        stand_ins: Vec<wgpu::Buffer>,
    },
    /// Second pass: allocation `i` gets `shared[assign[i]]`.
    Assigned {
        shared: Vec<Arc<wgpu::Buffer>>,
        assign: Vec<usize>,
        /// The first pass's allocation sizes: the second must repeat them exactly.
        sizes: Vec<u64>,
        next: usize,
        /// Set once the sequences differ; every later allocation then gets its own buffer.
        diverged: bool,
    },
}

/// A captured sequence of dispatches and copies, replayed into the pending encoder each step.
pub struct Plan {
    gpu: Gpu,
    steps: Vec<Step>,
    pool_bytes: u64,
    dispatches: u64,
    per_step: Option<PerStepBuffer>,
}

impl Plan {
    /// Records every step into the pending encoder (one submit later carries them all).
    pub(crate) fn record(&self) -> Result<()> {
        let mut pending = self.gpu.lock_pending()?;
        let enc = pending.encoder(&self.gpu.0.device);
        record(enc, &self.steps);
        self.count_dispatches();
        Ok(())
    }

    /// [`Plan::record`] stopping at each exchange point: the steps before it are submitted,
    /// its range read back, changed by `handler` and written back, then recording goes on.
    /// The steps after the last point are left in the pending encoder, as `record` leaves
    /// them all.
    pub(crate) fn record_exchanging(&self, handler: &mut ExchangeHandler<'_>) -> Result<()> {
        let gpu = &self.gpu;
        // Points whose read-back is under way, oldest first, answered in order: a deferred
        // one may wait until the next point's steps are submitted, any other is answered at
        // once (with every deferred one before it).
        let mut pending: Vec<(Readback, &wgpu::Buffer, u64, Exchange)> = Vec::new();
        let mut answer = |upto: usize, pending: &mut Vec<_>| -> Result<()> {
            for (r, buffer, offset, exchange) in pending.drain(..upto) {
                let mut v = Readback::wait(r, gpu)?;
                handler(exchange, &mut v)?;
                gpu.queue()
                    .write_buffer(buffer, offset, bytemuck::cast_slice(&v));
            }
            Ok(())
        };
        let mut start = 0;
        for (i, step) in self.steps.iter().enumerate() {
            let Step::Exchange {
                buffer,
                offset,
                len,
                exchange,
            } = step
            else {
                continue;
            };
            {
                let mut enc = gpu.lock_pending()?;
                record(enc.encoder(&gpu.0.device), &self.steps[start..i]);
            }
            start = i + 1;
            // Submits the steps before this point with the copy out.
            let read = super::readback::start(gpu, buffer, *offset, *len)?;
            pending.push((read, buffer, *offset, *exchange));
            // The device runs on while the host answers the points before this one.
            let keep = usize::from(*exchange == Exchange::Deferred);
            answer(pending.len() - keep, &mut pending)?;
        }
        {
            let mut enc = gpu.lock_pending()?;
            record(enc.encoder(&gpu.0.device), &self.steps[start..]);
        }
        if !pending.is_empty() {
            gpu.flush()?;
            answer(pending.len(), &mut pending)?;
        }
        self.count_dispatches();
        Ok(())
    }

    /// Answers the plan's exchange points without running it, in order, each with zeros for
    /// its values (a process with nothing to add to a collective step); what the handler
    /// makes of a deferred point is written to its range, as a replay would.
    pub(crate) fn sit_out(&self, handler: &mut ExchangeHandler<'_>) -> Result<()> {
        for step in &self.steps {
            if let Step::Exchange {
                buffer,
                offset,
                len,
                exchange,
            } = step
            {
                let mut v = vec![0.0; *len];
                handler(*exchange, &mut v)?;
                if *exchange == Exchange::Deferred {
                    self.gpu
                        .queue()
                        .write_buffer(buffer, *offset, bytemuck::cast_slice(&v));
                }
            }
        }
        Ok(())
    }

    /// The plan's exchange points in order, with their lengths.
    pub(crate) fn exchanges(&self) -> Vec<(Exchange, usize)> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Exchange { len, exchange, .. } => Some((*exchange, *len)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn count_dispatches(&self) {
        self.gpu
            .0
            .dispatches
            .fetch_add(self.dispatches, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub(crate) fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Compute dispatches per replay.
    pub fn dispatches(&self) -> u64 {
        self.dispatches
    }

    /// Bytes of the pooled buffers the steps use (activations and temporaries).
    pub fn pool_bytes(&self) -> u64 {
        self.pool_bytes
    }

    /// Writes the per-step values of the next replays (see `per_step`): effective from the
    /// next submit on, as queue writes land before it.
    pub(crate) fn write_per_step(&self, values: &[(StepSlot, &[u8])]) {
        if let Some(b) = &self.per_step {
            b.write(&self.gpu, values);
        }
    }
}

impl Gpu {
    /// Runs `f` twice with this thread's dispatches and copies captured instead of recorded:
    /// once to learn the allocations' lifetimes, once with the planned shared buffers. Its
    /// result and plan are the second run's. Work pending from before is submitted first.
    pub(crate) fn capture<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<(T, Plan)> {
        self.flush()?;
        let record = Alloc::Record {
            live: Vec::new(),
            lifetimes: Vec::new(),
            stand_ins: Vec::new(),
        };
        let (_, first) = self.capture_pass(record, PerStepState::default(), &mut f)?;
        let Alloc::Record { lifetimes, .. } = first.alloc else {
            return Err(capture_lost());
        };
        let (buffer_sizes, assign) = pack(&lifetimes);
        let sizes = lifetimes.iter().map(|l| l.size).collect();

        let shared = buffer_sizes
            .iter()
            .map(|&s| Arc::new(self.storage_buffer(s)))
            .collect();
        let assigned = Alloc::Assigned {
            shared,
            assign,
            sizes,
            next: 0,
            diverged: false,
        };
        let per_step = PerStepState::for_second_pass(self, &first.per_step);
        let (out, cap) = self.capture_pass(assigned, per_step, &mut f)?;
        let Alloc::Assigned { shared, .. } = cap.alloc else {
            return Err(capture_lost());
        };
        let dispatches = cap
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Dispatch { .. }))
            .count() as u64;
        Ok((
            out,
            Plan {
                gpu: self.clone(),
                steps: cap.steps,
                pool_bytes: shared.iter().map(|b| b.size()).sum(),
                dispatches,
                per_step: cap.per_step.into_buffer(self),
            },
        ))
    }

    fn capture_pass<T>(
        &self,
        alloc: Alloc,
        per_step: PerStepState,
        f: &mut impl FnMut() -> Result<T>,
    ) -> Result<(T, Capture)> {
        let thread = std::thread::current().id();
        {
            let mut all = self.lock_capture()?;
            if all.iter().any(|c| c.thread == thread) {
                return Err(Error::Wgpu {
                    op: "plan".into(),
                    message: "a plan is already being compiled on this thread".into(),
                });
            }
            all.push(Capture {
                thread,
                steps: Vec::new(),
                alloc,
                per_step,
            });
        }
        // Removes this thread's capture however `f` ends, a panic included: otherwise every
        // later op of the thread would be captured instead of run.
        struct Guard<'a>(&'a Gpu, ThreadId);
        impl Guard<'_> {
            fn take(&self) -> Option<Capture> {
                let mut all = self.0 .0.capture.lock().ok()?;
                let i = all.iter().position(|c| c.thread == self.1)?;
                Some(all.swap_remove(i))
            }
        }
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                self.take();
            }
        }
        let guard = Guard(self, thread);
        let out = f();
        let cap = guard.take();
        let out = out?;
        self.check_errors("plan")?;
        Ok((out, cap.ok_or_else(capture_lost)?))
    }

    /// Runs `f` on this thread's capture; `false` when this thread is not capturing.
    pub(crate) fn capturing(&self, f: impl FnOnce(&mut Capture)) -> Result<bool> {
        let mut all = self.lock_capture()?;
        let thread = std::thread::current().id();
        match all.iter_mut().find(|c| c.thread == thread) {
            Some(c) => {
                f(c);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The buffer for the next allocation of `size` bytes while this thread captures (see the
    /// module docs), or `None` when it does not.
    pub(crate) fn pooled_buffer(&self, size: u64) -> Result<Option<Arc<wgpu::Buffer>>> {
        let mut out = None;
        self.capturing(|c| {
            out = Some(match &mut c.alloc {
                Alloc::Record {
                    live,
                    lifetimes,
                    stand_ins,
                } => {
                    let clock = lifetimes.len();
                    live.retain(|(i, b)| {
                        let alive = Arc::strong_count(b) > 1;
                        if !alive {
                            lifetimes[*i].end = clock - 1;
                        }
                        alive
                    });
                    let bucket = size
                        .next_power_of_two()
                        .min(self.0.limits.max_buffer_size)
                        .max(size);
                    let stand_in = match stand_ins.iter().find(|b| b.size() == bucket) {
                        Some(b) => b.clone(),
                        None => {
                            let b = self.storage_buffer(bucket);
                            stand_ins.push(b.clone());
                            b
                        }
                    };
                    let b = Arc::new(stand_in);
                    lifetimes.push(Lifetime {
                        size,
                        start: clock,
                        end: usize::MAX,
                    });
                    live.push((clock, b.clone()));
                    b
                }
                Alloc::Assigned {
                    shared,
                    assign,
                    sizes,
                    next,
                    diverged,
                } => {
                    // The second pass must allocate exactly as the first did (the same code
                    // on the same shapes); should it ever not, the plan for the rest is void
                    // and a buffer of its own is always correct.
                    *diverged |= sizes.get(*next) != Some(&size);
                    let at = assign.get(*next).map(|&k| &shared[k]);
                    *next += 1;
                    match at.filter(|_| !*diverged) {
                        Some(b) => b.clone(),
                        None => Arc::new(self.storage_buffer(size)),
                    }
                }
            });
        })?;
        Ok(out)
    }

    fn lock_capture(&self) -> Result<std::sync::MutexGuard<'_, Vec<Capture>>> {
        self.0.capture.lock().map_err(|_| Error::Wgpu {
            op: "plan".into(),
            message: "a thread panicked while compiling a plan".into(),
        })
    }
}

fn capture_lost() -> Error {
    Error::Wgpu {
        op: "plan".into(),
        message: "the capture state was lost".into(),
    }
}
