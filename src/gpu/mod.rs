//! `Gpu`: the device handle every tensor and op goes through.
//!
//! It owns the wgpu device and queue, the pipeline cache and the pending command encoder
//! (ops record into it; it is submitted on read-back or `flush`). Validation errors that wgpu
//! reports asynchronously are collected and returned as `Err` at the next flush or read-back.

mod adapter;
pub(crate) mod capture;
pub(crate) mod disk_cache;
pub mod driver;
pub mod exchange;
pub mod loops;
mod pack;
pub(crate) mod per_step;
mod pipelines;
pub(crate) mod readback;
mod recorder;
pub mod shaders;
mod textures;
pub mod timing;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use capture::Plan;
pub use pipelines::{Overrides, PipelineKey};
pub use recorder::{Binding, BufferRange};
pub use shaders::{Shader, ShaderDef, TextureBinding, UniformLayout};

use crate::error::{Error, Result};

/// Declares a `#[repr(C)]` uniform block of 4-byte scalar fields (`u32`, `f32`) that mirrors a
/// WGSL `struct Params`, with `FIELDS` (name, byte offset) so the naga test can compare the two
/// layouts.
macro_rules! uniform_block {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Debug, Default, PartialEq)]
        $vis struct $name { $($(#[$fm])* pub $f: $t,)* }
        impl $crate::gpu::UniformBlock for $name {
            const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($f), std::mem::offset_of!($name, $f)),)*];
        }
    };
}

/// A Rust mirror of a WGSL uniform block (made by `uniform_block!`).
pub trait UniformBlock: bytemuck::Pod {
    /// Field names and byte offsets, in declaration order.
    const FIELDS: &'static [(&'static str, usize)];
}
pub(crate) use uniform_block;

/// A GPU device and queue with wgcnn's pipeline cache and pending encoder.
///
/// Cheap to clone (an `Arc`), `Send + Sync`.
#[derive(Clone)]
pub struct Gpu(pub(crate) Arc<GpuInner>);

pub(crate) struct GpuInner {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) driver: driver::Driver,
    pub(crate) limits: wgpu::Limits,
    pub(crate) pipelines: pipelines::Cache,
    pub(crate) pending: Mutex<recorder::Pending>,
    /// Messages from wgpu's uncaptured-error handler, drained at each flush.
    pub(crate) errors: Arc<Mutex<Vec<String>>>,
    /// 4-byte buffers bound where a kernel's optional binding is absent, one per binding slot
    /// (a buffer may not be bound read-only and writable in one dispatch).
    pub(crate) stand_ins: Mutex<Vec<Arc<wgpu::Buffer>>>,
    /// Per-device state of the layers above, by type (`Gpu::extension`).
    extensions: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Plans being compiled, one per thread at most (see `capture`).
    pub(crate) capture: Mutex<Vec<capture::Capture>>,
    pub(crate) submits: AtomicU64,
    pub(crate) dispatches: AtomicU64,
    /// Loop passes one invocation may run (`loops::LOOP_BUDGET` unless lowered).
    pub(crate) loop_budget: AtomicUsize,
}

/// How much work went to the device since the `Gpu` was made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counters {
    /// Queue submissions (one per read-back, `flush` or `sync` with work pending).
    pub submits: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
}

impl Gpu {
    /// Opens the best adapter: a discrete or integrated GPU first, a software adapter
    /// (lavapipe, llvmpipe) last.
    ///
    /// `WGPU_BACKEND` (vulkan, metal, dx12, gl) restricts the backends searched and
    /// `WGCNN_ADAPTER` picks the adapter whose name contains the given text.
    pub fn new() -> Result<Gpu> {
        pollster::block_on(Self::new_async())
    }

    /// Async form of [`Gpu::new`].
    pub async fn new_async() -> Result<Gpu> {
        Self::open(None, None).await
    }

    /// The adapter of process `local_rank` of several on one machine (data-parallel training:
    /// one process per adapter): the hardware adapters in [`Gpu::new`]'s order, each device
    /// counted once, `local_rank` modulo their number. Without a hardware adapter every
    /// process opens the best software one; `WGCNN_ADAPTER` overrides the choice for all.
    pub fn for_local_rank(local_rank: usize) -> Result<Gpu> {
        pollster::block_on(Self::open(Some(local_rank), None))
    }

    /// [`Gpu::new`]'s adapter, binding at most `bytes` per storage buffer: tests prove on
    /// small shapes what ops do with tensors past the binding limit.
    pub(crate) fn with_binding_limit(bytes: u64) -> Result<Gpu> {
        pollster::block_on(Self::open(None, Some(bytes)))
    }

