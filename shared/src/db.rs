//! PostgreSQL: the durable record of every job, and our own store of geocoded addresses.
//!
//! Redis holds the hot path with a TTL; this is what stays. The schema lives in `migrations/` as
//! SQL files, embedded here at compile time (no database is needed to build) and applied by
//! `routeq-recorder migrate` (or `--migrate` at start). Queries are checked at run time.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::codes::Code;
use crate::job::JobState;
use crate::store::JobRecord;

/// The schema, embedded from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A PostgreSQL URL; its `Debug` and `Display` hide any password.
#[derive(Clone)]
pub struct DbUrl(String);

impl std::str::FromStr for DbUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = crate::secrets::reveal(s).map_err(|e| e.to_string())?;
        let s = s.as_str();
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(
                "not a PostgreSQL URL (postgres://user[:password]@host[:port]/db)".to_string(),
            );
        }
        s.parse::<PgConnectOptions>().map_err(|_| {
            "not a PostgreSQL URL (postgres://user[:password]@host[:port]/db)".to_string()
        })?;
        Ok(DbUrl(s.to_string()))
    }
}

impl DbUrl {
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &self.0[..scheme_end + 3], &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Database settings shared by the binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL of the durable record (`postgres://user[:password]@host/db`). Without it,
    /// nothing is recorded or read from PostgreSQL.
    #[arg(long = "database-url", env = "ROUTEQ_DATABASE_URL", hide_env_values = true, value_parser = crate::secrets::Redacted::<DbUrl>::new())]
    pub database_url: Option<DbUrl>,

    /// File holding the database URL (Docker/Kubernetes secrets); wins over --database-url.
    #[arg(long = "database-url-file", env = "ROUTEQ_DATABASE_URL_FILE")]
    pub database_url_file: Option<std::path::PathBuf>,

    /// Most connections this process opens to PostgreSQL.
    #[arg(
        long = "db-max-connections",
        env = "ROUTEQ_DB_MAX_CONNECTIONS",
        default_value_t = 4
    )]
    pub max_connections: u32,

    /// How long to wait for a PostgreSQL connection before failing, in ms (a down database must
    /// fail fast, never hang a request).
    #[arg(
        long = "db-acquire-timeout-ms",
        env = "ROUTEQ_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 500
    )]
    pub acquire_timeout_ms: u64,
}

impl DbArgs {
    /// A lazy pool (the process starts while the database is down), or `None` when unconfigured.
    pub fn pool(&self) -> Option<Result<PgPool, sqlx::Error>> {
        let url = match &self.database_url_file {
            Some(path) => match crate::secrets::from_file(path)
                .map_err(|e| e.to_string())
                .and_then(|u| u.parse::<DbUrl>())
            {
                Ok(url) => url,
                Err(e) => return Some(Err(sqlx::Error::Configuration(e.into()))),
            },
            None => self.database_url.clone()?,
        };
        Some(url.expose().parse::<PgConnectOptions>().map(|opts| {
            PgPoolOptions::new()
                .max_connections(self.max_connections.max(1))
                .acquire_timeout(Duration::from_millis(self.acquire_timeout_ms.max(1)))
                .connect_lazy_with(opts)
        }))
    }
}

/// Applies every migration not yet applied; applying twice is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// One event of the records stream, parsed from its fields (the job hash at that moment).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEvent {
    pub finished: bool,
    pub id: uuid::Uuid,
    pub tenant: String,
    pub request_id: String,
    pub idempotency_key: String,
    pub request: String,
    pub state: String,
    pub code: String,
    pub outcome: String,
    pub provider: String,
    pub attempts: i32,
    pub worker: String,
    pub submitted_ms: i64,
    pub deadline_ms: i64,
    pub started_ms: i64,
    pub finished_ms: i64,
}

impl RecordEvent {
    /// Parses a records-stream entry; `None` when it is not a job event.
    pub fn parse(f: &HashMap<String, String>) -> Option<RecordEvent> {
        let text = |k: &str| f.get(k).cloned().unwrap_or_default();
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let finished = match f.get("ev")?.as_str() {
            "accepted" => false,
            "finished" => true,
            _ => return None,
        };
        let outcome = text("out");
        let provider = serde_json::from_str::<serde_json::Value>(&outcome)
            .ok()
            .and_then(|o| {
                o.pointer("/result/provider")
                    .or_else(|| o.pointer("/fallback/provider"))
                    .and_then(|p| p.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Some(RecordEvent {
            finished,
            id: f.get("id")?.parse().ok()?,
            tenant: f.get("tenant")?.clone(),
            request_id: text("rid"),
            idempotency_key: text("idem"),
            request: f.get("req")?.clone(),
            state: f.get("state")?.clone(),
            code: f.get("code")?.clone(),
            outcome,
            provider,
            attempts: i32::try_from(num("att")).unwrap_or(i32::MAX),
            worker: text("wrk"),
            submitted_ms: num("sub"),
            deadline_ms: num("dl"),
            started_ms: num("st"),
            finished_ms: if finished { num("fin") } else { 0 },
        })
    }
}

/// Writes a batch of events in one statement (one transaction). Idempotent: an event delivered
/// twice changes nothing, and a `finished` event that arrives before its `accepted` event still
/// lands as the final state (an `accepted` event never overwrites a finished row).
pub async fn write_records(pool: &PgPool, events: &[RecordEvent]) -> Result<u64, sqlx::Error> {
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

/// An address we resolved once, under our own key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredGeocode {
    pub id: i64,
    pub lat: f64,
    pub lon: f64,
    pub provider: String,
    pub provider_place_id: String,
    pub display_name: String,
}

/// The key of the geocode store: trimmed, spaces collapsed, lower case.
pub fn normalise_address(address: &str) -> String {
    address
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Looks an address up in our own store.
pub async fn geocode_get(
    pool: &PgPool,
    address: &str,
) -> Result<Option<StoredGeocode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, lat, lon, provider, provider_place_id, display_name FROM geocodes WHERE address_norm = $1",
    )
    .bind(normalise_address(address))
    .fetch_optional(pool)
    .await
}

/// Stores what a provider resolved. Our id stays the same when the provider's answer changes.
pub async fn geocode_put(
    pool: &PgPool,
    address: &str,
    lat: f64,
    lon: f64,
    provider: &str,
    provider_place_id: &str,
    display_name: &str,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        r#"
        INSERT INTO geocodes (address_norm, address, lat, lon, provider, provider_place_id, display_name)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (address_norm) DO UPDATE SET
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, provider = EXCLUDED.provider,
            provider_place_id = EXCLUDED.provider_place_id, display_name = EXCLUDED.display_name,
            updated_at = now()
        RETURNING id
        "#,
    )
    .bind(normalise_address(address))
    .bind(address)
    .bind(lat)
    .bind(lon)
    .bind(provider)
    .bind(provider_place_id)
    .bind(display_name)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_print() {
        let url: DbUrl = "postgres://routeq:s3cret-canary@db:5432/routeq"
            .parse()
            .expect("url");
        assert!(!format!("{url:?}{url}").contains("s3cret-canary"));
        assert!("mysql://x".parse::<DbUrl>().is_err());
    }

    #[test]
    fn addresses_normalise_to_one_key() {
        assert_eq!(normalise_address("  Seoul   STATION "), "seoul station");
    }
}
