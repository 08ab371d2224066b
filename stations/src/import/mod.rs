//! `routeq-stations import FILE`: one file of the public data, one transaction.
//!
//! 1. The file's SHA-256 is compared with the source's last import: the same file again is a
//!    no-op that says so (importing an older file after a newer one does apply it).
//! 2. Rows are streamed from the file ([`crate::feed`]), checked, and `COPY`ed into a working
//!    table; rejected rows are reported by line or item with their field, the rest goes on.
//! 3. Incoming stations (one per statId) are matched against ours ([`decide`], by the rules of
//!    [`crate::matching`]).
//! 4. Decisions are applied ([`apply`]): stations created or updated, chargers paired, keys
//!    recorded as aliases, undecided stations queued for review; with `--full`, the source's
//!    stations absent from the file are retired.
//!
//! Imports of one source are serialised by an advisory lock; a failure anywhere rolls the whole
//! file back.

pub mod apply;
pub mod decide;
pub mod stage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;

use crate::Error;
use crate::feed::{self, FeedError, Format, Position, Rejection};
use crate::matching::MatchConfig;

/// Rejections reported in full (all are counted).
pub const REJECTIONS_KEPT: usize = 1000;

/// How to import a file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Whose data this is; keys and full reloads are per source.
    pub source: String,
    /// The file is everything the source has: retire what it does not deliver.
    pub full: bool,
    /// The file's shape; from its extension when `None`.
    pub format: Option<Format>,
    pub matching: MatchConfig,
}

impl ImportOptions {
    pub fn new(source: &str) -> ImportOptions {
        ImportOptions {
            source: source.to_string(),
            full: false,
            format: None,
            matching: MatchConfig::default(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The import's row in `station_imports`; `None` when nothing was done.
    pub import_id: Option<i64>,
    /// The same file was the source's last import (that import's id): nothing changed.
    pub unchanged_since: Option<i64>,
    pub digest: String,
    pub full: bool,
    /// Items in the file, deleted and rejected ones included.
    pub rows_read: u64,
    /// Items the source marks deleted (`delYn=Y`), skipped.
    pub rows_deleted: u64,
    /// Distinct statIds among the valid rows.
    pub stations_read: u64,
    pub kept: u64,
    pub moved: u64,
    pub new: u64,
    pub revived: u64,
    pub retired: u64,
    /// Incoming stations sent to the review queue.
    pub ambiguous: u64,
    pub rejected: u64,
    /// The first [`REJECTIONS_KEPT`] rejections, in file order.
    pub rejections: Vec<Rejection>,
    pub elapsed_ms: u64,
    /// Where the time went: (phase, ms).
    pub phases: Vec<(&'static str, u64)>,
}

/// Imports one file (see the module doc).
pub async fn import(
    pool: &PgPool,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, Error> {
    let started = Instant::now();
    opts.matching.validate()?;
    if opts.source.trim().is_empty() || opts.source.len() > 64 {
        return Err(Error::invalid("source", "must be 1 to 64 characters"));
    }
    let format = Format::resolve(opts.format, path)?;
    let digest = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || feed::digest(&path))
            .await
            .map_err(|e| FeedError::Thread(e.to_string()))??
    };
    let mut report = ImportReport {
        digest: digest.clone(),
        full: opts.full,
        ..ImportReport::default()
    };

    let mut tx = pool.begin().await?;
    // Bulk statements over freshly written tables: JIT compilation costs more than it saves.
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('routeq-stations:' || $1, 0))")
        .bind(&opts.source)
        .execute(&mut *tx)
        .await?;
    let last: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT id, file_digest, full_reload FROM station_imports
         WHERE source = $1 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(&opts.source)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, last_digest, last_full)) = last
        && last_digest == digest
        && last_full == opts.full
    {
        tx.commit().await?;
        report.unchanged_since = Some(id);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(source = %opts.source, import = id, "same file as the last import: nothing to do");
        return Ok(report);
    }
    let (import_id,): (i64,) = sqlx::query_as(
        "INSERT INTO station_imports (source, file_digest, full_reload, started_at)
         VALUES ($1, $2, $3, now()) RETURNING id",
    )
    .bind(&opts.source)
    .bind(&digest)
    .bind(opts.full)
    .fetch_one(&mut *tx)
    .await?;
    report.import_id = Some(import_id);

