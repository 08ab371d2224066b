//! The worker's series, created at start-up (see `routeq_shared::metrics::startup`): its jobs
//! by every terminal state and code it can store, each configured provider's calls, retries,
//! breaker and rate limit, the caches, and the recorder's when it runs one.

use routeq_shared::Code;
use routeq_shared::job::JobState;
use routeq_shared::metrics::startup::{register, register_plain, start};
use routeq_shared::metrics::{jobs, providers as p, queue, recorder};

use crate::calls::breaker::BreakerState;
use crate::providers::ProviderError;

/// The (state, code) pairs a worker ends jobs with.
fn outcomes() -> Vec<(JobState, Code)> {
    let mut out = vec![
        (JobState::Succeeded, Code::RouteOk),
        (JobState::Expired, Code::JobExpired),
    ];
    for code in [
        Code::ProviderError,
        Code::ProviderUnavailable,
        Code::ProviderTimeout,
    ] {
        out.push((JobState::Fallback, code));
        out.push((JobState::Failed, code));
    }
    for code in [
        Code::AddressNotFound,
        Code::NoRoute,
        Code::NoStationNearby,
        Code::StationNotFound,
        Code::StationRetired,
        Code::StationsUnavailable,
        Code::InternalError,
    ] {
        out.push((JobState::Failed, code));
    }
    out
}

/// Registers the worker's HELP texts, build info and job series (before any job is read).
pub fn register_worker_metrics(runs_recorder: bool) {
    start("worker");
    for (state, code) in outcomes() {
        register(
            &jobs::FINISHED,
            &[("state", &[state.as_str()]), ("code", &[code.as_str()])],
        );
    }
    register(
        &jobs::DEAD_LETTERED,
        &[("reason", &["max_attempts", "unreadable"])],
    );
    register_plain(&[
        &jobs::IN_FLIGHT,
        &jobs::QUEUE_SECONDS,
        &jobs::COMPUTE_SECONDS,
        &jobs::END_TO_END_SECONDS,
        &jobs::DUPLICATE_COMPLETIONS,
        &jobs::RECLAIMED,
        &jobs::MALFORMED_ENTRIES,
        &jobs::EXPIRED_ON_PICKUP,
        &jobs::COMPLETION_BATCH,
    ]);
    register(
        &p::CACHE_LOOKUPS,
        &[
            ("cache", &["geocode", "route"]),
            ("result", &["hit", "miss"]),
        ],
    );
    register(&p::COALESCED, &[("cache", &["geocode", "route"])]);
    register(&p::GEOCODE_STORE, &[("result", &["hit", "miss", "error"])]);
    if runs_recorder {
        register_recorder_metrics();
    }
}

/// The recorder's series (a worker with `--database-url`, or `routeq-recorder run`).
pub fn register_recorder_metrics() {
    register_plain(recorder::ALL);
    register_plain(&[&queue::RECORDS_BACKLOG]);
}

/// A provider's series: its calls for `operation` by every outcome, retries, breaker and rate
/// limit (the breaker starts closed).
pub fn register_provider(provider: &'static str, operation: &'static str) {
    let mut outcomes = vec!["ok"];
    outcomes.extend(
        ProviderError::LABELS
            .iter()
            .filter(|l| **l != "circuit_open"),
    );
    let labels: [(&'static str, &[&str]); 3] = [
        ("provider", &[provider]),
        ("operation", &[operation]),
        ("outcome", &outcomes),
    ];
    register(&p::CALLS, &labels);
    register(&p::CALL_SECONDS, &labels);
    register(
        &p::RETRIES,
        &[("provider", &[provider]), ("reason", ProviderError::LABELS)],
    );
    register(
        &p::BREAKER_TRANSITIONS,
        &[
            ("provider", &[provider]),
            (
                "to",
                &[
                    BreakerState::Closed.as_str(),
                    BreakerState::Open.as_str(),
                    BreakerState::HalfOpen.as_str(),
                ],
            ),
        ],
    );
    for m in [
        &p::BREAKER_STATE,
        &p::BREAKER_REJECTED,
        &p::RATE_LIMIT_WAITS,
        &p::RATE_LIMIT_WAIT_SECONDS,
        &p::RATE_LIMIT_REFUSED,
    ] {
        register(m, &[("provider", &[provider])]);
    }
}
