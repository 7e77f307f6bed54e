//! Transient memory aliasing: transients whose lifetimes (first to last pass that uses them,
//! in plan order) do not overlap share a memory block.
//!
//! Greedy, deterministic: resources sorted by size (largest first, then by id), each put into
//! the first block whose memory types fit and whose occupants' lifetimes are all disjoint from
//! its own, else into a new block. Every occupant is bound at offset 0 of its block; the block
//! is as large as its largest occupant.

/// What aliasing needs to know of one transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AliasRequest {
    /// Resource id.
    pub resource: u32,
    /// First plan position using it.
    pub first: usize,
    /// Last plan position using it.
    pub last: usize,
    /// Bytes.
    pub size: u64,
    /// Alignment.
    pub alignment: u64,
    /// Allowed memory types (bit mask).
    pub memory_type_bits: u32,
    /// A buffer (linear) rather than an optimal-tiling image: the two never share a block, so
    /// `bufferImageGranularity` never applies inside one.
    pub linear: bool,
}

/// One memory block and who lives in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBlock {
    /// Bytes (the largest occupant).
    pub size: u64,
    /// Largest alignment of the occupants.
    pub alignment: u64,
    /// Memory types every occupant accepts.
    pub memory_type_bits: u32,
    /// Holds buffers (linear resources) only.
    pub linear: bool,
    /// Resource ids, in order of their lifetimes.
    pub resources: Vec<u32>,
}

/// Assigns blocks. Returns the blocks and, per request (same order), its block index and the
/// resource that used the block last before it (it must finish before this one starts).
pub fn assign(
    requests: &[AliasRequest],
    aliasing: bool,
) -> (Vec<MemoryBlock>, Vec<(usize, Option<u32>)>) {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| {
        requests[b]
            .size
            .cmp(&requests[a].size)
            .then(requests[a].resource.cmp(&requests[b].resource))
    });
    // Each block's occupants sorted by `first`; lifetimes in a block never overlap, so the
    // overlap test only looks at the neighbours of the insertion point (binary search).
    let mut blocks: Vec<(MemoryBlock, Vec<usize>)> = Vec::new();
    for &i in &order {
        let r = &requests[i];
        let slot = |occ: &Vec<usize>| -> Option<usize> {
            let at = occ.partition_point(|&o| requests[o].first < r.first);
            let before_ok = at == 0 || requests[occ[at - 1]].last < r.first;
            let after_ok = at == occ.len() || r.last < requests[occ[at]].first;
            (before_ok && after_ok).then_some(at)
        };
        let found = if aliasing {
            blocks.iter().enumerate().find_map(|(bi, (b, occ))| {
                if b.memory_type_bits & r.memory_type_bits == 0 || b.linear != r.linear {
                    return None;
                }
                slot(occ).map(|at| (bi, at))
            })
        } else {
            None
        };
        match found {
            Some((bi, at)) => {
                let (b, occ) = &mut blocks[bi];
                b.size = b.size.max(r.size);
                b.alignment = b.alignment.max(r.alignment);
                b.memory_type_bits &= r.memory_type_bits;
                occ.insert(at, i);
            }
            None => blocks.push((
                MemoryBlock {
                    size: r.size,
                    alignment: r.alignment,
                    memory_type_bits: r.memory_type_bits,
                    linear: r.linear,
                    resources: Vec::new(),
                },
                vec![i],
            )),
        }
    }
    let mut out = vec![(0usize, None); requests.len()];
    let blocks = blocks
        .into_iter()
        .enumerate()
        .map(|(bi, (mut b, occ))| {
            for (k, &o) in occ.iter().enumerate() {
                let pred = k.checked_sub(1).map(|p| requests[occ[p]].resource);
                out[o] = (bi, pred);
            }
            b.resources = occ.iter().map(|&o| requests[o].resource).collect();
            b
        })
        .collect();
    (blocks, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(resource: u32, first: usize, last: usize, size: u64) -> AliasRequest {
        AliasRequest {
            resource,
            first,
            last,
            size,
            alignment: 256,
            memory_type_bits: !0,
            linear: false,
        }
    }

    #[test]
    fn disjoint_lifetimes_share_overlapping_never() {
        let reqs = [req(0, 0, 1, 100), req(1, 2, 3, 80), req(2, 1, 2, 50), req(3, 4, 4, 120)];
        let (blocks, of) = assign(&reqs, true);
        // 0 [0,1] and 1 [2,3] and 3 [4,4] can share; 2 [1,2] overlaps 0 and 1.
        assert_eq!(blocks.len(), 2);
        assert_eq!(of[0].0, of[1].0);
        assert_eq!(of[0].0, of[3].0);
        assert_ne!(of[2].0, of[0].0);
        assert_eq!(blocks[of[0].0].size, 120);
        assert_eq!(of[1].1, Some(0), "1 follows 0 in the block");
        assert_eq!(of[3].1, Some(1));
        assert_eq!(of[0].1, None);
        // Never two overlapping lifetimes in one block.
        for b in &blocks {
            for (i, &x) in b.resources.iter().enumerate() {
                for &y in &b.resources[i + 1..] {
                    let (a, c) = (&reqs[x as usize], &reqs[y as usize]);
                    assert!(a.last < c.first || c.last < a.first);
                }
            }
        }
    }

    #[test]
    fn incompatible_memory_types_and_disabled_aliasing_do_not_share() {
        let mut a = req(0, 0, 0, 10);
        let mut b = req(1, 1, 1, 10);
        a.memory_type_bits = 0b01;
        b.memory_type_bits = 0b10;
        assert_eq!(assign(&[a, b], true).0.len(), 2);
        assert_eq!(assign(&[req(0, 0, 0, 1), req(1, 1, 1, 1)], false).0.len(), 2);
    }
}
