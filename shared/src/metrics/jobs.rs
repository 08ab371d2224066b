//! A worker's jobs: in flight, finished, their times, redeliveries and dead letters.

use super::Metric;

/// Jobs this process is working on now.
pub const IN_FLIGHT: Metric = Metric::gauge(
    "routeq_worker_jobs_in_flight",
    "Jobs this worker is working on now.",
    &[],
);
/// Jobs finished by `state` and `code`.
pub const FINISHED: Metric = Metric::counter(
    "routeq_jobs_finished_total",
    "Jobs this worker ended, by terminal state and code.",
    &["state", "code"],
);
/// From submission until a worker started the job.
pub const QUEUE_SECONDS: Metric = Metric::histogram(
    "routeq_job_queue_seconds",
    "Time from submission until a worker started the job.",
    &[],
);
/// From the start of the job until its result was ready.
pub const COMPUTE_SECONDS: Metric = Metric::histogram(
    "routeq_job_compute_seconds",
    "Time from the start of a job until its result was ready.",
    &[],
);
/// From submission until the terminal state was stored.
pub const END_TO_END_SECONDS: Metric = Metric::histogram(
    "routeq_job_end_to_end_seconds",
    "Time from submission until the terminal state was stored.",
    &[],
);
/// Completions that found the job already ended (a redelivery after a presumed-dead worker).
pub const DUPLICATE_COMPLETIONS: Metric = Metric::counter(
    "routeq_duplicate_completions_total",
    "Completions that found the job already ended (a redelivered duplicate).",
    &[],
);
/// Entries taken over from consumers that stopped acknowledging them.
pub const RECLAIMED: Metric = Metric::counter(
    "routeq_jobs_reclaimed_total",
    "Stream entries taken over from workers that stopped acknowledging them.",
    &[],
);
/// Entries that did not parse as jobs (dropped after acknowledging).
pub const MALFORMED_ENTRIES: Metric = Metric::counter(
    "routeq_malformed_entries_total",
    "Stream entries that were not jobs (acknowledged and dropped).",
    &[],
);
/// Jobs whose deadline had passed when a worker picked them up (no provider call was spent).
pub const EXPIRED_ON_PICKUP: Metric = Metric::counter(
    "routeq_jobs_expired_on_pickup_total",
    "Jobs whose deadline had passed when a worker picked them up.",
    &[],
);
/// Jobs parked in the dead-letter stream, by `reason` (max_attempts, unreadable).
pub const DEAD_LETTERED: Metric = Metric::counter(
    "routeq_dead_letters_total",
    "Jobs this worker parked in the dead-letter stream, by reason.",
    &["reason"],
);
/// Jobs completed per completion script (batching under load).
pub const COMPLETION_BATCH: Metric = Metric::histogram(
    "routeq_completion_batch_size",
    "Jobs ended by one completion script call.",
    &[],
);

/// Jobs the sweeper ended `expired` past their deadline plus the grace.
pub const SWEPT: Metric = Metric::counter(
    "routeq_jobs_swept_total",
    "Jobs the sweeper ended expired past their deadline plus the grace (nobody else ended them).",
    &[],
);

pub const ALL: &[&Metric] = &[
    &IN_FLIGHT,
    &FINISHED,
    &QUEUE_SECONDS,
    &COMPUTE_SECONDS,
    &END_TO_END_SECONDS,
    &DUPLICATE_COMPLETIONS,
    &RECLAIMED,
    &MALFORMED_ENTRIES,
    &EXPIRED_ON_PICKUP,
    &DEAD_LETTERED,
    &COMPLETION_BATCH,
    &SWEPT,
];
