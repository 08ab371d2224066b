//! What the receiver saw: every delivery counted by `webhook-id`, duplicates, rejections; and the
//! answer mode it was told to use.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use routeq_notify::VerifyError;
use serde::{Deserialize, Serialize};

/// At most this many duplicate ids are listed in [`Stats::duplicate_ids`] (all are counted).
pub const MAX_LISTED_DUPLICATES: usize = 1000;

/// Verification failures by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejections {
    pub missing_header: u64,
    pub invalid_timestamp: u64,
    pub outside_tolerance: u64,
    pub no_match: u64,
    pub no_secret: u64,
}

/// One `webhook-id`'s history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRecord {
    /// Requests that carried this id (verified or not, whatever was answered).
    pub requests: u64,
    /// Verified requests answered 2xx.
    pub accepted: u64,
}

/// `GET /_receiver/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every POST to a webhook path.
    pub requests: u64,
    /// Requests whose signature verified.
    pub verified: u64,
    /// Verified requests answered 2xx: deliveries the application would process.
    pub accepted: u64,
    /// Verified requests answered with the mode's failure status.
    pub failed_by_mode: u64,
    /// Requests that failed verification (answered 401), by reason in `rejected`.
    pub bad_signature: u64,
    pub rejected: Rejections,
    /// Requests whose `content-type` was not `application/json`.
    pub not_json: u64,
    /// Distinct ids accepted.
    pub unique: u64,
    /// Accepted requests whose id had been accepted before (what the receiver's dedup drops).
    pub duplicates: u64,
    /// The first [`MAX_LISTED_DUPLICATES`] duplicated ids, in order of their duplicate.
    pub duplicate_ids: Vec<String>,
    /// Every id's history (only with `?ids=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<BTreeMap<String, IdRecord>>,
}

/// `POST /_receiver/mode`: how to answer from now on. `{}` is the normal mode (200 at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mode {
    /// Answer this status to verified requests instead of 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait this long before answering (every request).
    #[serde(default)]
    pub delay_ms: u64,
    /// The mode lasts this many seconds, then the receiver answers normally again.
    #[serde(default)]
    pub until_s: Option<f64>,
    /// The mode applies to this many requests, then the receiver answers normally again.
    #[serde(default)]
    pub count: Option<u64>,
    /// A `Location` header (with a 3xx status: a redirect the sender must not follow).
    #[serde(default)]
    pub location: Option<String>,
    /// A `Retry-After` header.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// Answer a body of this many bytes (`x` repeated) instead of the short JSON.
    #[serde(default)]
    pub body_bytes: Option<usize>,
}

