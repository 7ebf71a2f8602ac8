//! Copying a buffer range to the host: a staging buffer, one submit (which carries the
//! pending work before it), a map, and the wait for it. `Tensor::to_vec` and a plan's
//! exchange points read through here.

use std::sync::{Arc, Mutex};

use super::Gpu;
use crate::error::{Error, Result};

/// Set by the map callback: `Some` once it ran, with its outcome.
pub(crate) type MapFlag = Arc<Mutex<Option<std::result::Result<(), String>>>>;

/// A read-back under way: its staging buffer and map flag.
pub(crate) struct Readback {
    staging: wgpu::Buffer,
    done: MapFlag,
    numel: usize,
    /// The submission that carries the copy: waiting needs no later one to finish.
    index: wgpu::SubmissionIndex,
}

/// Submits the pending work and a copy of `numel` f32 from `buffer` at byte `offset`, and
/// starts mapping the copy.
pub(crate) fn start(
    gpu: &Gpu,
    buffer: &wgpu::Buffer,
    offset: u64,
    numel: usize,
) -> Result<Readback> {
    let size = (numel as u64 * 4).max(4);
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let index = gpu.submit(Some(&mut |enc: &mut wgpu::CommandEncoder| {
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
    }))?;
    let done: MapFlag = Arc::new(Mutex::new(None));
    let flag = done.clone();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        if let Ok(mut f) = flag.lock() {
            *f = Some(r.map_err(|e| e.to_string()));
        }
    });
    Ok(Readback {
        staging,
        done,
        numel,
        index,
    })
}

impl Readback {
    /// Whether the map callback has run.
    pub(crate) fn ready(&self) -> bool {
        self.done.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    /// Waits for the map and returns the values.
    pub(crate) fn wait(self, gpu: &Gpu) -> Result<Vec<f32>> {
        // Another thread's poll may be the one that runs our map callback, and it can still be
        // running it when our own poll returns: wait until the flag is actually set.
        loop {
            let wait = wgpu::PollType::Wait {
                submission_index: Some(self.index.clone()),
                timeout: None,
            };
            gpu.0
                .device
                .poll(wait)
                .map_err(|e| Error::Readback(e.to_string()))?;
            if self.ready() {
                break;
            }
            std::thread::yield_now();
        }
        self.finish(gpu)
    }

    /// The values of a read-back whose map callback has run.
    pub(crate) fn finish(self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.check_errors("read-back")?;
        let state = self
            .done
            .lock()
            .map_err(|_| Error::Readback("map flag poisoned".into()))?
            .clone();
        match state {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Readback(e)),
            None => {
                return Err(Error::Readback(
                    "buffer was not mapped after the wait".into(),
                ))
            }
        }
        let out = {
            let view = self
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Readback(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view)[..self.numel].to_vec()
        };
        self.staging.unmap();
        Ok(out)
    }
}
