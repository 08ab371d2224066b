//! The import's working tables, private to its transaction (`ON COMMIT DROP`):
//!
//! - `st_row`: every valid charger row, streamed in with `COPY` (the file never sits in memory);
//! - `st_incoming`: one row per incoming station (statId), its facts from its first row;
//! - `st_decision`: what the matcher decided for each incoming station.

use std::fmt::Write as _;

use sqlx::{PgConnection, Postgres, Transaction};

use crate::feed::validate::ChargerRow;
use crate::feed::{Batch, Position, Rejection};

/// Bytes of COPY data sent at once.
const COPY_CHUNK: usize = 1 << 20;

/// Creates the working tables.
pub async fn create(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    for ddl in [
        "CREATE TEMP TABLE st_row (
            pos bigint NOT NULL, stat_id text NOT NULL, chger_id text NOT NULL,
            stat_nm text NOT NULL, addr text NOT NULL, lat float8 NOT NULL, lng float8 NOT NULL,
            chger_type text NOT NULL, output_kw real, stat smallint NOT NULL,
            stat_upd timestamptz, busi_id text NOT NULL, busi_nm text NOT NULL,
            use_time text NOT NULL, zcode text NOT NULL
        ) ON COMMIT DROP",
        "CREATE TEMP TABLE st_incoming (
            idx int PRIMARY KEY, stat_id text NOT NULL UNIQUE, stat_nm text NOT NULL,
            addr text NOT NULL, lat float8 NOT NULL, lng float8 NOT NULL,
            location geography(Point, 4326) NOT NULL, busi_id text NOT NULL,
            busi_nm text NOT NULL, use_time text NOT NULL, zcode text NOT NULL
        ) ON COMMIT DROP",
        "CREATE TEMP TABLE st_decision (
            idx int PRIMARY KEY, kind text NOT NULL, station_id uuid, distance_m float8,
            by_key bool NOT NULL DEFAULT false, revived bool NOT NULL DEFAULT false,
            reason text, candidates uuid[], detail text NOT NULL DEFAULT ''
        ) ON COMMIT DROP",
    ] {
        sqlx::query(ddl).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Streams rows into `st_row` with one `COPY`.
pub struct Copier {
    buf: Vec<u8>,
    line: String,
    pub rows: u64,
}

impl Default for Copier {
    fn default() -> Self {
        Copier::new()
    }
}

impl Copier {
    pub fn new() -> Copier {
        Copier {
            buf: Vec::with_capacity(COPY_CHUNK + 4096),
            line: String::with_capacity(512),
            rows: 0,
        }
    }

    /// Copies every row of `rows` into `st_row`.
    pub async fn copy_all<'a>(
        mut self,
        conn: &mut PgConnection,
        rows: impl IntoIterator<Item = &'a ChargerRow>,
    ) -> Result<u64, sqlx::Error> {
        let mut copy = conn.copy_in_raw(COPY_SQL).await?;
        for row in rows {
            self.push(row);
            if self.buf.len() >= COPY_CHUNK {
                copy.send(std::mem::take(&mut self.buf)).await?;
            }
        }
        copy.send(std::mem::take(&mut self.buf)).await?;
        copy.finish().await?;
        Ok(self.rows)
    }

    /// Copies the rows of a feed as they arrive; rejections are collected (the first `keep` in
    /// full, all counted). Returns (rows copied, rejections kept, rejections counted).
    pub async fn copy_feed(
        mut self,
        conn: &mut PgConnection,
        feed: &mut tokio::sync::mpsc::Receiver<Batch<ChargerRow>>,
        keep: usize,
    ) -> Result<(u64, Vec<Rejection>, u64), sqlx::Error> {
        let mut rejections = Vec::new();
        let mut rejected = 0u64;
        let mut copy = conn.copy_in_raw(COPY_SQL).await?;
        while let Some(batch) = feed.recv().await {
            for item in batch {
                match item {
                    Ok(row) => self.push(&row),
                    Err(r) => {
                        rejected += 1;
                        if rejections.len() < keep {
                            rejections.push(r);
                        }
                    }
                }
            }
            if self.buf.len() >= COPY_CHUNK {
                copy.send(std::mem::take(&mut self.buf)).await?;
            }
        }
        copy.send(std::mem::take(&mut self.buf)).await?;
        copy.finish().await?;
        Ok((self.rows, rejections, rejected))
    }

    fn push(&mut self, r: &ChargerRow) {
        let l = &mut self.line;
        l.clear();
        let _ = write!(l, "{}\t", r.at.number());
        for text in [&r.stat_id, &r.chger_id, &r.stat_nm, &r.addr] {
            escape(l, text);
            l.push('\t');
        }
        let _ = write!(l, "{}\t{}\t", r.lat, r.lng);
        escape(l, &r.chger_type);
        l.push('\t');
        match r.output_kw {
            Some(kw) => {
                let _ = write!(l, "{kw}");
            }
            None => l.push_str("\\N"),
        }
        let _ = write!(l, "\t{}\t", r.stat);
        match r.stat_upd {
            Some(t) => l.push_str(&t.to_rfc3339()),
            None => l.push_str("\\N"),
        }
        for text in [&r.busi_id, &r.busi_nm, &r.use_time, &r.zcode] {
            l.push('\t');
            escape(l, text);
        }
        l.push('\n');
        self.buf.extend_from_slice(l.as_bytes());
        self.rows += 1;
    }
}

