//! How long a job really waited on external providers.
//!
//! Each provider call (the HTTP exchange itself, not the cache, coalescing or rate-limit steps
//! around it, which are routeq's own work) is recorded as an interval in a task-local list; a
//! job's provider time is the length of the union of its intervals, so calls made concurrently
//! (addresses geocoded in parallel) count once. `timings.provider_us` reports it, and "routeq's
//! overhead" = end-to-end − provider time.

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static CALLS: RefCell<Vec<(Instant, Instant)>>;
}

/// Runs `fut` (one job's computation) with provider-call recording on.
pub async fn scope<F: Future>(fut: F) -> F::Output {
    CALLS.scope(RefCell::new(Vec::new()), fut).await
}

/// Awaits one provider call, recording its interval when inside a [`scope`].
pub async fn timed<F: Future>(call: F) -> F::Output {
    let start = Instant::now();
    let out = call.await;
    let end = Instant::now();
    let _ = CALLS.try_with(|c| c.borrow_mut().push((start, end)));
    out
}

/// The union of the provider calls recorded so far in this scope (zero outside one).
pub fn spent() -> Duration {
    CALLS.try_with(|c| union(&c.borrow())).unwrap_or_default()
}

fn union(intervals: &[(Instant, Instant)]) -> Duration {
    let mut sorted = intervals.to_vec();
    sorted.sort_by_key(|(s, _)| *s);
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (s, e) in sorted {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_calls_count_once() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let calls = [
            (t, t + ms(100)),
            (t + ms(50), t + ms(120)),
            (t + ms(200), t + ms(250)),
        ];
        assert_eq!(union(&calls), ms(170));
        assert_eq!(union(&[]), Duration::ZERO);
    }

    #[tokio::test]
    async fn calls_are_recorded_only_inside_a_scope() {
        let inside = scope(async {
            timed(tokio::time::sleep(Duration::from_millis(30))).await;
            spent()
        })
        .await;
        assert!(inside >= Duration::from_millis(30));
        assert_eq!(spent(), Duration::ZERO);
    }
}
