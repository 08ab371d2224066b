//! The recorder: records stream → PostgreSQL. Its backlog is [`super::queue::RECORDS_BACKLOG`].

use super::Metric;

/// Rows the recorder wrote to PostgreSQL.
pub const ROWS: Metric = Metric::counter(
    "routeq_recorder_rows_total",
    "Rows the recorder wrote to PostgreSQL.",
    &[],
);
/// Time to write one batch to PostgreSQL.
pub const BATCH_SECONDS: Metric = Metric::histogram(
    "routeq_recorder_batch_seconds",
    "Time to write one batch of records to PostgreSQL.",
    &[],
);
/// Batches that failed to write (PostgreSQL down or refusing); they are retried.
pub const FAILURES: Metric = Metric::counter(
    "routeq_recorder_failures_total",
    "Record batches that failed to write (they are retried).",
    &[],
);

/// Records PostgreSQL refused even written alone, parked in `{p}:records:parked`.
pub const PARKED: Metric = Metric::counter(
    "routeq_recorder_parked_total",
    "Records PostgreSQL refused even written alone, parked in the records:parked stream.",
    &[],
);
/// Text values whose NUL characters were replaced (U+FFFD) so PostgreSQL could store them.
pub const SANITISED: Metric = Metric::counter(
    "routeq_recorder_sanitised_total",
    "Records whose NUL characters were replaced by U+FFFD before writing (PostgreSQL cannot store NUL).",
    &[],
);

pub const ALL: &[&Metric] = &[&ROWS, &BATCH_SECONDS, &FAILURES, &PARKED, &SANITISED];
