//! This worker's failure codes since the last publication: counted as jobs end (one short lock),
//! added every second to the fleet's per-minute counts (`{p}:codes:<minute>`) by the publisher
//! in [`super::breakers`], for the "recent error codes" of `routeq-admin stats` and the console.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use routeq_shared::Code;

/// Failure codes counted since the last [`Tally::take`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<HashMap<&'static str, u64>>>);

impl Tally {
    /// Counts a job that ended with `code` (successes are not counted).
    pub fn count(&self, code: Code) {
        if code.is_success() {
            return;
        }
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(code.as_str())
            .or_default() += 1;
    }

    /// The counts so far, emptied.
    pub fn take(&self) -> Vec<(&'static str, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .collect()
    }

    /// Puts counts back (after a failed publication), so none are lost.
    pub fn restore(&self, counts: &[(&'static str, u64)]) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (code, n) in counts {
            *m.entry(code).or_default() += n;
        }
    }
}
