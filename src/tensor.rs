//! `Tensor`: an f32 array on the GPU with its shape; upload and read-back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::gpu::readback::{self, Readback};
use crate::gpu::{Binding, BufferRange, Gpu};
use crate::shape::Shape;

/// An f32 tensor in a GPU buffer, NCHW for activations. Cloning shares the buffer.
#[derive(Clone)]
pub struct Tensor {
    gpu: Gpu,
    buf: Arc<wgpu::Buffer>,
    /// Byte offset of element 0 in `buf` (views into a plan's flat parameter buffer).
    offset: u64,
    shape: Shape,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{}", self.shape)
    }
}

impl Tensor {
    /// Uploads `data` (row-major, last index fastest) as a tensor of `shape`.
    pub fn from_slice(gpu: &Gpu, shape: impl Into<Shape>, data: &[f32]) -> Result<Tensor> {
        let shape = shape.into();
        if shape.checked_numel() != Some(data.len()) {
            return Err(Error::ShapeMismatch {
                op: "Tensor::from_slice",
                what: "element count",
                expected: format!("{} elements for shape {shape}", shape.numel()),
                got: format!("{} elements", data.len()),
            });
        }
        // A dedicated buffer even while a plan is being captured: the data must stay put.
        let t = Tensor::alloc(gpu, shape, false)?;
        if !data.is_empty() {
            // Uploads ride on the queue and land before the next submit, so they are ordered
            // before any op recorded afterwards. Pending ops recorded *before* must not see the
            // new data, but a fresh buffer has no earlier readers.
            gpu.queue()
                .write_buffer(&t.buf, t.offset, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// A tensor of zeros. In a plan being captured its buffer comes from the plan's pool and
    /// every replay clears it first; elsewhere it is a new buffer (wgpu zero-fills those).
    pub fn zeros(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Tensor> {
        let t = Tensor::alloc(gpu, shape.into(), true)?;
        gpu.clear_in_capture(&t)?;
        Ok(t)
    }

    /// A tensor whose values are unspecified, for an output that its op writes in full. In a
    /// plan being captured its buffer comes from the plan's pool and holds whatever an earlier
    /// step left there; elsewhere it is a new (zero-filled) buffer.
    pub(crate) fn uninit(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::alloc(gpu, shape.into(), true)
    }

    fn alloc(gpu: &Gpu, shape: Shape, pooled: bool) -> Result<Tensor> {
        let bytes = shape
            .checked_numel()
            .and_then(|n| (n as u64).checked_mul(4))
            .ok_or_else(|| Error::TooLarge {
                what: format!("tensor {shape}"),
                bytes: u64::MAX,
                limit: gpu.limits().max_buffer_size,
            })?;
        // One buffer may pass the storage binding limit: ops that take such a tensor bind it
        // in parts, the others refuse it at dispatch.
        let limit = gpu.limits().max_buffer_size;
        if bytes > limit {
            return Err(Error::TooLarge {
                what: format!("tensor {shape}"),
                bytes,
                limit,
            });
        }
        // Zero-sized bindings are not allowed; an empty tensor still owns 4 bytes.
        let size = bytes.max(4);
        let buf = match pooled {
            true => gpu.pooled_buffer(size)?,
            false => None,
        };
        let buf = buf.unwrap_or_else(|| Arc::new(gpu.storage_buffer(size)));
        Ok(Tensor {
            gpu: gpu.clone(),
            buf,
            offset: 0,
            shape,
        })
    }

    /// A view of `shape` starting `offset` elements into this tensor (no copy). Views bound to
    /// kernels must start at a multiple of the adapter's storage offset alignment.
    pub(crate) fn view(&self, offset: usize, shape: Shape) -> Result<Tensor> {
        let end = offset.checked_add(shape.numel());
        if end.is_none_or(|e| e > self.numel()) {
            return Err(Error::ShapeMismatch {
                op: "Tensor::view",
                what: "range",
                expected: format!("within {} elements", self.numel()),
                got: format!("{shape} at element {offset}"),
            });
        }
        Ok(Tensor {
            gpu: self.gpu.clone(),
            buf: self.buf.clone(),
            offset: self.offset + offset as u64 * 4,
            shape,
        })
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// The shape's dimensions, outermost first (`[n, c, h, w]` for an activation).
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    /// Number of elements (f32 values).
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }
    /// The device the tensor lives on; ops refuse tensors of other devices.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
    /// The wgpu buffer that holds the data. It may be shared with other tensors (clones,
    /// views into a plan's parameter buffer) and be larger than this tensor: the data starts
    /// at [`Tensor::offset`] and spans `numel() * 4` bytes.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buf
    }
    /// Byte offset of the first element in [`Tensor::buffer`].
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The buffer range this tensor occupies, for binding to a kernel.
    pub fn binding(&self) -> Binding<'_> {
        Binding {
            buffer: &self.buf,
            offset: self.offset,
            size: (self.numel() as u64 * 4).max(4),
        }
    }

    /// The same data seen with another shape of equal element count (no copy).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.checked_numel() != Some(self.numel()) {
            return Err(Error::ShapeMismatch {
                op: "Tensor::reshape",
                what: "element count",
                expected: format!("{} elements", self.numel()),
                got: format!("{shape} ({} elements)", shape.numel()),
            });
        }
        Ok(Tensor {
            gpu: self.gpu.clone(),
            buf: self.buf.clone(),
            offset: self.offset,
            shape,
        })
    }

