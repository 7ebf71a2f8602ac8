//! Per-dispatch device times of a captured [`Plan`], from timestamp queries: the profile
//! that says which kernel a step spends its time in. Each dispatch gets a compute pass of its
//! own with a timestamp at its start and end, so a profiled step is slightly slower than a
//! plain one; the times are the device's.

use super::capture::{Plan, Step};
use super::Gpu;
use crate::error::{Error, Result};

/// wgpu's cap on the queries of one query set.
const MAX_QUERIES: usize = 4096;

/// The device time of one dispatch.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// `shader::entry`, e.g. `conv2d_winograd::input_transform`.
    pub kernel: String,
    /// Milliseconds between the timestamps at the start and end of its compute pass.
    pub ms: f64,
}

/// Sums times by kernel, largest first: (kernel, total ms, dispatches).
pub fn by_kernel(times: &[KernelTime]) -> Vec<(String, f64, usize)> {
    let mut sums: Vec<(String, f64, usize)> = Vec::new();
    for t in times {
        match sums.iter_mut().find(|(k, ..)| *k == t.kernel) {
            Some(s) => {
                s.1 += t.ms;
                s.2 += 1;
            }
            None => sums.push((t.kernel.clone(), t.ms, 1)),
        }
    }
    sums.sort_by(|a, b| b.1.total_cmp(&a.1));
    sums
}

/// Query set and buffers for one profiled replay.
pub(crate) struct Timer {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
    labels: Vec<String>,
}

impl Timer {
    pub(crate) fn new(plan: &Plan) -> Result<Timer> {
        let gpu = plan.gpu();
        if !gpu.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(Error::Wgpu {
                op: "profile".into(),
                message: format!("{} has no timestamp queries", gpu.describe()),
            });
        }
        let labels: Vec<String> = plan
            .steps()
            .iter()
            .filter_map(|s| match s {
                Step::Dispatch { shader, entry, .. } => Some(format!("{shader}::{entry}")),
                Step::Copy { .. } | Step::Clear { .. } | Step::Exchange { .. } => None,
            })
            .collect();
        let count = 2 * labels.len();
        if count == 0 || count > MAX_QUERIES {
            return Err(Error::Wgpu {
                op: "profile".into(),
                message: format!(
                    "{} dispatches: a profile times 1 to {}",
                    labels.len(),
                    MAX_QUERIES / 2
                ),
            });
        }
        let device = gpu.device();
        let bytes = count as u64 * 8;
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        Ok(Timer {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: count as u32,
            }),
            resolved: buffer("profile resolve", U::QUERY_RESOLVE | U::COPY_SRC),
            staging: buffer("profile readback", U::MAP_READ | U::COPY_DST),
            labels,
        })
    }

    /// Encodes `steps` with one pass per dispatch, timestamped, then the query resolve.
    pub(crate) fn record(&self, enc: &mut wgpu::CommandEncoder, steps: &[Step]) {
        let mut q = 0;
        for step in steps {
            match step {
                // A profiled step is one process's: exchange points change nothing.
                Step::Copy { .. } | Step::Clear { .. } | Step::Exchange { .. } => {
                    super::capture::record(enc, std::slice::from_ref(step))
                }
                Step::Dispatch {
                    pipeline,
                    bind,
                    groups: [x, y, z],
                    entry,
                    ..
                } => {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(entry),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &self.queries,
                            beginning_of_pass_write_index: Some(q),
                            end_of_pass_write_index: Some(q + 1),
                        }),
                    });
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, bind, &[]);
                    pass.dispatch_workgroups(*x, *y, *z);
                    q += 2;
                }
            }
        }
        enc.resolve_query_set(&self.queries, 0..q, &self.resolved, 0);
        enc.copy_buffer_to_buffer(&self.resolved, 0, &self.staging, 0, self.resolved.size());
    }

    /// Waits for the submitted replay and reads its times.
    pub(crate) fn read(self, gpu: &Gpu) -> Result<Vec<KernelTime>> {
        let failed = |message: String| Error::Wgpu {
            op: "profile".into(),
            message,
        };
        let slice = self.staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        loop {
            gpu.device()
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| failed(e.to_string()))?;
            match rx.try_recv() {
                Ok(r) => {
                    r.map_err(|e| failed(e.to_string()))?;
                    break;
                }
                // Another thread's poll may still be running our callback.
                Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                Err(e) => return Err(failed(e.to_string())),
            }
        }
        let period = f64::from(gpu.queue().get_timestamp_period());
        let data = slice
            .get_mapped_range()
            .map_err(|e| failed(e.to_string()))?;
        let ticks: &[u64] = bytemuck::cast_slice(&data);
        Ok(self
            .labels
            .into_iter()
            .zip(ticks.chunks_exact(2))
            .map(|(kernel, t)| KernelTime {
                kernel,
                ms: t[1].saturating_sub(t[0]) as f64 * period / 1e6,
            })
            .collect())
    }
}

impl Plan {
    /// Records every step into the pending encoder with per-dispatch timestamps into `timer`
    /// (made for this plan by [`Timer::new`]); read them after the submit.
    pub(crate) fn record_timed(&self, timer: &Timer) -> Result<()> {
        let mut pending = self.gpu().lock_pending()?;
        timer.record(pending.encoder(self.gpu().device()), self.steps());
        self.count_dispatches();
        Ok(())
    }
}
