//! The offsets a queue is done with, as disjoint ranges: a run of
//! acknowledged or filtered offsets costs one entry however long it is, so
//! the set grows with the gaps (offsets still out or held back), not with
//! how far consumption ran ahead of the lowest of them.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent half-open ranges `start..end`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DoneSet {
    ranges: BTreeMap<u64, u64>,
}

impl DoneSet {
    /// Adds `start..end` (empty: nothing), merging with what it touches.
    pub fn insert_range(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
                self.ranges.remove(&s);
            }
        }
        // Every range starting inside (or right after) the new one joins
        // it; each pass removes one, so this ends.
        while let Some((&s, &e)) = self.ranges.range(start..=end).next() {
            end = end.max(e);
            self.ranges.remove(&s);
        }
        self.ranges.insert(start, end);
    }

    /// Adds one offset.
    pub fn insert(&mut self, offset: u64) {
        self.insert_range(offset, offset.saturating_add(1));
    }

    /// Whether `offset` is in the set.
    pub fn contains(&self, offset: u64) -> bool {
        self.ranges
            .range(..=offset)
            .next_back()
            .is_some_and(|(_, &e)| e > offset)
    }

    /// Removes the range starting at `start` up to `limit` (what lies past
    /// `limit` stays); returns where the removed part ends (`start` when
    /// no range starts there).
    pub fn take_from(&mut self, start: u64, limit: u64) -> u64 {
        if limit <= start {
            return start;
        }
        let Some(end) = self.ranges.remove(&start) else {
            return start;
        };
        if end > limit {
            self.ranges.insert(limit, end);
            return limit;
        }
        end
    }

    /// How many ranges are held (the set's size in memory).
    #[cfg(test)]
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let mut d = DoneSet::default();
        d.insert(5);
        d.insert(7);
        assert_eq!(d.ranges(), 2);
        d.insert(6);
        assert_eq!(d.ranges(), 1);
        d.insert_range(0, 5);
        d.insert_range(9, 12);
        d.insert_range(8, 10);
        assert_eq!(d.ranges(), 1);
        assert!((0..12).all(|o| d.contains(o)));
        assert!(!d.contains(12));
    }

    #[test]
    fn taking_a_prefix_stops_at_the_limit() {
        let mut d = DoneSet::default();
        d.insert_range(3, 10);
        assert_eq!(d.take_from(2, 20), 2);
        assert_eq!(d.take_from(3, 6), 6);
        assert!(!d.contains(5));
        assert!(d.contains(6));
        assert_eq!(d.take_from(6, 6), 6);
        assert_eq!(d.take_from(6, 20), 10);
        assert_eq!(d.ranges(), 0);
    }

    proptest! {
        #[test]
        fn behaves_as_a_set_of_offsets(ops in proptest::collection::vec((0u64..64, 0u64..6), 0..60)) {
            let mut d = DoneSet::default();
            let mut model = BTreeSet::new();
            for (start, len) in ops {
                d.insert_range(start, start + len);
                model.extend(start..start + len);
                for o in 0..72 {
                    prop_assert_eq!(d.contains(o), model.contains(&o), "offset {}", o);
                }
                // Disjoint and never adjacent: no two entries could merge.
                let v: Vec<(u64, u64)> = d.ranges.iter().map(|(s, e)| (*s, *e)).collect();
                prop_assert!(v.windows(2).all(|w| w[0].1 < w[1].0));
            }
        }
    }
}
