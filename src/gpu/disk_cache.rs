//! Files under the user cache directory (`$XDG_CACHE_HOME/wgcnn`, else `~/.cache/wgcnn`),
//! and the driver's pipeline cache kept there: where the adapter offers PIPELINE_CACHE, the
//! compiled pipelines of one process seed the next one's, so a later start skips the driver's
//! compiler. Every cache is best effort: a missing, unreadable or damaged file only costs
//! the work it would have saved.

use std::path::PathBuf;
use std::sync::Mutex;

use md5::{Digest, Md5};

/// `<cache>/wgcnn`, or `None` where no cache directory is known.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
            Some(PathBuf::from(home).join(".cache"))
        })?;
    Some(base.join("wgcnn"))
}

/// Writes `bytes` to `file` atomically, making its folder; a failure is only logged (a cache).
pub(crate) fn store(file: &std::path::Path, bytes: &[u8]) {
    let written = match file.parent() {
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(crate::error::Error::io(dir))
            .and_then(|()| crate::error::write_atomic(file, bytes)),
        None => Ok(()),
    };
    if let Err(e) = written {
        log::debug!("cache not written: {e}");
    }
}

/// The driver's pipeline cache and its file: `[md5 of data (16 bytes)][data]`, the digest
/// guarding the driver from a damaged file (wgpu checks only the data's header).
pub(crate) struct PipelineDiskCache {
    pub(crate) cache: wgpu::PipelineCache,
    file: PathBuf,
    /// Bytes of data in the file when it was read or last written.
    stored: Mutex<usize>,
}

impl PipelineDiskCache {
    /// Opens the cache for this device, or `None` where the adapter has no pipeline cache,
    /// wgpu knows no cache key for it, or there is no cache directory.
    pub(crate) fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<Self> {
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let file = cache_dir()?.join("pipelines").join(key);
        let data = match std::fs::read(&file) {
            Ok(bytes) => {
                let data = bytes
                    .split_at_checked(16)
                    .filter(|(digest, data)| Md5::digest(data).as_slice() == *digest)
                    .map(|(_, data)| data.to_vec());
                match &data {
                    Some(d) => {
                        log::debug!("pipeline cache: {} bytes from {}", d.len(), file.display())
                    }
                    None => log::warn!("damaged pipeline cache {} ignored", file.display()),
                }
                data
            }
            Err(_) => {
                log::debug!("no pipeline cache at {} yet", file.display());
                None
            }
        };
        // SAFETY: `data` is what `get_data` returned in an earlier process for the same
        // cache key (adapter and driver), unaltered since: its digest matched. wgpu checks
        // the header again and falls back to an empty cache if it does not fit this device.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("wgcnn pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(PipelineDiskCache {
            cache,
            file,
            stored: Mutex::new(data.map_or(0, |d| d.len())),
        })
    }

    /// Writes the cache's data to its file if the driver's cache has grown since.
    pub(crate) fn save(&self) {
        let Some(data) = self.cache.get_data() else {
            return;
        };
        let Ok(mut stored) = self.stored.lock() else {
            return;
        };
        if data.len() == *stored {
            return;
        }
        let mut bytes = Md5::digest(&data).to_vec();
        bytes.extend_from_slice(&data);
        store(&self.file, &bytes);
        *stored = data.len();
    }
}

impl Drop for PipelineDiskCache {
    fn drop(&mut self) {
        self.save();
    }
}
