//! The worker's metric names, in one place. Labels are bounded (state, code, provider, operation,
//! outcome, cache, reason, to) — never a job id or an error text. `provider` is an adapter name
//! (`nominatim`, `osrm`, `kakao_local`, `kakao_mobility`).

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
/// Provider calls made (each attempt) by `provider`, `operation` (geocode, route) and `outcome`.
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
/// Circuit breaker state by `provider`: 0 closed, 1 open, 2 half-open (this process's breaker).
pub const BREAKER_STATE: &str = "routeq_breaker_state";
/// Circuit breaker transitions by `provider` and `to` (closed, open, half_open).
pub const BREAKER_TRANSITIONS: &str = "routeq_breaker_transitions_total";
/// Calls the breaker refused without calling the provider, by `provider`.
pub const BREAKER_REJECTED: &str = "routeq_breaker_rejected_total";
/// Retries of a failed provider call by `provider` and `reason` (the failure's label).
pub const RETRIES: &str = "routeq_provider_retries_total";
/// Calls that waited for a slot under the fleet-wide rate limit (or a Retry-After), by `provider`.
pub const RATE_LIMIT_WAITS: &str = "routeq_rate_limit_waits_total";
/// How long calls waited for their slot, by `provider`.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "routeq_rate_limit_wait_seconds";
/// Calls refused because no slot was free before the job's deadline, by `provider`.
pub const RATE_LIMIT_REFUSED: &str = "routeq_rate_limit_refused_total";
/// Cache lookups by `cache` (geocode, route) and `result` (hit, miss).
pub const CACHE_LOOKUPS: &str = "routeq_cache_lookups_total";
/// Requests answered by an identical request's call in flight, by `cache` (geocode, route).
pub const COALESCED: &str = "routeq_coalesced_calls_total";
/// Jobs parked in the dead-letter stream, by `reason` (max_attempts, unreadable).
pub const DEAD_LETTERS: &str = "routeq_dead_letters_total";
/// Geocode store (PostgreSQL) lookups by `result`: hit, miss, error.
pub const GEOCODE_STORE: &str = "routeq_geocode_store_lookups_total";
/// Rows the recorder wrote to PostgreSQL.
pub const RECORDER_ROWS: &str = "routeq_recorder_rows_total";
/// Time to write one batch to PostgreSQL.
pub const RECORDER_BATCH_SECONDS: &str = "routeq_recorder_batch_seconds";
/// Records waiting in the records stream (written by the fleet, not yet in PostgreSQL).
pub const RECORDER_BACKLOG: &str = "routeq_recorder_backlog";
/// Batches that failed to write (PostgreSQL down or refusing); they are retried.
pub const RECORDER_FAILURES: &str = "routeq_recorder_failures_total";
/// Jobs completed per completion script (batching under load).
pub const COMPLETION_BATCH: &str = "routeq_completion_batch_size";
