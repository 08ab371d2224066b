//! The `jobs` table: one row per job, written in batches from the records stream, read when a
//! job has left Redis.

use std::collections::HashMap;

use sqlx::postgres::PgPool;

use crate::codes::Code;
use crate::job::{JobRecord, JobState};
use crate::redis::record::RecordEvent;

/// Writes a batch of events in one statement (one transaction). Idempotent: an event delivered
/// twice changes nothing, and a `finished` event that arrives before its `accepted` event still
/// lands as the final state (an `accepted` event never overwrites a finished row).
///
/// Text PostgreSQL cannot store (NUL, raw or as a JSON `\u0000` escape) is replaced by U+FFFD
/// first ([`sanitise`]).
pub async fn write_records(pool: &PgPool, events: &[RecordEvent]) -> Result<u64, sqlx::Error> {
    let clean: Vec<RecordEvent> = events.iter().map(sanitise).collect();
    write_clean(pool, &clean).await
}

/// What [`write_records_isolating`] did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub rows: u64,
    /// The events (by index) PostgreSQL refused even alone, with its error.
    pub refused: Vec<(usize, String)>,
}

/// Whether PostgreSQL refused the data itself (SQLSTATE class 22 "data exception", e.g. bad
/// JSON or bad encoding), as opposed to being unreachable or failing: retrying the same data
/// cannot help.
fn refuses_the_data(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("22")))
}

/// Like [`write_records`], but one record PostgreSQL refuses does not hold the others: when the
/// batch is refused for its data, the records are written one by one and those refused alone
/// are reported (the caller parks them). Any other error (PostgreSQL down) is returned as is.
pub async fn write_records_isolating(
    pool: &PgPool,
    events: &[RecordEvent],
) -> Result<WriteReport, sqlx::Error> {
    let events: Vec<RecordEvent> = events.iter().map(sanitise).collect();
    match write_clean(pool, &events).await {
        Ok(rows) => {
            return Ok(WriteReport {
                rows,
                refused: Vec::new(),
            });
        }
        Err(e) if refuses_the_data(&e) => {
            tracing::warn!(error = %e, records = events.len(), "PostgreSQL refused a batch of records; writing them one by one");
        }
        Err(e) => return Err(e),
    }
    let mut report = WriteReport::default();
    for (i, e) in events.iter().enumerate() {
        match write_clean(pool, std::slice::from_ref(e)).await {
            Ok(rows) => report.rows += rows,
            Err(err) if refuses_the_data(&err) => report.refused.push((i, err.to_string())),
            Err(err) => return Err(err),
        }
    }
    Ok(report)
}

/// Replaces NUL — which PostgreSQL stores in neither `text` nor `jsonb` — by U+FFFD in every
/// text of a record, and in the strings of its JSON (request, outcome), where it arrives as the
/// `\u0000` escape (a provider's answer can carry one into a job's outcome).
pub fn sanitise(e: &RecordEvent) -> RecordEvent {
    fn text(s: &str) -> Option<String> {
        s.contains('\0').then(|| s.replace('\0', "\u{FFFD}"))
    }
    fn json(s: &str) -> Option<String> {
        if let Some(t) = text(s) {
            return Some(t);
        }
        if !s.contains("\\u0000") {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_str(s).ok()?;
        fn walk(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) if s.contains('\0') => {
                    *s = s.replace('\0', "\u{FFFD}");
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
                serde_json::Value::Object(o) => {
                    let entries = std::mem::take(o);
                    for (k, mut val) in entries {
                        walk(&mut val);
                        o.insert(k.replace('\0', "\u{FFFD}"), val);
                    }
                }
                _ => {}
            }
        }
        walk(&mut v);
        Some(v.to_string())
    }
    let mut out = e.clone();
    let mut changed = false;
    for (field, clean) in [
        (&mut out.tenant, text as fn(&str) -> Option<String>),
        (&mut out.request_id, text),
        (&mut out.idempotency_key, text),
        (&mut out.state, text),
        (&mut out.code, text),
        (&mut out.provider, text),
        (&mut out.worker, text),
        (&mut out.request, json),
        (&mut out.outcome, json),
    ] {
        if let Some(c) = clean(field) {
            *field = c;
            changed = true;
        }
    }
    if changed {
        metrics::counter!(crate::metrics::recorder::SANITISED.name).increment(1);
        tracing::warn!(job_id = %e.id, "a record held NUL characters; replaced by U+FFFD");
    }
    out
}

