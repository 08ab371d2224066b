//! The gateway's series, created at start-up (see `routeq_shared::metrics::startup`): request
//! counts and latencies for each route and method at each status its codes can answer, each
//! submission outcome, the waiters, refusals, and the queue gauges the sampler keeps.

use routeq_shared::metrics::startup::{register, register_plain, start};
use routeq_shared::metrics::{http, queue, redis};

use crate::api::{jobs, submit};

/// Every `outcome` of `routeq_submissions_total` (see `api::submit`).
pub const SUBMISSION_OUTCOMES: &[&str] = &[
    "accepted",
    "replayed",
    "invalid",
    "key_reused",
    "saturated",
    "tenant_full",
    "rate_limited",
    "unavailable",
    "unconfirmed",
];

/// Registers the gateway's HELP texts, build info and zero series.
pub fn register_gateway_metrics() {
    start("gateway");
    for (route, method, codes) in [
        ("/v1/routes", "POST", submit::ANSWERS),
        ("/v1/routes/{id}", "GET", jobs::GET_ANSWERS),
        ("/v1/routes/{id}", "DELETE", jobs::CANCEL_ANSWERS),
    ] {
        let mut statuses: Vec<String> = codes.iter().map(|c| c.http_status().to_string()).collect();
        if method == "DELETE" {
            statuses.push("204".into());
        }
        statuses.sort();
        statuses.dedup();
        let statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
        register(
            &http::REQUESTS,
            &[
                ("route", &[route]),
                ("method", &[method]),
                ("status", &statuses),
            ],
        );
        register(
            &http::DURATION,
            &[("route", &[route]), ("method", &[method])],
        );
    }
    register(&http::SUBMISSIONS, &[("outcome", SUBMISSION_OUTCOMES)]);
    register_plain(&[&http::WAITERS, &http::WAITS_REFUSED, &http::RATE_LIMITED]);
    register_plain(queue::ALL);
    register_plain(&[&redis::SUBSCRIBED]);
}
