//! The notifier's liveness: each loop (a fan-out and a delivery loop per partition) beats after
//! every step, whether it read, failed or paused, so a Redis outage does not stop the beats; a
//! loop that has not beaten for `--stale-ms` is stuck, and `/healthz` answers 503 naming it, so
//! the orchestrator restarts the process (its work is taken over by the others).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The last beat of every loop.
#[derive(Debug)]
pub struct Heartbeat {
    started: Instant,
    names: Vec<String>,
    /// Milliseconds after `started` of each loop's last beat.
    last: Vec<AtomicU64>,
}

impl Heartbeat {
    /// One slot per loop name, each beaten "now".
    pub fn new(names: Vec<String>) -> Heartbeat {
        let last = names.iter().map(|_| AtomicU64::new(0)).collect();
        Heartbeat {
            started: Instant::now(),
            names,
            last,
        }
    }

    /// Loop `i` made a step.
    pub fn beat(&self, i: usize) {
        if let Some(slot) = self.last.get(i) {
            let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            slot.store(now, Ordering::Relaxed);
        }
    }

    /// The loop that beat longest ago, and how long ago.
    pub fn stalest(&self) -> Option<(&str, Duration)> {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.names
            .iter()
            .zip(&self.last)
            .map(|(name, last)| {
                let idle = now.saturating_sub(last.load(Ordering::Relaxed));
                (name.as_str(), Duration::from_millis(idle))
            })
            .max_by_key(|(_, idle)| *idle)
    }

    /// `Err((loop, idle))` when a loop has not beaten for `stale`.
    pub fn check(&self, stale: Duration) -> Result<(), (String, Duration)> {
        match self.stalest() {
            Some((name, idle)) if idle >= stale => Err((name.to_string(), idle)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_named_once_it_is_stale() {
        let h = Heartbeat::new(vec!["fan_out:0".into(), "deliver:0".into()]);
        assert_eq!(h.check(Duration::from_millis(50)), Ok(()));
        std::thread::sleep(Duration::from_millis(80));
        h.beat(0);
        let (name, idle) = h.check(Duration::from_millis(50)).expect_err("stale");
        assert_eq!(name, "deliver:0");
        assert!(idle >= Duration::from_millis(80), "{idle:?}");
        h.beat(1);
        assert_eq!(h.check(Duration::from_millis(50)), Ok(()));
        // An index past the loops is ignored.
        h.beat(7);
    }
}