    async fn open(local_rank: Option<usize>, binding_limit: Option<u64>) -> Result<Gpu> {
        let adapter = adapter::choose(local_rank).await?;
        let mut limits = adapter.limits();
        if let Some(bytes) = binding_limit {
            limits.max_storage_buffer_binding_size =
                bytes.min(limits.max_storage_buffer_binding_size);
        }
        let info = adapter.get_info();
        // The adapter's own limits: wgpu's defaults cap storage bindings at 128 MiB and
        // workgroups at 256 invocations, far below what most adapters allow.
        let desc = wgpu::DeviceDescriptor {
            label: Some("wgcnn"),
            // Subgroup operations speed up reductions where the adapter has them; timestamp
            // queries time the kernels of a profiled step; a pipeline cache kept on disk
            // spares later processes the driver's compiler.
            required_features: adapter.features()
                & (wgpu::Features::SUBGROUP
                    | wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::PIPELINE_CACHE),
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            adapter
                .request_device(&desc)
                .await
                .map_err(|source| Error::Device {
                    adapter: info.name.clone(),
                    source,
                })?;
        Ok(Self::build(device, queue, info))
    }

    /// Wraps a device and queue that the calling program already owns. wgcnn uses the
    /// device's own limits; it requests no features of its own.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Gpu {
        let info = device.adapter_info();
        Self::build(device, queue, info)
    }

    fn build(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Gpu {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let limits = device.limits();
        let pipelines = pipelines::Cache::new(&device, &info);
        let driver = driver::Driver::of(&info);
        let gpu = Gpu(Arc::new(GpuInner {
            device,
            queue,
            info,
            driver,
            limits,
            pipelines,
            pending: Mutex::new(recorder::Pending::default()),
            errors,
            stand_ins: Mutex::new(Vec::new()),
            extensions: Mutex::default(),
            capture: Mutex::new(Vec::new()),
            submits: AtomicU64::new(0),
            dispatches: AtomicU64::new(0),
            loop_budget: AtomicUsize::new(loops::LOOP_BUDGET),
        }));
        log::info!("wgcnn on {}", gpu.describe());
        for q in &gpu.0.driver.quirks {
            if q.applied() {
                log::info!("{}: {q}", gpu.0.driver);
            } else {
                log::warn!("{}: {q}", gpu.0.driver);
            }
        }
        gpu
    }

    /// This device's `T`, made by `init` when first asked for: per-device state that an op
    /// owns (the conv autotuner's choices) without the device layer knowing the op.
    pub(crate) fn extension<T: Any + Send + Sync>(&self, init: impl FnOnce(&Gpu) -> T) -> Arc<T> {
        let id = TypeId::of::<T>();
        // A panic elsewhere cannot leave the map half-written: recover it from a poisoned lock.
        let slots = || self.0.extensions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slots()
            .get(&id)
            .and_then(|v| v.clone().downcast::<T>().ok())
        {
            return t;
        }
        // `init` runs unlocked (it may read files or ask for another extension); if two threads
        // raced, the first one stored wins and both get it.
        let made: Arc<dyn Any + Send + Sync> = Arc::new(init(self));
        let mut s = slots();
        let stored = s.entry(id).or_insert(made).clone();
        drop(s);
        stored
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("slot of T's TypeId holds a T"))
    }

