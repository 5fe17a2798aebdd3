//! Ascending file offsets in four bytes each: where every record of a run begins in its file.
//!
//! A `Vec<u64>` of offsets was 8 bytes an event for every record read from a snapshot's file or
//! spilled (8 MB at a million events, the whole of an import's "spill" share of its peak, issue
//! 18). The offsets only ascend, so their high halves are not kept one by one: `wraps` notes where
//! the high half grows, once for every 4 GiB of file, and each offset keeps its low half.

/// Ascending `u64` offsets, each held as its low 32 bits.
///
/// Invariant: the offsets pushed ascend (a caller pushes each record's start, then the end of the
/// last); `wraps` holds, for every `k ≥ 1`, the index of the first offset of high half `≥ k`, so
/// the high half of the offset at `i` is how many entries of `wraps` are `≤ i`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Offsets {
    low: Vec<u32>,
    wraps: Vec<usize>,
}

impl Offsets {
    /// Room for `capacity` offsets.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { low: Vec::with_capacity(capacity), wraps: Vec::new() }
    }

    /// Adds the next offset, which is not below the last one.
    pub(crate) fn push(&mut self, offset: u64) {
        debug_assert!(self.last().is_none_or(|last| last <= offset), "offsets ascend");
        let high = offset >> 32;
        while (self.wraps.len() as u64) < high {
            self.wraps.push(self.low.len());
        }
        // The low half: the high one is in `wraps`.
        self.low.push(offset as u32);
    }

    /// The offset at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<u64> {
        let low = *self.low.get(index)?;
        let high = self.wraps.partition_point(|&w| w <= index) as u64;
        Some((high << 32) | u64::from(low))
    }

    /// How many offsets it holds.
    pub(crate) fn len(&self) -> usize {
        self.low.len()
    }

    /// The first offset.
    pub(crate) fn first(&self) -> Option<u64> {
        self.get(0)
    }

    /// The last offset.
    pub(crate) fn last(&self) -> Option<u64> {
        self.get(self.low.len().checked_sub(1)?)
    }

    /// Every offset, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.low.len()).filter_map(|index| self.get(index))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any ascending offsets – small steps, and steps past one or several 4 GiB marks – read
        /// back exactly, by index and in order.
        #[test]
        fn ascending_offsets_read_back_exactly(
            start in 0u64..(1 << 34),
            steps in prop::collection::vec(prop_oneof![0u64..10_000, (1u64 << 31)..(1u64 << 33)], 0..200),
        ) {
            let mut expected = Vec::with_capacity(steps.len() + 1);
            let mut offset = start;
            expected.push(offset);
            for step in steps {
                offset += step;
                expected.push(offset);
            }
            let mut offsets = Offsets::with_capacity(expected.len());
            for &o in &expected {
                offsets.push(o);
            }
            prop_assert_eq!(offsets.len(), expected.len());
            for (index, &o) in expected.iter().enumerate() {
                prop_assert_eq!(offsets.get(index), Some(o));
            }
            prop_assert_eq!(offsets.get(expected.len()), None);
            prop_assert_eq!(offsets.iter().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(offsets.first(), expected.first().copied());
            prop_assert_eq!(offsets.last(), expected.last().copied());
        }
    }

    #[test]
    fn an_offset_exactly_at_a_4_gib_mark_is_in_the_higher_half() {
        let mut offsets = Offsets::default();
        for o in [0, (1 << 32) - 1, 1 << 32, 1 << 32, (3 << 32) + 5] {
            offsets.push(o);
        }
        assert_eq!(offsets.iter().collect::<Vec<_>>(), vec![0, (1 << 32) - 1, 1 << 32, 1 << 32, (3 << 32) + 5]);
        assert_eq!(Offsets::default().last(), None);
    }
}
