//! The webhook notifier (`routeq-notifier`). Its deliveries, attempts, latency and failures by
//! result class are routeq-notify's `routeq_webhook_*` series (notify/src/metrics.rs, registered
//! by the notifier at start-up); these are the notifier's own.

use super::Metric;

/// Undelivered webhook work by stage: `outbox` (finished jobs whose event is not fanned out to
/// its endpoints yet), `due` (deliveries waiting for their next attempt), `dead` (past their
/// schedule, waiting for a replay).
pub const UNDELIVERED: Metric = Metric::gauge(
    "routeq_webhook_undelivered",
    "Undelivered webhook work by stage: outbox (events not fanned out yet), due (deliveries waiting for an attempt), dead (dead letters).",
    &["stage"],
);
/// Events taken from the outbox, by what came of them.
pub const EVENTS: Metric = Metric::counter(
    "routeq_webhook_events_total",
    "Finished-job events taken from the webhook outbox, by outcome (fanned_out, no_endpoint).",
    &["outcome"],
);
/// Deliveries moved to the dead letters, by the class of their last result.
pub const DEAD_LETTERED: Metric = Metric::counter(
    "routeq_webhook_dead_lettered_total",
    "Webhook deliveries moved to the dead letters, by the class of their last result.",
    &["class"],
);
/// Time from a job's end to its delivery (first successful attempt).
pub const DELIVERY_LAG_SECONDS: Metric = Metric::histogram(
    "routeq_webhook_delivery_lag_seconds",
    "Time from a job's end to the successful delivery of its event.",
    &[],
);

pub const ALL: &[&Metric] = &[&UNDELIVERED, &EVENTS, &DEAD_LETTERED, &DELIVERY_LAG_SECONDS];
