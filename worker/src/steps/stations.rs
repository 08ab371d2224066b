//! Charging stations as stops: a `station_id` becomes the station's coordinates, and a
//! `nearest_station` destination becomes the few nearest matching stations by straight line,
//! each then routed to through the usual directions chain (see [`super::compute`]).
//!
//! Stations live in PostgreSQL (routeq-stations' schema, our own ids). Every query runs within
//! the job's time; a worker without `--database-url`, or a database that does not answer in
//! time, ends the job `STATIONS_UNAVAILABLE` (503, retry) rather than guessing.

use std::time::Instant;

use routeq_shared::Code;
use routeq_shared::job::{Coord, ResolvedStop, StationChoice, StationSearch};
use routeq_stations::{ChargerKind, Filters, Station};
use sqlx::PgPool;
use uuid::Uuid;

/// The station reader of a worker (cheap to clone).
#[derive(Clone)]
pub struct StationLookup {
    pool: PgPool,
}

/// Why a station stop could not be resolved: the code and detail the job ends with.
pub type StopError = (Code, String);

impl StationLookup {
    pub fn new(pool: PgPool) -> StationLookup {
        StationLookup { pool }
    }

    /// The station `id` as a stop; unknown and retired stations end the job (422).
    pub async fn station(
        &self,
        id: Uuid,
        until: Instant,
    ) -> Result<(ResolvedStop, StationChoice), StopError> {
        let found = within(until, routeq_stations::get(&self.pool, id)).await?;
        match found {
            None => Err((
                Code::StationNotFound,
                format!("station {id} is not a station of ours"),
            )),
            Some(s) if s.retired() => Err((
                Code::StationRetired,
                format!("station {id} ({}) is no longer in service", s.name),
            )),
            Some(s) => Ok(stop(&s, 0.0)),
        }
    }

    /// The nearest stations matching `search` from `from`, nearest first (at least one).
    pub async fn nearest(
        &self,
        from: Coord,
        search: &StationSearch,
        until: Instant,
    ) -> Result<Vec<(ResolvedStop, StationChoice)>, StopError> {
        let filters = filters(search)?;
        let found = within(
            until,
            routeq_stations::nearest(
                &self.pool,
                from.lat,
                from.lon,
                search.radius_m,
                search.candidates,
                &filters,
            ),
        )
        .await?;
        if found.is_empty() {
            return Err((
                Code::NoStationNearby,
                format!(
                    "no station within {} m of ({:.5}, {:.5}) has a charger meeting the filters",
                    search.radius_m, from.lat, from.lon
                ),
            ));
        }
        Ok(found.iter().map(|(s, d)| stop(s, *d)).collect())
    }
}

/// The search's filters (validated at the gateway; checked again, a queued job may be old).
fn filters(search: &StationSearch) -> Result<Filters, StopError> {
    let charger_type = match &search.charger_type {
        None => None,
        Some(t) => Some(
            t.parse::<ChargerKind>()
                .map_err(|e| (Code::InvalidField, e.to_string()))?,
        ),
    };
    Ok(Filters {
        charger_type,
        min_kw: search.min_kw,
        available: search.available,
    })
}

/// Runs a station query within the job's time.
async fn within<T>(
    until: Instant,
    query: impl Future<Output = Result<T, routeq_stations::Error>>,
) -> Result<T, StopError> {
    let unavailable = |why: String| (Code::StationsUnavailable, why);
    match tokio::time::timeout_at(until.into(), query).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(routeq_stations::Error::Invalid { field, reason })) => {
            Err((Code::InvalidField, format!("{field}: {reason}")))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "station query failed");
            Err(unavailable(
                "the station data could not be read; retry".into(),
            ))
        }
        Err(_) => Err(unavailable(
            "the station data did not answer within the job's time".into(),
        )),
    }
}

fn stop(s: &Station, straight_m: f64) -> (ResolvedStop, StationChoice) {
    (
        ResolvedStop {
            lat: s.lat,
            lon: s.lon,
            address: s.address.clone(),
            source: "station".into(),
            cached: false,
        },
        StationChoice {
            id: s.id,
            name: s.name.clone(),
            address: s.address.clone(),
            lat: s.lat,
            lon: s.lon,
            straight_m: (straight_m * 10.0).round() / 10.0,
        },
    )
}