impl Mode {
    /// Checks what cannot be represented in an answer.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.status
            && !(200..=599).contains(&s)
        {
            return Err(format!("status {s} is not within 200 and 599"));
        }
        if self.body_bytes.is_some_and(|n| n > 64 << 20) {
            return Err("body_bytes is at most 64 MiB".into());
        }
        if let Some(u) = self.until_s
            && !(u.is_finite() && u >= 0.0)
        {
            return Err("until_s must be a non-negative number".into());
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ActiveMode {
    mode: Mode,
    ends: Option<Instant>,
    left: Option<u64>,
}

/// The receiver's record and mode (behind one lock: every operation is a few map updates).
#[derive(Debug, Default)]
pub(crate) struct Book {
    stats: Stats,
    ids: HashMap<String, IdRecord>,
    mode: Option<ActiveMode>,
}

impl Book {
    pub(crate) fn set_mode(&mut self, mode: Mode, now: Instant) {
        let ends = mode
            .until_s
            .map(|s| now + Duration::from_secs_f64(s.min(1e9)));
        self.mode = (mode != Mode::default()).then_some(ActiveMode {
            left: mode.count,
            ends,
            mode,
        });
    }

    /// The mode for one request arriving now (spends one of its `count`).
    pub(crate) fn take_mode(&mut self, now: Instant) -> Mode {
        let Some(active) = &mut self.mode else {
            return Mode::default();
        };
        let expired = active.ends.is_some_and(|e| now >= e) || active.left == Some(0);
        if expired {
            self.mode = None;
            return Mode::default();
        }
        if let Some(left) = &mut active.left {
            *left -= 1;
        }
        active.mode.clone()
    }

    pub(crate) fn current_mode(&self, now: Instant) -> Mode {
        match &self.mode {
            Some(a) if !(a.ends.is_some_and(|e| now >= e) || a.left == Some(0)) => a.mode.clone(),
            _ => Mode::default(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.stats = Stats::default();
        self.ids.clear();
    }

    /// Records a request: its id (if any), its verification, and whether it was answered 2xx.
    pub(crate) fn record(
        &mut self,
        id: Option<&str>,
        verified: Result<(), &VerifyError>,
        ok: bool,
    ) {
        let s = &mut self.stats;
        s.requests += 1;
        let record = id.map(|id| self.ids.entry(id.to_string()).or_default());
        let Some(record) = record else {
            s.bad_signature += 1;
            s.rejected.missing_header += 1;
            return;
        };
        record.requests += 1;
        if let Err(e) = verified {
            s.bad_signature += 1;
            let r = &mut s.rejected;
            match e {
                VerifyError::MissingHeader(_) => r.missing_header += 1,
                VerifyError::InvalidTimestamp => r.invalid_timestamp += 1,
                VerifyError::OutsideTolerance { .. } => r.outside_tolerance += 1,
                VerifyError::NoMatch => r.no_match += 1,
                VerifyError::NoSecret => r.no_secret += 1,
            }
            return;
        }
        s.verified += 1;
        if !ok {
            s.failed_by_mode += 1;
            return;
        }
        s.accepted += 1;
        record.accepted += 1;
        if record.accepted == 1 {
            s.unique += 1;
        } else {
            s.duplicates += 1;
            if s.duplicate_ids.len() < MAX_LISTED_DUPLICATES
                && let Some(id) = id
            {
                s.duplicate_ids.push(id.to_string());
            }
        }
    }

    pub(crate) fn count_not_json(&mut self) {
        self.stats.not_json += 1;
    }

    pub(crate) fn stats(&self, with_ids: bool) -> Stats {
        let mut stats = self.stats.clone();
        if with_ids {
            stats.ids = Some(
                self.ids
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_only_among_accepted() {
        let mut b = Book::default();
        b.record(Some("a"), Ok(()), false); // failed by mode
        b.record(Some("a"), Ok(()), true); // first acceptance
        b.record(Some("a"), Ok(()), true); // duplicate
        b.record(Some("b"), Err(&VerifyError::NoMatch), true);
        b.record(None, Err(&VerifyError::MissingHeader("webhook-id")), true);
        let s = b.stats(true);
        assert_eq!((s.requests, s.verified, s.accepted), (5, 3, 2));
        assert_eq!((s.failed_by_mode, s.bad_signature), (1, 2));
        assert_eq!((s.unique, s.duplicates), (1, 1));
        assert_eq!(s.duplicate_ids, ["a"]);
        assert_eq!(s.rejected.no_match, 1);
        assert_eq!(s.rejected.missing_header, 1);
        let ids = s.ids.unwrap();
        assert_eq!(
            ids["a"],
            IdRecord {
                requests: 3,
                accepted: 2
            }
        );
        b.reset();
        assert_eq!(b.stats(false), Stats::default());
    }

    #[test]
    fn modes_expire_by_count_and_time() {
        let mut b = Book::default();
        let t = Instant::now();
        let fail = Mode {
            status: Some(500),
            count: Some(2),
            ..Mode::default()
        };
        b.set_mode(fail.clone(), t);
        assert_eq!(b.take_mode(t).status, Some(500));
        assert_eq!(b.take_mode(t).status, Some(500));
        assert_eq!(b.take_mode(t), Mode::default());
        let timed = Mode {
            status: Some(503),
            until_s: Some(1.0),
            ..Mode::default()
        };
        b.set_mode(timed, t);
        assert_eq!(
            b.current_mode(t + Duration::from_millis(999)).status,
            Some(503)
        );
        assert_eq!(b.take_mode(t + Duration::from_secs(1)), Mode::default());
        assert!(
            Mode {
                status: Some(99),
                ..Mode::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Mode {
                until_s: Some(-1.0),
                ..Mode::default()
            }
            .validate()
            .is_err()
        );
    }
}
