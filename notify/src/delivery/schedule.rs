//! The retry schedule: the delay before each attempt, long enough to outlast an outage of hours.
//!
//! The default is the Standard Webhooks example, immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 14 h, 20 h, 24 h: ten attempts over about three days. Each non-zero delay gets a random
//! jitter of ±`jitter` (default 20 %) so the retries of a burst that failed together do not
//! come back together. Past the last delay the event is a dead letter.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Delays before attempt 1, 2, …; `delays[0]` is the delay of the first attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    delays: Vec<Duration>,
    jitter: f64,
}

/// Why a schedule was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("a schedule needs at least one delay")]
    Empty,
    #[error("{0:?} is not a delay (a number with unit ms, s, m, h or d)")]
    Delay(String),
    #[error("jitter must be within 0 and 1")]
    Jitter,
}

impl Default for Schedule {
    fn default() -> Schedule {
        let (s, m, h) = (1, 60, 3600);
        let secs = [
            0,
            5 * s,
            5 * m,
            30 * m,
            2 * h,
            5 * h,
            10 * h,
            14 * h,
            20 * h,
            24 * h,
        ];
        Schedule {
            delays: secs.into_iter().map(Duration::from_secs).collect(),
            jitter: 0.2,
        }
    }
}

impl Schedule {
    pub fn new(delays: Vec<Duration>, jitter: f64) -> Result<Schedule, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if !(0.0..=1.0).contains(&jitter) {
            return Err(ScheduleError::Jitter);
        }
        Ok(Schedule { delays, jitter })
    }

    /// The same delays with another jitter.
    pub fn with_jitter(self, jitter: f64) -> Result<Schedule, ScheduleError> {
        Schedule::new(self.delays, jitter)
    }

    /// The number of attempts the schedule makes.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// The nominal delay (no jitter) before attempt `attempts_made + 1`.
    pub fn delay(&self, attempts_made: u32) -> Option<Duration> {
        self.delays.get(attempts_made as usize).copied()
    }

    /// The delay before the next attempt after `attempts_made` attempts, with jitter; `None`
    /// when the schedule is exhausted (the event becomes a dead letter).
    pub fn next_attempt(&self, attempts_made: u32) -> Option<Duration> {
        let d = self.delay(attempts_made)?;
        if d.is_zero() || self.jitter == 0.0 {
            return Some(d);
        }
        let factor = rand::rng().random_range(1.0 - self.jitter..=1.0 + self.jitter);
        Some(d.mul_f64(factor))
    }

    /// The longest an event may wait from its first attempt to its last (jitter included): an
    /// event older than this is past the horizon even if it was deferred rather than attempted.
    pub fn horizon(&self) -> Duration {
        self.delays
            .iter()
            .sum::<Duration>()
            .mul_f64(1.0 + self.jitter)
    }
}

fn parse_delay(text: &str) -> Result<Duration, ScheduleError> {
    let text = text.trim();
    let bad = || ScheduleError::Delay(text.to_string());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(bad)
}

/// `0,5s,5m,30m,2h` (comma-separated delays; a unit-less number is seconds).
impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Schedule, ScheduleError> {
        let delays = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_delay)
            .collect::<Result<Vec<_>, _>>()?;
        Schedule::new(delays, Schedule::default().jitter)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .delays
            .iter()
            .map(|d| format!("{}ms", d.as_millis()))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_outlasts_a_day_and_ends() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 10);
        assert_eq!(s.next_attempt(0), Some(Duration::ZERO));
        assert_eq!(s.delay(1), Some(Duration::from_secs(5)));
        assert_eq!(s.delay(9), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(s.next_attempt(10), None);
        let nominal: Duration = (0..10).filter_map(|n| s.delay(n)).sum();
        assert_eq!(nominal, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
        assert!(s.horizon() > nominal);
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let s = Schedule::default();
        let five_min = Duration::from_secs(300);
        let draws: Vec<Duration> = (0..200).filter_map(|_| s.next_attempt(2)).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= five_min.mul_f64(0.8) && *d <= five_min.mul_f64(1.2))
        );
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter must vary");
        let fixed = s.with_jitter(0.0).unwrap();
        assert_eq!(fixed.next_attempt(2), Some(five_min));
    }

    #[test]
    fn parses_a_flag() {
        let s: Schedule = "0, 50ms, 2s, 5m, 1h, 1d, 7".parse().unwrap();
        let want = [0, 50, 2000, 300_000, 3_600_000, 86_400_000, 7000];
        let got: Vec<u128> = (0..7).map(|n| s.delay(n).unwrap().as_millis()).collect();
        assert_eq!(got, want);
        assert_eq!("".parse::<Schedule>(), Err(ScheduleError::Empty));
        assert_eq!(
            "5x".parse::<Schedule>(),
            Err(ScheduleError::Delay("5x".into()))
        );
        assert_eq!(
            Schedule::new(vec![Duration::ZERO], 1.5),
            Err(ScheduleError::Jitter)
        );
    }
}
