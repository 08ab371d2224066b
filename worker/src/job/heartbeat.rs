//! Liveness of the job readers: each reader beats at every step of its loop (a read returned,
//! permits taken, a pause after an error) and while it waits for free permits; `/healthz` fails
//! when one has not beaten for `--reader-stale-ms`. A reader that cannot reach Redis still
//! beats (it retries), so an outage does not restart workers; one stuck in a call that never
//! returns, or whose task ended, does not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The last beat of each reader, by the stream it reads.
#[derive(Debug)]
pub struct ReaderHealth {
    stale_after: Duration,
    beats: Mutex<HashMap<String, Instant>>,
}

/// The reader that has gone longest without a beat, when that is longer than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub stream: String,
    pub stale: Duration,
}

impl ReaderHealth {
    /// Readers of `streams`, each counted as just beaten.
    pub fn new(streams: impl IntoIterator<Item = String>, stale_after: Duration) -> ReaderHealth {
        let now = Instant::now();
        ReaderHealth {
            stale_after,
            beats: Mutex::new(streams.into_iter().map(|s| (s, now)).collect()),
        }
    }

    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// How often a waiting reader beats: well inside the limit.
    pub fn beat_every(&self) -> Duration {
        (self.stale_after / 4).max(Duration::from_millis(10))
    }

    pub fn beat(&self, stream: &str) {
        let mut beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats.insert(stream.to_string(), Instant::now());
    }

    /// The stalest reader past the limit, if any.
    pub fn stuck(&self) -> Option<Stuck> {
        let beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats
            .iter()
            .map(|(s, at)| (s, at.elapsed()))
            .filter(|(_, age)| *age > self.stale_after)
            .max_by_key(|(_, age)| *age)
            .map(|(s, age)| Stuck {
                stream: s.clone(),
                stale: age,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_stops_beating_is_stuck_and_a_beat_clears_it() {
        let h = ReaderHealth::new(
            ["a".to_string(), "b".to_string()],
            Duration::from_millis(30),
        );
        assert_eq!(h.stuck(), None);
        std::thread::sleep(Duration::from_millis(40));
        h.beat("a");
        let stuck = h.stuck().expect("b is stale");
        assert_eq!(stuck.stream, "b");
        assert!(stuck.stale >= Duration::from_millis(30));
        h.beat("b");
        assert_eq!(h.stuck(), None);
    }
}