    /// A storage buffer of `size` bytes that kernels read and write and copies reach (every
    /// tensor's and every pooled plan buffer's kind).
    pub(crate) fn storage_buffer(&self, size: u64) -> wgpu::Buffer {
        self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor"),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// The wgpu device, for programs that record their own work next to wgcnn's.
    pub fn device(&self) -> &wgpu::Device {
        &self.0.device
    }
    /// The wgpu queue that wgcnn submits to and uploads through.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }
    /// Name, vendor, driver, type and backend of the adapter the device is on.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }
    /// The device's limits (the adapter's own, not wgpu's defaults, for a device that
    /// [`Gpu::new`] opened); buffer sizes and dispatches are checked against these.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }
    /// The storage offset alignment in f32 elements: a tensor bound from a view must start at
    /// a multiple of it.
    pub(crate) fn offset_alignment(&self) -> usize {
        (self.0.limits.min_storage_buffer_offset_alignment as usize / 4).max(1)
    }
    /// The device's features; wgcnn uses `SUBGROUP`, `TIMESTAMP_QUERY` and `PIPELINE_CACHE`
    /// where present.
    pub fn features(&self) -> wgpu::Features {
        self.0.device.features()
    }
    /// One line naming the adapter, its driver, type and backend, and the driver's known
    /// quirks, for logs and bench tables.
    pub fn describe(&self) -> String {
        let i = &self.0.info;
        let driver = if i.driver_info.is_empty() {
            &i.driver
        } else {
            &i.driver_info
        };
        let mut s = format!(
            "{}, {driver} ({:?}, {:?})",
            i.name, i.device_type, i.backend
        );
        let quirks = &self.0.driver.quirks;
        if !quirks.is_empty() {
            let list: Vec<String> = quirks.iter().map(|q| q.to_string()).collect();
            s += &format!("; quirks: {}", list.join("; "));
        }
        s
    }

    /// The driver (name, Mesa version where it is Mesa's) and its known quirks.
    pub fn driver(&self) -> &driver::Driver {
        &self.0.driver
    }
    /// True for software adapters (lavapipe, llvmpipe, WARP), where register-blocked kernels
    /// beat workgroup-memory tiling.
    pub fn is_software(&self) -> bool {
        self.0.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Loop passes one invocation of any kernel may run ([`loops`]): [`loops::LOOP_BUDGET`]
    /// unless lowered.
    pub fn loop_budget(&self) -> usize {
        self.0.loop_budget.load(Ordering::Relaxed)
    }

    /// Lowers the loop budget: ops then cut their work finer (more K-slices, reduction levels
    /// and invocations) and give the same results within rounding. Tests use small budgets to
    /// run the splitting on small shapes. Capped at [`loops::LOOP_BUDGET`], at least 16.
    pub fn set_loop_budget(&self, passes: usize) {
        let b = passes.clamp(16, loops::LOOP_BUDGET);
        self.0.loop_budget.store(b, Ordering::Relaxed);
    }

    /// Submissions and dispatches so far: chains of ops should cost one submit, not one each.
    pub fn counters(&self) -> Counters {
        Counters {
            submits: self.0.submits.load(Ordering::Relaxed),
            dispatches: self.0.dispatches.load(Ordering::Relaxed),
        }
    }

    /// Submits all recorded work without waiting for it (nothing when nothing is recorded).
    pub fn flush(&self) -> Result<()> {
        if self.lock_pending()?.has_work() {
            self.submit(None)?;
        }
        Ok(())
    }

    /// Submits all recorded work and waits until the device has finished all it was given.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Wgpu {
                op: "sync".into(),
                message: e.to_string(),
            })?;
        self.check_errors("sync")
    }

    /// Submits the pending encoder, first letting `extra` append commands (a read-back copy).
    pub(crate) fn submit(
        &self,
        extra: Option<&mut dyn FnMut(&mut wgpu::CommandEncoder)>,
    ) -> Result<wgpu::SubmissionIndex> {
        if self.capturing(|_| ())? {
            return Err(Error::Wgpu {
                op: "plan".into(),
                message: "an op read a result back while a plan was being compiled".into(),
            });
        }
        // Keep the lock until the submit: another thread must not submit work recorded after
        // ours before ours, or it would read results that are not computed yet.
        let mut pending = self.lock_pending()?;
        let mut enc = pending.take(&self.0.device);
        if let Some(f) = extra {
            f(&mut enc);
        }
        let idx = self.0.queue.submit([enc.finish()]);
        self.0.submits.fetch_add(1, Ordering::Relaxed);
        drop(pending);
        self.check_errors("submit")?;
        Ok(idx)
    }

    pub(crate) fn wait(&self, idx: wgpu::SubmissionIndex) -> Result<()> {
        self.0
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(idx),
                timeout: None,
            })
            .map_err(|e| Error::Wgpu {
                op: "wait".into(),
                message: e.to_string(),
            })?;
        self.check_errors("wait")
    }

    pub(crate) fn lock_pending(&self) -> Result<std::sync::MutexGuard<'_, recorder::Pending>> {
        self.0.pending.lock().map_err(|_| Error::Wgpu {
            op: "record".into(),
            message: "a thread panicked while recording; the Gpu cannot be used further".into(),
        })
    }

    /// Turns errors that wgpu reported through the uncaptured-error handler into an `Err`.
    pub(crate) fn check_errors(&self, op: &str) -> Result<()> {
        let msgs: Vec<String> = match self.0.errors.lock() {
            Ok(mut v) => v.drain(..).collect(),
            Err(_) => return Ok(()),
        };
        if msgs.is_empty() {
            Ok(())
        } else {
            Err(Error::Wgpu {
                op: op.into(),
                message: msgs.join("; "),
            })
        }
    }

    pub(crate) fn same(&self, other: &Gpu) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", self.describe())
    }
}
