//! The queue as the gateways sample it (every gateway samples the same queue: read with `max()`).

use super::Metric;

/// Jobs in the stream: queued plus in flight (completed entries are deleted).
pub const LENGTH: Metric = Metric::gauge(
    "routeq_queue_length",
    "Jobs in the stream: queued plus in flight.",
    &[],
);
/// Entries never yet delivered to a worker (the consumer group's lag).
pub const LAG: Metric = Metric::gauge(
    "routeq_queue_lag",
    "Jobs never yet delivered to a worker (the consumer group's lag).",
    &[],
);
/// Entries delivered and not yet acknowledged (in flight, or held by a dead worker).
pub const PENDING: Metric = Metric::gauge(
    "routeq_queue_pending",
    "Jobs delivered to a worker and not yet acknowledged.",
    &[],
);
/// Age of the oldest job still in the stream.
pub const OLDEST_AGE: Metric = Metric::gauge(
    "routeq_queue_oldest_age_seconds",
    "Age of the oldest job still in the stream.",
    &[],
);
/// Jobs leaving the queue per second, fleet-wide (smoothed).
pub const COMPLETION_RATE: Metric = Metric::gauge(
    "routeq_queue_completion_rate",
    "Jobs leaving the queue per second, fleet-wide (smoothed).",
    &[],
);
/// Jobs submitted per second, fleet-wide (smoothed like the completion rate).
pub const ARRIVAL_RATE: Metric = Metric::gauge(
    "routeq_queue_arrival_rate",
    "Jobs submitted per second, fleet-wide (smoothed).",
    &[],
);
/// Backlog ÷ completion rate: how long a job submitted now would wait (capped at a day).
pub const PREDICTED_WAIT: Metric = Metric::gauge(
    "routeq_queue_predicted_wait_seconds",
    "Backlog divided by the completion rate: how long a job submitted now would wait.",
    &[],
);
/// Workers that read from the group in the last 15 s.
pub const WORKERS_ALIVE: Metric = Metric::gauge(
    "routeq_workers_alive",
    "Workers that read from the consumer group in the last 15 s.",
    &[],
);
/// Jobs in the dead-letter stream.
pub const DEAD_LETTERS: Metric = Metric::gauge(
    "routeq_dead_letters",
    "Jobs parked in the dead-letter stream.",
    &[],
);
/// Records not yet written to PostgreSQL (sampled by gateways and by each recorder).
pub const RECORDS_BACKLOG: Metric = Metric::gauge(
    "routeq_records_backlog",
    "Records in the records stream not yet written to PostgreSQL.",
    &[],
);

pub const ALL: &[&Metric] = &[
    &LENGTH,
    &LAG,
    &PENDING,
    &OLDEST_AGE,
    &COMPLETION_RATE,
    &PREDICTED_WAIT,
    &WORKERS_ALIVE,
    &DEAD_LETTERS,
    &RECORDS_BACKLOG,
    &ARRIVAL_RATE,
];