    let mut clock = Instant::now();
    let mut lap = |report: &mut ImportReport, phase: &'static str| {
        report
            .phases
            .push((phase, clock.elapsed().as_millis() as u64));
        clock = Instant::now();
    };
    lap(&mut report, "digest and lock");
    stage::create(&mut tx).await?;
    let (mut rx, reader) = feed::spawn(
        PathBuf::from(path),
        format,
        feed::CHARGER_COLUMNS,
        feed::validate::charger_row,
    );
    let copied = stage::Copier::new()
        .copy_feed(&mut tx, &mut rx, REJECTIONS_KEPT)
        .await;
    drop(rx);
    let read = reader.await.map_err(|e| FeedError::Thread(e.to_string()))?;
    // A file that could not be read whole is the error to report, not the COPY it cut short.
    report.rows_read = read?;
    let (rows, rejections, rejected) = copied?;
    let position: fn(u64) -> Position = match format {
        Format::Json => Position::Item,
        Format::Csv => Position::Line,
    };
    let dups = stage::reject_duplicates(&mut tx, position).await?;
    report.rejected = rejected + dups.len() as u64;
    report.rejections = rejections;
    report.rejections.extend(dups);
    report.rejections.sort_by_key(|r| r.at.number());
    report.rejections.truncate(REJECTIONS_KEPT);
    report.rows_deleted = report.rows_read - rows - rejected;
    report.stations_read = stage::incoming(&mut tx).await?;
    lap(&mut report, "read, check and copy");

    decide::decide_all(&mut tx, &opts.source, &opts.matching).await?;
    decide::contest(&mut tx).await?;
    lap(&mut report, "match");
    let ctx = apply::Ctx {
        source: &opts.source,
        import_id,
        retire_missing_chargers: true,
    };
    apply::stations(&mut tx, &ctx).await?;
    apply::chargers(&mut tx, &ctx).await?;
    lap(&mut report, "stations and chargers");
    apply::keys(&mut tx, &ctx).await?;
    lap(&mut report, "keys");
    apply::reviews(&mut tx, &ctx, opts.full).await?;
    if opts.full {
        report.retired = apply::retire_absent(&mut tx, &ctx).await?;
    }
    lap(&mut report, "reviews and retirement");
    let c = apply::counts(&mut tx, opts.matching.same_place_m).await?;
    (
        report.kept,
        report.moved,
        report.new,
        report.revived,
        report.ambiguous,
    ) = (c.kept, c.moved, c.new, c.revived, c.ambiguous);

    sqlx::query(
        "UPDATE station_imports SET finished_at = clock_timestamp(), rows_read = $2,
                stations_read = $3, kept = $4, new = $5, moved = $6, revived = $7, retired = $8,
                ambiguous = $9, rejected = $10
         WHERE id = $1",
    )
    .bind(import_id)
    .bind(report.rows_read as i64)
    .bind(report.stations_read as i64)
    .bind(report.kept as i64)
    .bind(report.new as i64)
    .bind(report.moved as i64)
    .bind(report.revived as i64)
    .bind(report.retired as i64)
    .bind(report.ambiguous as i64)
    .bind(report.rejected as i64)
    .execute(&mut *tx)
    .await?;
    // The next import plans its joins on these tables: give the planner their new sizes now
    // rather than when autovacuum gets to them (ANALYZE counts this transaction's rows).
    for table in ["stations", "chargers", "external_keys"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    lap(&mut report, "analyze and commit");
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        source = %opts.source, import = import_id, rows = report.rows_read,
        stations = report.stations_read, kept = report.kept, moved = report.moved,
        new = report.new, retired = report.retired, ambiguous = report.ambiguous,
        rejected = report.rejected, elapsed_ms = report.elapsed_ms, "import committed"
    );
    Ok(report)
}
