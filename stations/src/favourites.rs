//! A user's favourite stations, per tenant. They hold our ids, which no reload changes; a retired
//! station stays a favourite and says it is retired.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Error;
use crate::model::Station;
use crate::query::{STATION_COLUMNS, StationRow, with_chargers};

/// A favourite and when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Favourite {
    pub station: Station,
    pub created_at: DateTime<Utc>,
}

fn check(tenant: &str, user: &str) -> Result<(), Error> {
    for (field, v) in [("tenant", tenant), ("user_id", user)] {
        if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
            return Err(Error::invalid(
                field,
                "must be 1 to 128 characters, no control characters",
            ));
        }
    }
    Ok(())
}

/// Makes a station a favourite; `true` when it was not one yet. An unknown station is
/// [`Error::StationNotFound`]; a retired one can still be kept.
pub async fn put(pool: &PgPool, tenant: &str, user: &str, station: Uuid) -> Result<bool, Error> {
    check(tenant, user)?;
    let done = sqlx::query(
        "INSERT INTO station_favourites (tenant, user_id, station_id)
         SELECT $1, $2, id FROM stations WHERE id = $3
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(user)
    .bind(station)
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM stations WHERE id = $1")
        .bind(station)
        .fetch_optional(pool)
        .await?;
    match exists {
        Some(_) => Ok(false),
        None => Err(Error::StationNotFound(station)),
    }
}

/// Removes a favourite; `false` when it was not one.
pub async fn delete(pool: &PgPool, tenant: &str, user: &str, station: Uuid) -> Result<bool, Error> {
    check(tenant, user)?;
    let done = sqlx::query(
        "DELETE FROM station_favourites WHERE tenant = $1 AND user_id = $2 AND station_id = $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(station)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A user's favourites, newest first, retired stations included.
pub async fn list(pool: &PgPool, tenant: &str, user: &str) -> Result<Vec<Favourite>, Error> {
    check(tenant, user)?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        station: StationRow,
        created_at: DateTime<Utc>,
    }
    let sql = format!(
        "SELECT {STATION_COLUMNS}, f.created_at
         FROM station_favourites f JOIN stations s ON s.id = f.station_id
         WHERE f.tenant = $1 AND f.user_id = $2
         ORDER BY f.created_at DESC, s.id"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(user)
        .fetch_all(pool)
        .await?;
    let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at).collect();
    let stations = with_chargers(pool, rows.into_iter().map(|r| r.station).collect()).await?;
    Ok(stations
        .into_iter()
        .zip(created)
        .map(|(station, created_at)| Favourite {
            station,
            created_at,
        })
        .collect())
}