const COPY_SQL: &str = "COPY st_row (pos, stat_id, chger_id, stat_nm, addr, lat, lng, chger_type, \
     output_kw, stat, stat_upd, busi_id, busi_nm, use_time, zcode) FROM STDIN";

/// COPY's text format: backslash, tab, newline and carriage return escaped.
pub(crate) fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Rejects every row after the first with the same (statId, chgerId): a charger is delivered
/// once. Returns the rejections, in file order.
pub async fn reject_duplicates(
    tx: &mut Transaction<'_, Postgres>,
    position: fn(u64) -> Position,
) -> Result<Vec<Rejection>, sqlx::Error> {
    let dups: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "WITH ranked AS (
             SELECT ctid, pos, stat_id, chger_id,
                    first_value(pos) OVER (PARTITION BY stat_id, chger_id ORDER BY pos) AS first
             FROM st_row)
         DELETE FROM st_row r USING ranked d
         WHERE r.ctid = d.ctid AND d.pos <> d.first
         RETURNING d.pos, d.stat_id, d.chger_id, d.first",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut out: Vec<Rejection> = dups
        .into_iter()
        .map(|(pos, stat_id, chger_id, first)| Rejection {
            at: position(pos as u64),
            field: "chgerId",
            reason: format!(
                "charger {stat_id}/{chger_id} was already delivered at {}",
                position(first as u64)
            ),
        })
        .collect();
    out.sort_by_key(|r| r.at.number());
    Ok(out)
}

/// Fills `st_incoming`: one station per statId, its facts from its first row. Returns how many.
pub async fn incoming(tx: &mut Transaction<'_, Postgres>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO st_incoming (idx, stat_id, stat_nm, addr, lat, lng, location, busi_id,
                                  busi_nm, use_time, zcode)
         SELECT row_number() OVER (ORDER BY stat_id), stat_id, stat_nm, addr, lat, lng,
                ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography, busi_id, busi_nm,
                use_time, zcode
         FROM (SELECT DISTINCT ON (stat_id) * FROM st_row ORDER BY stat_id, pos) first_rows",
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query("CREATE INDEX ON st_row (stat_id)")
        .execute(&mut **tx)
        .await?;
    sqlx::query("ANALYZE st_row").execute(&mut **tx).await?;
    sqlx::query("ANALYZE st_incoming")
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_text_escapes_its_delimiters() {
        let mut out = String::new();
        super::escape(&mut out, "a\\b\tc\nd");
        assert_eq!(out, "a\\\\b\\tc\\nd");
    }
}
