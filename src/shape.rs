//! Shapes, spatial pairs and padding: the vocabulary every op shares.

use std::fmt;

use crate::error::{Error, Result};

/// Dimensions of a tensor, outermost first (NCHW for activations).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// A shape of `dims`, outermost first.
    pub fn new(dims: impl Into<Vec<usize>>) -> Shape {
        Shape(dims.into())
    }
    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// Number of dimensions (4 for an NCHW activation).
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// Number of elements; `None` when the product overflows `usize`.
    pub fn checked_numel(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
    /// Number of elements (saturating; shapes that overflow are refused on upload).
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Shape {
        Shape(d.to_vec())
    }
}
impl<const R: usize> From<[usize; R]> for Shape {
    fn from(d: [usize; R]) -> Shape {
        Shape(d.to_vec())
    }
}

/// A (height, width) pair. Named fields, never `0/1`, so the two axes cannot be swapped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct HW<T> {
    /// Along the height (rows, the `h` of NCHW).
    pub h: T,
    /// Along the width (columns, the `w` of NCHW).
    pub w: T,
}

impl<T> HW<T> {
    /// A pair of height `h` and width `w`.
    pub const fn new(h: T, w: T) -> HW<T> {
        HW { h, w }
    }
}
impl<T: Copy> HW<T> {
    /// The same value `v` for both axes.
    pub const fn square(v: T) -> HW<T> {
        HW { h: v, w: v }
    }
}
impl<T: Copy> From<(T, T)> for HW<T> {
    fn from((h, w): (T, T)) -> HW<T> {
        HW { h, w }
    }
}
impl From<usize> for HW<usize> {
    fn from(v: usize) -> HW<usize> {
        HW::square(v)
    }
}
impl<T: fmt::Display> fmt::Display for HW<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.h, self.w)
    }
}

/// How a convolution or pooling window treats the border.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Padding {
    /// No padding: the window stays inside the input.
    #[default]
    Valid,
    /// TensorFlow/Keras "same": output = ceil(input / stride); the total pad is split with the
    /// odd extra pixel on the bottom/right.
    Same,
    /// Explicit zero padding on each side.
    Explicit {
        /// Zero rows added above the input.
        top: usize,
        /// Zero rows added below the input.
        bottom: usize,
        /// Zero columns added left of the input.
        left: usize,
        /// Zero columns added right of the input.
        right: usize,
    },
}

impl Padding {
    /// The same padding on all four sides.
    pub const fn symmetric(p: usize) -> Padding {
        Padding::Explicit {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Padding::Valid => write!(f, "valid"),
            Padding::Same => write!(f, "same"),
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => write!(f, "explicit[{top},{bottom},{left},{right}]"),
        }
    }
}

/// Pads (before, after) along one axis for a window of `extent = dilation·(k−1)+1` and `stride`.
/// `Same` follows TensorFlow: out = ceil(size / stride), pad = max((out−1)·stride + extent − size, 0),
/// with the odd pixel after.
fn same_pads(size: usize, extent: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + extent).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Output length along one axis: floor((size + pads − extent) / stride) + 1, or `None` when the
/// window does not fit even once.
pub(crate) fn window_out(size: usize, pads: usize, extent: usize, stride: usize) -> Option<usize> {
    let padded = size + pads;
    (padded >= extent).then(|| (padded - extent) / stride + 1)
}

/// Largest kernel, stride, dilation, padding or dilated window extent: far beyond any real
/// network, and small enough that the shaders' 32-bit window arithmetic cannot overflow.
pub const WINDOW_LIMIT: usize = 1 << 24;

/// A sliding window's extents and pads, shared by convolution and pooling.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Window {
    /// Dilated extent `dilation·(kernel − 1) + 1` per axis.
    pub ext: HW<usize>,
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// Checks kernel, stride, dilation and padding (all ≥ 1 where they must be, none past
/// [`WINDOW_LIMIT`]) and resolves the pads for an input of `size`.
pub(crate) fn resolve_window(
    op: &'static str,
    size: HW<usize>,
    kernel: HW<usize>,
    stride: HW<usize>,
    dilation: HW<usize>,
    padding: Padding,
) -> Result<Window> {
    for (name, v) in [
        ("kernel height", kernel.h),
        ("kernel width", kernel.w),
        ("stride height", stride.h),
        ("stride width", stride.w),
        ("dilation height", dilation.h),
        ("dilation width", dilation.w),
    ] {
        if v == 0 {
            return Err(Error::invalid(op, name, v, "must be at least 1"));
        }
    }
    let pads = match padding {
        Padding::Explicit {
            top,
            bottom,
            left,
            right,
        } => top.max(bottom).max(left).max(right),
        _ => 0,
    };
    for (name, v) in [
        ("kernel", kernel.h.max(kernel.w)),
        ("stride", stride.h.max(stride.w)),
        ("dilation", dilation.h.max(dilation.w)),
        ("padding", pads),
    ] {
        if v > WINDOW_LIMIT {
            return Err(Error::invalid(
                op,
                name,
                v,
                format!("must be at most {WINDOW_LIMIT}"),
            ));
        }
    }
    let ext = HW::new(
        dilation.h * (kernel.h - 1) + 1,
        dilation.w * (kernel.w - 1) + 1,
    );
    if ext.h.max(ext.w) > WINDOW_LIMIT {
        return Err(Error::invalid(
            op,
            "kernel",
            format!("{kernel} with dilation {dilation}"),
            format!("the dilated window may span at most {WINDOW_LIMIT}"),
        ));
    }
    let (top, bottom, left, right) = match padding {
        Padding::Valid => (0, 0, 0, 0),
        Padding::Same => {
            let (t, b) = same_pads(size.h, ext.h, stride.h);
            let (l, r) = same_pads(size.w, ext.w, stride.w);
            (t, b, l, r)
        }
        Padding::Explicit {
            top,
            bottom,
            left,
            right,
        } => (top, bottom, left, right),
    };
    Ok(Window {
        ext,
        top,
        bottom,
        left,
        right,
    })
}
