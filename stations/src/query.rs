//! Reading stations for the API: the nearest ones to a point, and one by our id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Error;
use crate::model::{Charger, ChargerStatus, Filters, Station, connectors};

/// The largest search radius, in metres.
pub const MAX_RADIUS_M: f64 = 100_000.0;
/// The most stations one search answers.
pub const MAX_LIMIT: u32 = 100;

#[derive(sqlx::FromRow)]
pub(crate) struct StationRow {
    id: Uuid,
    name: String,
    address: String,
    lat: f64,
    lon: f64,
    operator_id: String,
    operator_name: String,
    use_time: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

/// The station columns every reader selects, from `stations s`.
pub(crate) const STATION_COLUMNS: &str = "s.id, s.name, s.address, \
     ST_Y(s.location::geometry) AS lat, ST_X(s.location::geometry) AS lon, s.operator_id, \
     s.operator_name, s.use_time, s.first_seen, s.last_seen, s.retired_at";

#[derive(sqlx::FromRow)]
struct ChargerRow {
    station_id: Uuid,
    id: i64,
    ext_charger_id: String,
    charger_type: String,
    output_kw: Option<f32>,
    status: i16,
    status_at: Option<DateTime<Utc>>,
}

/// Stations with a charger meeting `filters` within `radius_m` of (`lat`, `lon`), nearest
/// first, with their distance in metres (on the sphere, as the GiST index orders them).
/// Retired stations are never answered.
pub async fn nearest(
    pool: &PgPool,
    lat: f64,
    lon: f64,
    radius_m: f64,
    limit: u32,
    filters: &Filters,
) -> Result<Vec<(Station, f64)>, Error> {
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        return Err(Error::invalid("lat", "must be a latitude in [-90, 90]"));
    }
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(Error::invalid("lon", "must be a longitude in [-180, 180]"));
    }
    if !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
        return Err(Error::invalid(
            "radius_m",
            format!("must be in (0, {MAX_RADIUS_M}]"),
        ));
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid(
            "limit",
            format!("must be in 1..={MAX_LIMIT}"),
        ));
    }
    if let Some(kw) = filters.min_kw
        && !(kw.is_finite() && kw >= 0.0)
    {
        return Err(Error::invalid(
            "min_kw",
            "must be a power in kW, at least 0",
        ));
    }
    let types: Option<Vec<String>> = filters.charger_type.map(|k| k.type_codes());
    let filtered = types.is_some() || filters.min_kw.is_some() || filters.available;
    let sql = format!(
        "WITH p AS (SELECT ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography AS g)
         SELECT {STATION_COLUMNS}, ST_Distance(s.location, p.g, false) AS distance_m
         FROM stations s, p
         WHERE s.retired_at IS NULL AND ST_DWithin(s.location, p.g, $3)
           AND (NOT $5 OR EXISTS (
                SELECT 1 FROM chargers c
                WHERE c.station_id = s.id AND c.retired_at IS NULL
                  AND ($6::text[] IS NULL OR c.charger_type = ANY ($6))
                  AND ($7::real IS NULL OR c.output_kw >= $7)
                  AND (NOT $8 OR c.status = 2)))
         -- `<->` alone: the GiST index hands stations over nearest first and the scan stops at
         -- the limit (a second sort key would make it fetch the whole radius and sort).
         ORDER BY s.location <-> p.g
         LIMIT $4"
    );
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        station: StationRow,
        distance_m: f64,
    }
    let found: Vec<Found> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(lat)
        .bind(lon)
        .bind(radius_m)
        .bind(i64::from(limit))
        .bind(filtered)
        .bind(types)
        .bind(filters.min_kw)
        .bind(filters.available)
        .fetch_all(pool)
        .await?;
    let (rows, distances): (Vec<StationRow>, Vec<f64>) =
        found.into_iter().map(|f| (f.station, f.distance_m)).unzip();
    let stations = with_chargers(pool, rows).await?;
    Ok(stations.into_iter().zip(distances).collect())
}

/// One station by our id, retired or not, with its chargers.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Station>, Error> {
    let sql = format!("SELECT {STATION_COLUMNS} FROM stations s WHERE s.id = $1");
    let row: Option<StationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(with_chargers(pool, row.into_iter().collect()).await?.pop())
}

/// Attaches the active chargers of each station, in one query, keeping the stations' order.
pub(crate) async fn with_chargers(
    pool: &PgPool,
    rows: Vec<StationRow>,
) -> Result<Vec<Station>, Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let chargers: Vec<ChargerRow> = sqlx::query_as(
        "SELECT station_id, id, ext_charger_id, charger_type, output_kw, status, status_at
         FROM chargers WHERE station_id = ANY ($1) AND retired_at IS NULL
         ORDER BY station_id, ext_charger_id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by_station: HashMap<Uuid, Vec<Charger>> = HashMap::new();
    for c in chargers {
        by_station.entry(c.station_id).or_default().push(Charger {
            id: c.id,
            connectors: connectors(&c.charger_type).to_vec(),
            ext_charger_id: c.ext_charger_id,
            charger_type: c.charger_type,
            output_kw: c.output_kw,
            status: ChargerStatus::from_code(c.status).unwrap_or(ChargerStatus::Unknown),
            status_at: c.status_at,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| Station {
            chargers: by_station.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            address: r.address,
            lat: r.lat,
            lon: r.lon,
            operator_id: r.operator_id,
            operator_name: r.operator_name,
            use_time: r.use_time,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            retired_at: r.retired_at,
        })
        .collect())
}
