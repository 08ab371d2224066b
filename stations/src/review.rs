//! The review queue: incoming stations the importer would not decide alone, and a person's
//! decision on each (`review resolve <id> --as <station-id>` or `--new`).
//!
//! Resolving applies the queued station exactly as an import would have: onto the chosen
//! station (its place, name and chargers updated, the key recorded as an alias) or as a new
//! station. Onto a station it adds chargers and never retires any, so both halves of a station
//! split across two keys can be resolved onto it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::Error;
use crate::feed::Position;
use crate::feed::validate::ChargerRow;
use crate::import::{apply, stage};

/// A queued station as it was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incoming {
    #[serde(rename = "statId")]
    pub stat_id: String,
    #[serde(rename = "statNm")]
    pub stat_nm: String,
    pub addr: String,
    pub lat: f64,
    pub lng: f64,
    #[serde(rename = "busiId")]
    pub busi_id: String,
    #[serde(rename = "busiNm")]
    pub busi_nm: String,
    #[serde(rename = "useTime")]
    pub use_time: String,
    pub zcode: String,
    pub chargers: Vec<IncomingCharger>,
}

/// One of a queued station's chargers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingCharger {
    /// Its line or item number in the imported file.
    pub pos: u64,
    #[serde(rename = "chgerId")]
    pub chger_id: String,
    #[serde(rename = "chgerType")]
    pub chger_type: String,
    pub output: Option<f32>,
    pub stat: i16,
    #[serde(rename = "statUpdDt")]
    pub stat_upd: Option<DateTime<Utc>>,
}

/// One of our stations a queued one could be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewCandidate {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub distance_m: f64,
    pub retired: bool,
}

/// A review, open or resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub id: i64,
    pub import_id: i64,
    pub source: String,
    pub incoming: Incoming,
    pub candidates: Vec<ReviewCandidate>,
    /// `ambiguous`, `disagrees` or `contested`.
    pub reason: String,
    pub detail: String,
    pub status: String,
    /// `station`, `new` or `superseded` (a later import delivered it again).
    pub resolution: Option<String>,
    pub resolved_station: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A person's decision on a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It is this station of ours.
    Station(Uuid),
    /// It is a station we do not have.
    New,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    import_id: i64,
    source: String,
    incoming: Json<Incoming>,
    candidates: Option<Json<Vec<ReviewCandidate>>>,
    reason: String,
    detail: String,
    status: String,
    resolution: Option<String>,
    resolved_station: Option<Uuid>,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

/// Reviews, oldest first: the open ones, or all with `include_resolved`.
pub async fn list(
    pool: &PgPool,
    source: Option<&str>,
    include_resolved: bool,
    limit: u32,
) -> Result<Vec<Review>, Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.id, r.import_id, r.source, r.incoming, r.reason, r.detail, r.status,
                r.resolution, r.resolved_station, r.created_at, r.resolved_at,
                (SELECT jsonb_agg(jsonb_build_object(
                            'id', s.id, 'name', s.name, 'address', s.address,
                            'retired', s.retired_at IS NOT NULL,
                            'distance_m', ST_Distance(s.location, ST_SetSRID(ST_MakePoint(
                                (r.incoming->>'lng')::float8, (r.incoming->>'lat')::float8),
                                4326)::geography)) ORDER BY c.n)
                 FROM unnest(r.candidates) WITH ORDINALITY AS c(id, n)
                 JOIN stations s ON s.id = c.id) AS candidates
         FROM station_reviews r
         WHERE ($1::text IS NULL OR r.source = $1) AND ($2 OR r.status = 'open')
         ORDER BY r.id LIMIT $3",
    )
    .bind(source)
    .bind(include_resolved)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Review {
            id: r.id,
            import_id: r.import_id,
            source: r.source,
            incoming: r.incoming.0,
            candidates: r.candidates.map(|c| c.0).unwrap_or_default(),
            reason: r.reason,
            detail: r.detail,
            status: r.status,
            resolution: r.resolution,
            resolved_station: r.resolved_station,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
        })
        .collect())
}

/// Resolves an open review; answers the station it now is.
pub async fn resolve(pool: &PgPool, id: i64, resolution: Resolution) -> Result<Uuid, Error> {
    let mut tx = pool.begin().await?;
    // Bulk statements over freshly written tables: JIT compilation costs more than it saves.
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    let review: Option<(String, i64, String, Json<Incoming>)> = sqlx::query_as(
        "SELECT source, import_id, status, incoming FROM station_reviews WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((source, import_id, status, Json(incoming))) = review else {
        return Err(Error::ReviewNotFound(id));
    };
    if status != "open" {
        return Err(Error::ReviewResolved(id));
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('routeq-stations:' || $1, 0))")
        .bind(&source)
        .execute(&mut *tx)
        .await?;
    let (kind, station) = match resolution {
        Resolution::Station(station) => {
            let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM stations WHERE id = $1")
                .bind(station)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(Error::StationNotFound(station));
            }
            ("same", station)
        }
        Resolution::New => ("new", Uuid::now_v7()),
    };

    stage::create(&mut tx).await?;
    let rows: Vec<ChargerRow> = incoming
        .chargers
        .iter()
        .map(|c| ChargerRow {
            at: Position::Item(c.pos),
            stat_id: incoming.stat_id.clone(),
            chger_id: c.chger_id.clone(),
            stat_nm: incoming.stat_nm.clone(),
            addr: incoming.addr.clone(),
            lat: incoming.lat,
            lng: incoming.lng,
            chger_type: c.chger_type.clone(),
            output_kw: c.output,
            stat: c.stat,
            stat_upd: c.stat_upd,
            busi_id: incoming.busi_id.clone(),
            busi_nm: incoming.busi_nm.clone(),
            use_time: incoming.use_time.clone(),
            zcode: incoming.zcode.clone(),
        })
        .collect();
    stage::Copier::new().copy_all(&mut tx, &rows).await?;
    stage::incoming(&mut tx).await?;
    sqlx::query(
        "INSERT INTO st_decision (idx, kind, station_id, distance_m)
         SELECT i.idx, $1, $2, ST_Distance(i.location, s.location)
         FROM st_incoming i LEFT JOIN stations s ON s.id = $2",
    )
    .bind(kind)
    .bind(station)
    .execute(&mut *tx)
    .await?;
    let ctx = apply::Ctx {
        source: &source,
        import_id,
        retire_missing_chargers: false,
    };
    apply::stations(&mut tx, &ctx).await?;
    apply::chargers(&mut tx, &ctx).await?;
    apply::keys(&mut tx, &ctx).await?;
    sqlx::query(
        "UPDATE station_reviews SET status = 'resolved', resolution = $2, resolved_station = $3,
                resolved_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(if kind == "new" { "new" } else { "station" })
    .bind(station)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(review = id, %station, kind, "review resolved");
    Ok(station)
}
