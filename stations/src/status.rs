//! `routeq-stations status FILE`: a status feed (`statId, chgerId, stat, statUpdDt`) applied to
//! our chargers through the aliases the imports recorded. A key we do not know is reported, not
//! fatal; a status older than the one we hold is not applied.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;

use crate::Error;
use crate::feed::validate::StatusRow;
use crate::feed::{self, FeedError, Format, Rejection};
use crate::import::stage::escape;

/// Unknown keys reported in full (all are counted).
pub const UNKNOWN_KEPT: usize = 100;

/// What a status feed did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusReport {
    pub rows_read: u64,
    /// Chargers whose status was set.
    pub applied: u64,
    /// Rows older than the status we hold (or a later row of the same charger won).
    pub stale: u64,
    /// Rows whose (statId, chgerId) no import delivered.
    pub unknown: u64,
    /// The first [`UNKNOWN_KEPT`] unknown keys: (statId, chgerId).
    pub unknown_keys: Vec<(String, String)>,
    pub rejected: u64,
    pub rejections: Vec<Rejection>,
    pub elapsed_ms: u64,
}

/// Applies a status feed in one transaction.
pub async fn apply(
    pool: &PgPool,
    path: &Path,
    source: &str,
    format: Option<Format>,
) -> Result<StatusReport, Error> {
    let started = Instant::now();
    let format = Format::resolve(format, path)?;
    let mut report = StatusReport::default();
    let mut tx = pool.begin().await?;
    // Bulk statements over freshly written tables: JIT compilation costs more than it saves.
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    sqlx::query(
        "CREATE TEMP TABLE st_status (pos bigint NOT NULL, stat_id text NOT NULL,
             chger_id text NOT NULL, stat smallint NOT NULL, stat_upd timestamptz)
         ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    let (mut rx, reader) = feed::spawn(
        PathBuf::from(path),
        format,
        feed::STATUS_COLUMNS,
        feed::validate::status_row,
    );
    let copied = copy(&mut tx, &mut rx, &mut report).await;
    drop(rx);
    report.rows_read = reader
        .await
        .map_err(|e| FeedError::Thread(e.to_string()))??;
    copied?;

    let (rows, applied, unknown): (i64, i64, i64) = sqlx::query_as(
        "WITH latest AS (
             SELECT DISTINCT ON (stat_id, chger_id) *
             FROM st_status ORDER BY stat_id, chger_id, stat_upd DESC NULLS LAST, pos DESC),
         known AS (
             SELECT l.stat, l.stat_upd, k.charger_id
             FROM latest l JOIN external_keys k
               ON k.source = $1 AND k.ext_station_id = l.stat_id AND k.ext_charger_id = l.chger_id),
         done AS (
             UPDATE chargers c SET status = known.stat,
                    status_at = COALESCE(known.stat_upd, c.status_at)
             FROM known
             WHERE c.id = known.charger_id
               AND (known.stat_upd IS NULL OR c.status_at IS NULL OR known.stat_upd >= c.status_at)
             RETURNING c.id)
         SELECT (SELECT count(*) FROM st_status), (SELECT count(*) FROM done),
                (SELECT count(*) FROM st_status s WHERE NOT EXISTS (
                     SELECT 1 FROM external_keys k WHERE k.source = $1
                        AND k.ext_station_id = s.stat_id AND k.ext_charger_id = s.chger_id))",
    )
    .bind(source)
    .fetch_one(&mut *tx)
    .await?;
    report.applied = applied as u64;
    report.unknown = unknown as u64;
    report.stale = (rows - applied - unknown).max(0) as u64;
    report.unknown_keys = sqlx::query_as(
        "SELECT s.stat_id, s.chger_id FROM st_status s
         WHERE NOT EXISTS (SELECT 1 FROM external_keys k WHERE k.source = $1
                           AND k.ext_station_id = s.stat_id AND k.ext_charger_id = s.chger_id)
         ORDER BY s.pos LIMIT $2",
    )
    .bind(source)
    .bind(UNKNOWN_KEPT as i64)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        source,
        rows = report.rows_read,
        applied = report.applied,
        stale = report.stale,
        unknown = report.unknown,
        rejected = report.rejected,
        "status feed applied"
    );
    Ok(report)
}

async fn copy(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rx: &mut tokio::sync::mpsc::Receiver<feed::Batch<StatusRow>>,
    report: &mut StatusReport,
) -> Result<(), sqlx::Error> {
    let mut copy = tx
        .copy_in_raw("COPY st_status (pos, stat_id, chger_id, stat, stat_upd) FROM STDIN")
        .await?;
    let mut buf = String::with_capacity(1 << 20);
    while let Some(batch) = rx.recv().await {
        for item in batch {
            match item {
                Ok(r) => {
                    let _ = write!(buf, "{}\t", r.at.number());
                    escape(&mut buf, &r.stat_id);
                    buf.push('\t');
                    escape(&mut buf, &r.chger_id);
                    let _ = write!(buf, "\t{}\t", r.stat);
                    match r.stat_upd {
                        Some(t) => buf.push_str(&t.to_rfc3339()),
                        None => buf.push_str("\\N"),
                    }
                    buf.push('\n');
                }
                Err(rejection) => {
                    report.rejected += 1;
                    if report.rejections.len() < crate::import::REJECTIONS_KEPT {
                        report.rejections.push(rejection);
                    }
                }
            }
        }
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
        }
    }
    copy.send(buf.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}
