//! The notifier's series, created at start-up (see `routeq_shared::metrics::startup`), so the
//! webhook panels and `RouteqWebhookBacklogGrowing` read zero, not "No data", before the first
//! event: the undelivered gauges by stage, events by outcome, and routeq-notify's deliveries,
//! attempts and latency by every result class.

use routeq_shared::metrics::startup::{register, register_plain, start};
use routeq_shared::metrics::webhooks as m;

/// Every `class` a delivery result can have (routeq-notify's `Outcome::class`).
pub const CLASSES: &[&str] = &[
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "timeout",
    "connect",
    "transport",
    "resolve",
    "refused",
    "circuit_open",
    "busy",
    "filtered",
    "disabled",
];

/// HELP texts, build info and the zero series of the notifier.
pub fn register_notifier_metrics() {
    start("notifier");
    routeq_notify::metrics::describe();
    register(&m::UNDELIVERED, &[("stage", &["outbox", "due", "dead"])]);
    register(&m::EVENTS, &[("outcome", &["fanned_out", "no_endpoint"])]);
    register(&m::DEAD_LETTERED, &[("class", CLASSES)]);
    register_plain(&[&m::DELIVERY_LAG_SECONDS]);
    use routeq_notify::metrics as n;
    for class in CLASSES {
        for next in ["done", "retry", "dead_letter"] {
            metrics::counter!(n::DELIVERIES.name, "class" => *class, "next" => next).increment(0);
        }
        metrics::counter!(n::ATTEMPTS.name, "class" => *class).increment(0);
        let _ = metrics::histogram!(n::ATTEMPT_SECONDS.name, "class" => *class);
    }
    metrics::gauge!(n::IN_FLIGHT.name).increment(0.0);
    metrics::counter!(n::ENDPOINTS_DISABLED.name).increment(0);
}
