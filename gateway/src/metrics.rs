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
