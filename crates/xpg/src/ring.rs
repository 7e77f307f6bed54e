//! Bookkeeping of the staging ring: which byte ranges of the ring buffer the GPU may still read,
//! and until which timeline value. Pure CPU logic, unit-tested without a device.
//!
//! Regions are handed out in order, so the live ones always form one run from the oldest
//! (`tail`) to the newest (`head`), possibly wrapping past the end of the buffer once. Whether
//! the run wraps is read from the regions themselves (the newest starts before the oldest), so
//! a full ring is never mistaken for an empty one.

use std::collections::VecDeque;

/// Timeline value of a region whose submission has not been made yet.
pub(crate) const PENDING: u64 = u64::MAX;

const ALIGN: u64 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    start: u64,
    end: u64,
    value: u64,
}

#[derive(Debug)]
pub(crate) struct RingAllocator {
    capacity: u64,
    regions: VecDeque<Region>,
}

impl RingAllocator {
    pub(crate) fn new(capacity: u64) -> Self {
        Self { capacity, regions: VecDeque::new() }
    }

    /// Frees the regions whose submission the GPU has finished (`value <= done`).
    pub(crate) fn retire(&mut self, done: u64) {
        while self.regions.front().is_some_and(|r| r.value != PENDING && r.value <= done) {
            self.regions.pop_front();
        }
    }

    /// The value to wait for before the oldest region frees up (`PENDING` if not submitted).
    pub(crate) fn oldest_value(&self) -> Option<u64> {
        self.regions.front().map(|r| r.value)
    }

    /// Reserves `size` bytes (16-aligned start), marked pending until [`Self::commit`].
    /// `None` when they do not fit now: retire older regions and try again.
    pub(crate) fn alloc(&mut self, size: u64) -> Option<u64> {
        if size == 0 || size > self.capacity {
            return None;
        }
        let start = match (self.regions.front(), self.regions.back()) {
            (None, _) | (_, None) => 0,
            (Some(oldest), Some(newest)) => {
                let tail = oldest.start;
                let head = newest.end.next_multiple_of(ALIGN);
                let wrapped = newest.start < oldest.start;
                if wrapped {
                    // Used: [tail, capacity) and [0, newest.end). Free: [head, tail).
                    (head + size <= tail).then_some(head)?
                } else if head + size <= self.capacity {
                    // Used: [tail, newest.end). Free: [head, capacity) and [0, tail).
                    head
                } else {
                    (size <= tail).then_some(0)?
                }
            }
        };
        self.regions.push_back(Region { start, end: start + size, value: PENDING });
        Some(start)
    }

    /// Marks every pending region as read by the submission that signals `value`.
    pub(crate) fn commit(&mut self, value: u64) {
        for r in self.regions.iter_mut().rev() {
            if r.value != PENDING {
                break;
            }
            r.value = value;
        }
    }

    #[cfg(test)]
    fn live(&self) -> Vec<(u64, u64)> {
        self.regions.iter().map(|r| (r.start, r.end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
        a.0 < b.1 && b.0 < a.1
    }

    /// The case a reviewer found in the first version: after a wrap, the newest region ends
    /// just below the oldest start and rounding up to the alignment reached it.
    #[test]
    fn no_overlap_when_head_rounds_up_to_tail() {
        let mut r = RingAllocator::new(64 << 10);
        for v in 1..=3 {
            r.alloc(20000).expect("fits");
            r.commit(v);
        }
        r.retire(1);
        assert_eq!(r.alloc(19995), Some(0), "wraps to the start");
        r.commit(4);
        assert_eq!(r.alloc(100), None, "the only gap is 5 bytes before region 2");
    }

    #[test]
    fn randomized_regions_never_overlap() {
        let cap = 1 << 16;
        let mut r = RingAllocator::new(cap);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut submitted, mut done) = (0u64, 0u64);
        let mut wraps = 0;
        for _ in 0..20000 {
            let size = 1 + rand(cap / 2);
            let before = r.live();
            match r.alloc(size) {
                Some(start) => {
                    assert!(start % ALIGN == 0 && start + size <= cap);
                    for &live in &before {
                        assert!(
                            !overlaps((start, start + size), live),
                            "{start}+{size} over {live:?}"
                        );
                    }
                    if start == 0 && !before.is_empty() {
                        wraps += 1;
                    }
                    submitted += 1;
                    r.commit(submitted);
                }
                None => {
                    // What the uploader does: wait for the oldest region.
                    let v = r.oldest_value().expect("a full ring has regions");
                    assert_ne!(v, PENDING);
                    done = done.max(v);
                    r.retire(done);
                }
            }
            if rand(4) == 0 {
                done = (done + rand(3)).min(submitted);
                r.retire(done);
            }
        }
        assert!(wraps > 100, "the wrap-around path ran ({wraps} times)");
    }

    #[test]
    fn pending_regions_are_not_retired_and_oversize_fails() {
        let mut r = RingAllocator::new(1024);
        assert_eq!(r.alloc(2048), None);
        assert_eq!(r.alloc(0), None);
        assert_eq!(r.alloc(600), Some(0));
        r.retire(u64::MAX - 1);
        assert_eq!(r.oldest_value(), Some(PENDING));
        assert_eq!(r.alloc(600), None);
        r.commit(7);
        r.retire(7);
        assert_eq!(r.oldest_value(), None);
        assert_eq!(r.alloc(600), Some(0), "an empty ring starts over at 0");
    }
}
