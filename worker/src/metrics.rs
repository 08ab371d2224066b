//! The worker's metric names, in one place. Labels are bounded (state, code, provider, operation,
//! outcome) — never a job id or an error text.

/// Jobs this process is working on now.
pub const JOBS_IN_FLIGHT: &str = "routeq_worker_jobs_in_flight";
/// Jobs finished by `state` and `code`.
pub const JOBS_FINISHED: &str = "routeq_jobs_finished_total";
/// From submission until a worker started the job.
pub const JOB_QUEUE_SECONDS: &str = "routeq_job_queue_seconds";
/// From the start of the job until its result was ready.
pub const JOB_COMPUTE_SECONDS: &str = "routeq_job_compute_seconds";
/// From submission until the terminal state was stored.
pub const JOB_END_TO_END_SECONDS: &str = "routeq_job_end_to_end_seconds";
/// Provider calls by `provider`, `operation` (geocode, route) and `outcome`.
pub const PROVIDER_CALLS: &str = "routeq_provider_calls_total";
/// Provider call duration by `provider`, `operation` and `outcome`.
pub const PROVIDER_CALL_SECONDS: &str = "routeq_provider_call_duration_seconds";
/// Completions that found the job already ended (a redelivery after a presumed-dead worker).
pub const DUPLICATE_COMPLETIONS: &str = "routeq_duplicate_completions_total";
/// Entries taken over from consumers that stopped acknowledging them.
pub const RECLAIMED: &str = "routeq_jobs_reclaimed_total";
/// Entries that did not parse as jobs (dropped after acknowledging).
pub const MALFORMED_ENTRIES: &str = "routeq_malformed_entries_total";
/// Jobs whose deadline had passed when a worker picked them up (no provider call was spent).
pub const EXPIRED_ON_PICKUP: &str = "routeq_jobs_expired_on_pickup_total";
