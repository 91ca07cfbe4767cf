//! The start of a rebuild, checked record by record. A restarted detector
//! rebuilds each partition from the first record of the rebuild window (the
//! longest token lifetime back): it asks the broker for the first offset at
//! or after that time. Kafka answers so; tansu 0.6 answers offset 0 when no
//! record is that recent, which would rebuild (and learn subject baselines
//! from) the whole partition. So the records of a rebuild produced before
//! the window are skipped, until the first one inside it (where Kafka's
//! answer would have started).

/// One partition's check: on until a record of the window comes.
#[derive(Debug)]
pub struct RebuildStart {
    /// The window's start (wall ms), while records before it may come.
    from: Option<i64>,
    /// How many records were skipped.
    skipped: u64,
}

impl RebuildStart {
    pub fn new(from: Option<i64>) -> Self {
        RebuildStart { from, skipped: 0 }
    }

    /// Whether a record of the rebuild (`rebuilding`: read before the
    /// committed offset) with this broker timestamp is skipped (the
    /// timestamp is read only while the check is on).
    pub fn skip(
        &mut self,
        rebuilding: bool,
        partition: i32,
        offset: i64,
        timestamp: impl FnOnce() -> Option<i64>,
    ) -> bool {
        let Some(from) = self.from.filter(|_| rebuilding) else {
            return false;
        };
        match timestamp() {
            Some(t) if t < from => {
                if self.skipped == 0 {
                    tracing::info!(
                        partition,
                        offset,
                        "the broker started the rebuild before its window: records older than it are skipped"
                    );
                }
                self.skipped += 1;
                true
            }
            _ => {
                if self.skipped > 0 {
                    tracing::info!(partition, offset, skipped = self.skipped, "the rebuild's window starts here");
                }
                self.from = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_only_the_rebuild_records_before_the_window_until_one_inside() {
        let mut s = RebuildStart::new(Some(1_000));
        assert!(s.skip(true, 0, 0, || Some(10)));
        assert!(s.skip(true, 0, 1, || Some(999)));
        assert!(!s.skip(false, 0, 2, || Some(10)), "a live record is never skipped");
        assert!(!s.skip(true, 0, 3, || Some(1_000)), "the window's first record");
        assert!(!s.skip(true, 0, 4, || Some(10)), "after it, the broker's order holds");
        assert_eq!(s.skipped, 2);
        let mut none = RebuildStart::new(None);
        assert!(!none.skip(true, 0, 0, || Some(10)), "no window: nothing skipped");
        let mut no_time = RebuildStart::new(Some(1_000));
        assert!(!no_time.skip(true, 0, 0, || None), "a record without a timestamp ends the check");
        assert!(!no_time.skip(true, 0, 1, || Some(10)));
    }
}
