//! The one error type of the crate. Every variant says what went wrong and,
//! where the user can act, what to do about it.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in wgcnn: opening a device, invalid arguments and shapes,
/// device limits, training, and files. Its `Display` text is meant for the end user and,
/// where they can act, says what to do.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    // --- device ---
    /// No wgpu adapter could be opened.
    #[error("no GPU adapter found ({reason}). {hint}")]
    NoAdapter {
        /// Why none was found: wgpu's own error, or a `WGCNN_ADAPTER` value that matches no
        /// adapter's name (the message lists the names seen).
        reason: String,
        /// What the user can do about it (install a driver or Mesa's software Vulkan, change
        /// `WGCNN_ADAPTER`…).
        hint: String,
    },
    /// The adapter refused to create a device.
    #[error("could not open a device on adapter `{adapter}`: {source}")]
    Device {
        /// Name of the adapter, as wgpu's `AdapterInfo::name` gives it.
        adapter: String,
        /// wgpu's reason.
        #[source]
        source: wgpu::RequestDeviceError,
    },
    /// wgpu reported a validation or out-of-memory error for an operation.
    #[error("wgpu rejected `{op}`: {message}")]
    Wgpu {
        /// What was being done: a shader and entry point (`compile shader::entry [overrides]`,
        /// `shader::entry`), or a part of the crate (`plan`, `pipeline cache`…).
        op: String,
        /// wgpu's message, or the crate's own when it catches the problem first (a bad binding,
        /// a poisoned lock).
        message: String,
    },
    /// Mapping a buffer for read-back failed.
    #[error("reading a buffer back from the GPU failed: {0}")]
    Readback(String),

    // --- user input ---
    /// A parameter value is out of its allowed range.
    #[error("{op}: invalid {name} = {value}: {why}")]
    InvalidParam {
        /// The op, layer or function that rejected it.
        op: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The rejected value, formatted with `Display`.
        value: String,
        /// The rule it breaks.
        why: String,
    },
    /// A tensor does not have the shape the operation needs.
    #[error("{op}: {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// The op, layer or function that rejected it.
        op: &'static str,
        /// Which tensor or dimension is wrong (`input x`, `dy`, `param and grad`…).
        what: &'static str,
        /// The shape or size it needs, in words or as a shape.
        expected: String,
        /// The shape or size it was given.
        got: String,
    },
    /// A tensor belongs to another `Gpu` than the operation's.
    #[error("{op}: tensors live on different devices; upload them through the same Gpu")]
    DeviceMismatch {
        /// The op that was given tensors of two devices.
        op: &'static str,
    },
    /// A buffer or a dispatch would exceed a device limit.
    #[error(
        "{what} needs {bytes} bytes but the device allows {limit}; use a smaller batch, image or layer"
    )]
    TooLarge {
        /// What is too large: a tensor and its shape, a parameter, a dispatch.
        what: String,
        /// What it needs: bytes for a buffer; for a dispatch, the count (invocations or
        /// workgroups) past the limit. `u64::MAX` when the size does not even fit a `u64`.
        bytes: u64,
        /// The device's or the kernel's limit, in the same unit as `bytes`.
        limit: u64,
    },
    /// One invocation would loop longer than the loop budget allows even after the work is
    /// split as far as the kernel can split it (see `gpu::loops`).
    #[error(
        "{op}: {what} needs {passes} loop passes in one invocation, past the loop budget of {budget} (wgcnn::gpu::loops); use a smaller window or size"
    )]
    LoopBudget {
        /// The op whose kernel cannot be split further.
        op: &'static str,
        /// The unit of work that does not fit (a window row, a K step…).
        what: String,
        /// Loop passes one invocation would run for the smallest split.
        passes: usize,
        /// The loop budget it exceeds: `Gpu::loop_budget`.
        budget: usize,
    },

    // --- models ---
    /// A layer of a model failed (its shapes do not fit, or one of its ops did).
    #[error("layer `{layer}`: {source}")]
    Layer {
        /// The layer's name in its graph.
        layer: String,
        /// The error the layer or its op returned.
        #[source]
        source: Box<Error>,
    },
    /// Training stopped because a step's loss was NaN or infinite (Keras's TerminateOnNaN,
    /// on by default: `FitOptions::terminate_on_nan`). `epoch` counts from 0 as
    /// `EpochLog::epoch`, `step` from 1 within it as `StepLog::step`.
    #[error(
        "the training loss became {loss} at step {step} of epoch {epoch}; fit stopped (check the data, the learning rate and the loss, or set FitOptions::terminate_on_nan = false)"
    )]
    NonFiniteLoss {
        /// The epoch, from 0.
        epoch: usize,
        /// The step within the epoch, from 1.
        step: usize,
        /// The loss value: NaN or ±infinity.
        loss: f32,
    },
    /// A model-level request that does not fit the model (unknown layer, missing loss, …).
    #[error("model: {0}")]
    Model(String),

    // --- files ---
    /// Reading or writing a file failed (checkpoints, data sets, caches, plots).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its contents are not what the format says.
    #[error("{}: {what}", path.display())]
    Format {
        /// The file whose contents are wrong.
        path: PathBuf,
        /// What is wrong with its contents.
        what: String,
    },
    /// A file from the Hugging Face hub is neither in the cache nor downloadable (no network,
    /// no such file, a refused or corrupt download). The text says what to fetch and where.
    #[error("hub file `{file}` of `{repo}`: {what}")]
    Hub {
        /// The repository, `owner/name`.
        repo: String,
        /// The file in the repository.
        file: String,
        /// What went wrong and what to do.
        what: String,
    },
}

impl Error {
    /// A file whose contents are not what its format says.
    pub(crate) fn format(path: &std::path::Path, what: impl Into<String>) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    /// An I/O failure on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Wraps `self` with the name of the layer it happened in.
    pub(crate) fn in_layer(self, layer: &str) -> Error {
        Error::Layer {
            layer: layer.to_string(),
            source: Box::new(self),
        }
    }

    pub(crate) fn invalid(
        op: &'static str,
        name: &'static str,
        value: impl std::fmt::Display,
        why: impl Into<String>,
    ) -> Error {
        Error::InvalidParam {
            op,
            name,
            value: value.to_string(),
            why: why.into(),
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`, so a
/// crash never leaves a half-written file where the old one was.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| Error::format(path, "not a file path"))?
        .to_string_lossy();
    // Unique per process and call: two writers of one file in one process (two Gpus saving a
    // cache) must not share a temp file.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
