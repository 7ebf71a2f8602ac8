//! The buffer packer of plan capture: allocations with known lifetimes packed into few shared
//! buffers, greedily by size (largest first, each into the smallest shared buffer with no
//! overlapping tenant; Pisarchyk & Lee, arXiv 2001.03288).

/// One allocation of the first pass: its size and the allocation clock while it was live.
pub(crate) struct Lifetime {
    pub(crate) size: u64,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Packs lifetimes into shared buffers, largest first; returns (buffer sizes, assignment).
/// Among the buffers a lifetime fits, the smallest wins, then the one whose tenants come
/// closest in time: in a chain that leaves the other buffer free for the neighbour.
pub(crate) fn pack(lifetimes: &[Lifetime]) -> (Vec<u64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..lifetimes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(lifetimes[i].size), i));
    let mut sizes: Vec<u64> = Vec::new();
    let mut tenants: Vec<Vec<usize>> = Vec::new();
    let mut assign = vec![0; lifetimes.len()];
    for i in order {
        let l = &lifetimes[i];
        let overlaps = |j: &usize| lifetimes[*j].start <= l.end && l.start <= lifetimes[*j].end;
        let gap = |b: usize| {
            tenants[b]
                .iter()
                .map(|&j| {
                    let t = &lifetimes[j];
                    if t.end < l.start {
                        l.start - t.end
                    } else {
                        t.start.saturating_sub(l.end)
                    }
                })
                .min()
                .unwrap_or(usize::MAX)
        };
        let fit = (0..sizes.len())
            .filter(|&b| sizes[b] >= l.size && !tenants[b].iter().any(overlaps))
            .min_by_key(|&b| (sizes[b], gap(b)));
        let b = fit.unwrap_or_else(|| {
            sizes.push(l.size);
            tenants.push(Vec::new());
            sizes.len() - 1
        });
        tenants[b].push(i);
        assign[i] = b;
    }
    (sizes, assign)
}

#[cfg(test)]
mod tests {
    use super::{pack, Lifetime};

    #[test]
    fn a_chain_packs_into_its_two_largest_neighbours() {
        // x0 → x1 → x2 → x3, each live from its allocation to its consumer's.
        let sizes = [4u64, 4, 2, 1];
        let l: Vec<Lifetime> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Lifetime {
                size,
                start: i,
                end: i + 1,
            })
            .collect();
        let (buffers, assign) = pack(&l);
        assert_eq!(buffers, vec![4, 4]);
        assert_ne!(assign[0], assign[1]);
        assert_ne!(assign[2], assign[1]);
        // Overlapping lifetimes never share.
        let l = vec![
            Lifetime {
                size: 1,
                start: 0,
                end: 5,
            },
            Lifetime {
                size: 1,
                start: 5,
                end: 6,
            },
        ];
        assert_eq!(pack(&l).0.len(), 2);
    }
}