    /// Submits pending work, waits for it and copies the tensor to the host.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        readback::start(&self.gpu, &self.buf, self.offset, self.numel())?.wait(&self.gpu)
    }

    /// Async read-back: submits now and resolves once the data is on the host. The future
    /// polls the device each time it is polled, so it works under any executor.
    pub fn to_vec_async(&self) -> impl Future<Output = Result<Vec<f32>>> + Send + 'static {
        ReadFuture {
            gpu: self.gpu.clone(),
            state: Some(readback::start(
                &self.gpu,
                &self.buf,
                self.offset,
                self.numel(),
            )),
        }
    }
}

impl BufferRange for Tensor {
    fn binding(&self) -> Binding<'_> {
        Tensor::binding(self)
    }
}

struct ReadFuture {
    gpu: Gpu,
    state: Option<Result<Readback>>,
}

impl Future for ReadFuture {
    type Output = Result<Vec<f32>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let read = match self.state.take() {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Poll::Ready(Err(e)),
            None => {
                return Poll::Ready(Err(Error::Readback(
                    "future polled after completion".into(),
                )))
            }
        };
        if let Err(e) = self.gpu.0.device.poll(wgpu::PollType::Poll) {
            return Poll::Ready(Err(Error::Readback(e.to_string())));
        }
        if read.ready() {
            return Poll::Ready(read.finish(&self.gpu));
        }
        self.state = Some(Ok(read));
        // No callback reaches the executor on native backends: ask to be polled again.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::Tensor;
    use crate::ops::elementwise::{activation, Activation};

    /// In a plan, `zeros` gets a pooled buffer that an earlier tenant filled; every replay
    /// must still see zeros, while `uninit` keeps what the tenant left.
    #[test]
    fn zeros_in_a_plan_are_zeros_at_every_replay() {
        let gpu = crate::testing::gpu();
        let sevens = Tensor::from_slice(&gpu, [64], &[7.0; 64]).unwrap();
        let (out, plan) = gpu
            .capture(|| {
                // The tenant: a pooled output written with 7s, dead before `zeros` allocates.
                let tenant = activation(&sevens, Activation::Relu)?;
                drop(tenant);
                let z = Tensor::zeros(&gpu, [64])?;
                // Keep z alive past the plan by copying it out: its pooled buffer is reused.
                let out = Tensor::from_slice(&gpu, [64], &[1.0; 64])?;
                gpu.copy(&z, 0, &out, 0, 64)?;
                Ok(out)
            })
            .unwrap();
        for _ in 0..2 {
            plan.record().unwrap();
            assert_eq!(out.to_vec().unwrap(), vec![0.0; 64]);
        }
    }
}
