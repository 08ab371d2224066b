//! Redis connections: outages and recoveries.

use super::Metric;

/// Recoveries by `connection` (commands, reader, subscription, recorder…) and `what`
/// (reconnected, master_changed, resubscribed, group_recreated, pending_reread).
pub const RECOVERIES: Metric = Metric::counter(
    "routeq_redis_recoveries_total",
    "Recoveries from a Redis fault, by connection and what was done.",
    &["connection", "what"],
);
/// Whether the completion subscription is live (1) or not (0), per gateway.
pub const SUBSCRIBED: Metric = Metric::gauge(
    "routeq_subscription_live",
    "Whether this gateway's completion subscription is live (heartbeat answered).",
    &[],
);

pub const ALL: &[&Metric] = &[&RECOVERIES, &SUBSCRIBED];
