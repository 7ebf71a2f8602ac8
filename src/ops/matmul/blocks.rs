//! Products whose operands pass the adapter's storage binding limit (VGG's 25088×4096
//! classifier weight is 392 MiB; lavapipe binds 128 MiB): the product runs as blocks of M, N
//! and K, and each block binds only the range of each operand it reads or writes. A range
//! starts at the offset alignment at or below its block's first element, and the kernel adds
//! the rest (`a_off`, `b_off`, `c_off`, `bias_off` in matmul.wgsl), so block sizes need no
//! alignment of their own. Blocks along K add into C as K-slices do.

use std::ops::Range;

use super::gpu::{dispatch_block, Batch, MatmulKernel, Part};
use super::MatmulGeometry;
use crate::error::{Error, Result};
use crate::gpu::loops::slices;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Records the products into `c` (checked by the caller): as blocks that each bind only what
/// they read and write where an operand passes the adapter's storage binding limit,
/// otherwise as one block.
pub(crate) fn dispatch(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    c: &Tensor,
    g: &MatmulGeometry,
    k: MatmulKernel,
    batch: Batch,
) -> Result<()> {
    let limit = a.gpu().limits().max_storage_buffer_binding_size;
    let align = a.gpu().offset_alignment();
    let sizes = sizes(g, &batch, (limit / 4) as usize, align).ok_or_else(|| Error::TooLarge {
        what: format!(
            "matmul of {} products [{}, {}] x [{}, {}] {} elements apart",
            batch.count, g.m, g.k, g.k, g.n, batch.c
        ),
        bytes: batch.count as u64 * batch.c as u64 * 4,
        limit,
    })?;
    for m in slices(g.m, sizes.m) {
        for n in slices(g.n, sizes.n) {
            let parts = slices(g.k, sizes.k)
                .map(|ks| {
                    let products = |across| (batch.count, across);
                    Ok(Part {
                        a: block_window(a, (&m, g.a_m), (&ks, g.a_k), products(batch.a), align)?,
                        b: block_window(b, (&ks, g.b_k), (&n, g.b_n), products(batch.b), align)?,
                        k: ks.len(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let c = block_window(
                c,
                (&m, batch.c_m),
                (&n, batch.c_n),
                (batch.count, batch.c),
                align,
            )?;
            let bias = bias
                .map(|t| window(t, n.start, n.end - 1, align))
                .transpose()?;
            let block = MatmulGeometry {
                m: m.len(),
                n: n.len(),
                ..*g
            };
            dispatch_block(&parts, bias.as_ref(), &c, &block, k, batch)?;
        }
    }
    Ok(())
}

/// Block sizes along M, N and K.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Sizes {
    m: usize,
    n: usize,
    k: usize,
}

/// One operand's layout: per axis (M, N, K) its element stride (0 when it has no such axis),
/// and the offset between the batch's products.
struct Operand {
    strides: [usize; 3],
    batch: usize,
}

impl Operand {
    /// Elements one binding of a block of `sizes` spans: from its first element to its last,
    /// plus the most an aligned start can add in front.
    fn span(&self, sizes: [usize; 3], count: usize, align: usize) -> usize {
        let reach: usize = (0..3).map(|i| (sizes[i] - 1) * self.strides[i]).sum();
        (count - 1) * self.batch + reach + align
    }
}

/// The largest blocks (halving the axis that spans most of the worst operand, until every
/// binding fits `limit` elements) for a product whose operands are aligned to `align`
/// elements; `None` when even one element of M, N and K per block does not fit (the batch's
/// products alone span more than the limit).
fn sizes(g: &MatmulGeometry, batch: &Batch, limit: usize, align: usize) -> Option<Sizes> {
    let operands = [
        Operand {
            strides: [g.a_m, 0, g.a_k],
            batch: batch.a,
        },
        Operand {
            strides: [0, g.b_n, g.b_k],
            batch: batch.b,
        },
        Operand {
            strides: [batch.c_m, batch.c_n, 0],
            batch: batch.c,
        },
        // The bias, one value per column.
        Operand {
            strides: [0, 1, 0],
            batch: 0,
        },
    ];
    let mut s = [g.m, g.n, g.k];
    loop {
        let spans = operands.iter().map(|o| (o.span(s, batch.count, align), o));
        let (span, worst) = spans.max_by_key(|(span, _)| *span)?;
        if span <= limit {
            return Some(Sizes {
                m: s[0],
                n: s[1],
                k: s[2],
            });
        }
        let reach = |i: usize| (s[i] - 1) * worst.strides[i];
        let axis = (0..3).max_by_key(|&i| reach(i))?;
        if reach(axis) == 0 {
            return None;
        }
        s[axis] = s[axis].div_ceil(2);
    }
}

/// The part of `t` from element `first` to `last`, bound from the offset alignment at or
/// below `first`: (that range, `first`'s offset in it).
fn window(t: &Tensor, first: usize, last: usize, align: usize) -> Result<(Tensor, u32)> {
    let start = first - first % align;
    let view = t.view(start, Shape::new([last + 1 - start]))?;
    // `first - start < align`, a few dozen elements.
    Ok((view, (first - start) as u32))
}

/// One block's range of an operand: `rows` and `cols` (element ranges along the block's two
/// axes, each with its stride) in each of the batch's `count` products, `across` apart.
fn block_window(
    t: &Tensor,
    (rows, row_stride): (&Range<usize>, usize),
    (cols, col_stride): (&Range<usize>, usize),
    (count, across): (usize, usize),
    align: usize,
) -> Result<(Tensor, u32)> {
    let first = rows.start * row_stride + cols.start * col_stride;
    let last = (count - 1) * across + (rows.end - 1) * row_stride + (cols.end - 1) * col_stride;
    window(t, first, last, align)
}

#[cfg(test)]
mod tests {
    use super::{sizes, Sizes};
    use crate::ops::matmul::gpu::Batch;
    use crate::ops::matmul::MatmulGeometry;
    use crate::shape::Shape;

    #[test]
    fn vgg_classifier_splits_along_its_long_side() {
        // 128 MiB of f32, 64-element alignment (256 bytes).
        let limit = 32 << 20;
        let x = Shape::new([8, 25088]);
        let w = Shape::new([4096, 25088]);
        let dy = Shape::new([8, 4096]);
        let cases = [
            // Forward x·wᵀ: w's rows (C's columns) in 4 blocks.
            ((&x, false, &w, true), (8, 1024, 25088)),
            // dx = dy·w: w's rows are K, so K-blocks that add up.
            ((&dy, false, &w, false), (8, 25088, 1024)),
            // dw = dyᵀ·x: the output [4096, 25088] in row blocks.
            ((&dy, true, &x, false), (1024, 25088, 8)),
        ];
        for ((a, ta, b, tb), (m, n, k)) in cases {
            let g = MatmulGeometry::new(a, ta, b, tb).unwrap();
            let s = sizes(&g, &Batch::one(&g), limit, 64).unwrap();
            assert_eq!(s, Sizes { m, n, k });
        }
    }

    #[test]
    fn products_within_the_limit_stay_whole_and_impossible_ones_are_none() {
        let g =
            MatmulGeometry::new(&Shape::new([3, 5]), false, &Shape::new([5, 7]), false).unwrap();
        let s = sizes(&g, &Batch::one(&g), 1 << 20, 64).unwrap();
        assert_eq!(s, Sizes { m: 3, n: 7, k: 5 });
        // Any product splits, down to blocks of one element, when its batch allows.
        let s = sizes(&g, &Batch::one(&g), 1, 1).unwrap();
        assert_eq!((s.m, s.n, s.k), (1, 1, 1));
        // Two products 1000 elements apart cannot share a binding of 100.
        let batch = Batch {
            count: 2,
            a: 1000,
            ..Batch::one(&g)
        };
        assert_eq!(sizes(&g, &batch, 100, 1), None);
    }
}