async fn write_clean(pool: &PgPool, events: &[RecordEvent]) -> Result<u64, sqlx::Error> {
    // One row per job in a statement (ON CONFLICT cannot touch a row twice): `finished` wins.
    let mut merged: HashMap<uuid::Uuid, &RecordEvent> = HashMap::with_capacity(events.len());
    for e in events {
        match merged.get(&e.id) {
            Some(prev) if prev.finished && !e.finished => {}
            _ => {
                merged.insert(e.id, e);
            }
        }
    }
    let rows: Vec<&RecordEvent> = merged.into_values().collect();
    if rows.is_empty() {
        return Ok(0);
    }
    macro_rules! column {
        ($f:ident) => {
            rows.iter().map(|r| r.$f.clone()).collect::<Vec<_>>()
        };
    }
    let result = sqlx::query(
        r#"
        INSERT INTO jobs AS j (id, tenant, request_id, idempotency_key, request, state, code, outcome,
                               provider, attempts, worker, submitted_at, deadline_at, started_at, finished_at)
        SELECT t.id, t.tenant, t.rid, t.idem, t.req::jsonb, t.state, t.code, NULLIF(t.out, '')::jsonb,
               t.provider, t.att, t.wrk,
               to_timestamp(t.sub / 1000.0), to_timestamp(t.dl / 1000.0),
               CASE WHEN t.st > 0 THEN to_timestamp(t.st / 1000.0) END,
               CASE WHEN t.fin > 0 THEN to_timestamp(t.fin / 1000.0) END
        FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::int4[], $11::text[], $12::int8[], $13::int8[],
                    $14::int8[], $15::int8[])
             AS t(id, tenant, rid, idem, req, state, code, out, provider, att, wrk, sub, dl, st, fin)
        ON CONFLICT (id) DO UPDATE SET
            state       = CASE WHEN EXCLUDED.finished_at IS NOT NULL THEN EXCLUDED.state ELSE j.state END,
            code        = CASE WHEN EXCLUDED.finished_at IS NOT NULL THEN EXCLUDED.code ELSE j.code END,
            outcome     = COALESCE(EXCLUDED.outcome, j.outcome),
            provider    = CASE WHEN EXCLUDED.provider <> '' THEN EXCLUDED.provider ELSE j.provider END,
            attempts    = GREATEST(j.attempts, EXCLUDED.attempts),
            worker      = CASE WHEN EXCLUDED.worker <> '' THEN EXCLUDED.worker ELSE j.worker END,
            started_at  = COALESCE(EXCLUDED.started_at, j.started_at),
            finished_at = COALESCE(EXCLUDED.finished_at, j.finished_at),
            recorded_at = now()
        "#,
    )
    .bind(column!(id))
    .bind(column!(tenant))
    .bind(column!(request_id))
    .bind(column!(idempotency_key))
    .bind(column!(request))
    .bind(column!(state))
    .bind(column!(code))
    .bind(column!(outcome))
    .bind(column!(provider))
    .bind(column!(attempts))
    .bind(column!(worker))
    .bind(column!(submitted_ms))
    .bind(column!(deadline_ms))
    .bind(column!(started_ms))
    .bind(column!(finished_ms))
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    tenant: String,
    request_id: String,
    request: String,
    state: String,
    code: String,
    outcome: Option<String>,
    attempts: i32,
    sub: i64,
    dl: i64,
    st: i64,
    fin: i64,
}

/// Reads a job's durable record (for GETs after the Redis TTL), or `None` for no such job of
/// this tenant.
pub async fn get_job(
    pool: &PgPool,
    tenant: &str,
    id: &str,
) -> Result<Option<JobRecord>, sqlx::Error> {
    let Ok(uuid) = id.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    let row: Option<JobRow> = sqlx::query_as(
        r#"
        SELECT id::text, tenant, request_id, request::text AS request, state, code, outcome::text AS outcome, attempts,
               round(extract(epoch FROM submitted_at) * 1000)::int8 AS sub,
               round(extract(epoch FROM deadline_at) * 1000)::int8 AS dl,
               COALESCE(round(extract(epoch FROM started_at) * 1000)::int8, 0) AS st,
               COALESCE(round(extract(epoch FROM finished_at) * 1000)::int8, 0) AS fin
        FROM jobs WHERE id = $1 AND tenant = $2
        "#,
    )
    .bind(uuid)
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        Some(JobRecord {
            id: r.id,
            tenant: r.tenant,
            request_id: r.request_id,
            request_json: r.request,
            state: JobState::parse(&r.state)?,
            code: Code::parse(&r.code)?,
            submitted_ms: u64::try_from(r.sub).unwrap_or(0),
            deadline_ms: u64::try_from(r.dl).unwrap_or(0),
            started_ms: u64::try_from(r.st).unwrap_or(0),
            finished_ms: u64::try_from(r.fin).unwrap_or(0),
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            outcome: r.outcome.and_then(|o| serde_json::from_str(&o).ok()),
        })
    }))
}
