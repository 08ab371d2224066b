//! The gateway's metric names, in one place so dashboards and alerts cannot drift from the code.
//! Labels are bounded: route templates, methods, status codes, outcome names — never ids or texts.

/// Requests by `route` (template), `method` and `status`.
pub const HTTP_REQUESTS: &str = "routeq_http_requests_total";
/// Request duration by `route` and `method`.
pub const HTTP_DURATION: &str = "routeq_http_request_duration_seconds";
/// Submissions by `outcome`: accepted, replayed, invalid, key_reused, saturated, unavailable.
pub const SUBMISSIONS: &str = "routeq_submissions_total";
/// Requests currently waiting for a job to finish.
pub const WAITERS: &str = "routeq_waiters";
/// Jobs in the stream: queued plus in flight (completed entries are deleted).
pub const QUEUE_LENGTH: &str = "routeq_queue_length";
/// Entries never yet delivered to a worker (the consumer group's lag).
pub const QUEUE_LAG: &str = "routeq_queue_lag";
/// Entries delivered and not yet acknowledged (in flight, or held by a dead worker).
pub const QUEUE_PENDING: &str = "routeq_queue_pending";
/// Age of the oldest job still in the stream.
pub const QUEUE_OLDEST_AGE: &str = "routeq_queue_oldest_age_seconds";
/// Jobs leaving the queue per second, fleet-wide (smoothed).
pub const QUEUE_COMPLETION_RATE: &str = "routeq_queue_completion_rate";
/// Backlog ÷ completion rate: how long a job submitted now would wait (capped at a day).
pub const QUEUE_PREDICTED_WAIT: &str = "routeq_queue_predicted_wait_seconds";
/// Workers that read from the group in the last 15 s.
pub const CONSUMERS_ALIVE: &str = "routeq_workers_alive";
/// Jobs in the dead-letter stream.
pub const DEAD_LETTERS: &str = "routeq_dead_letters";
/// Records not yet written to PostgreSQL.
pub const RECORDS_BACKLOG: &str = "routeq_records_backlog";
/// Requests refused because their tenant exceeded its request rate.
pub const RATE_LIMITED: &str = "routeq_rate_limited_total";
/// Waits answered at once because this gateway already holds --max-waiters waiting requests.
pub const WAITS_REFUSED: &str = "routeq_waits_refused_total";
