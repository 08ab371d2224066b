//! The gateway's HTTP side.

use super::Metric;

/// Requests by `route` (template), `method` and `status`.
pub const REQUESTS: Metric = Metric::counter(
    "routeq_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    &["route", "method", "status"],
);
/// Request duration by `route` and `method`.
pub const DURATION: Metric = Metric::histogram(
    "routeq_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    &["route", "method"],
);
/// Submissions by `outcome`: accepted, replayed, invalid, key_reused, saturated, tenant_full,
/// rate_limited, unavailable.
pub const SUBMISSIONS: Metric = Metric::counter(
    "routeq_submissions_total",
    "Route job submissions, by outcome.",
    &["outcome"],
);
/// Requests currently waiting for a job to finish.
pub const WAITERS: Metric = Metric::gauge(
    "routeq_waiters",
    "Requests waiting for a job to finish in this gateway.",
    &[],
);
/// Waits answered at once because this gateway already holds --max-waiters waiting requests.
pub const WAITS_REFUSED: Metric = Metric::counter(
    "routeq_waits_refused_total",
    "Waits answered at once because --max-waiters requests were already waiting.",
    &[],
);
/// Requests refused because their tenant exceeded its request rate.
pub const RATE_LIMITED: Metric = Metric::counter(
    "routeq_rate_limited_total",
    "Requests refused because their tenant exceeded its request rate.",
    &[],
);

/// Submit script calls (each carries the jobs of one partition that arrived together).
pub const SUBMIT_CALLS: Metric = Metric::counter(
    "routeq_submit_calls_total",
    "Submit script calls sent to Redis (each carries one or more jobs that arrived together).",
    &[],
);
/// Jobs carried by submit script calls (÷ calls: the mean batch).
pub const SUBMIT_CALL_JOBS: Metric = Metric::counter(
    "routeq_submit_call_jobs_total",
    "Jobs carried by submit script calls; divided by routeq_submit_calls_total, the mean batch.",
    &[],
);

pub const ALL: &[&Metric] = &[
    &REQUESTS,
    &DURATION,
    &SUBMISSIONS,
    &WAITERS,
    &WAITS_REFUSED,
    &RATE_LIMITED,
    &SUBMIT_CALLS,
    &SUBMIT_CALL_JOBS,
];
