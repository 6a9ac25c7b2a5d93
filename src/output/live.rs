//! Progress on a terminal: a view redrawn in place.

use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;

pub struct Live {
    inner: super::lines::Lines,
}

impl Live {
    pub fn new(target: &str, _color: bool) -> Self {
        Live {
            inner: super::lines::Lines::new(target),
        }
    }
}

impl super::Progress for Live {
    fn update(&mut self, snap: &Snapshot, verdict: &Verdict) {
        self.inner.update(snap, verdict);
    }

    fn note(&mut self, line: &str) {
        self.inner.note(line);
    }

    fn finish(&mut self) {}
}
