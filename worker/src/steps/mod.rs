//! One job's work: resolve its stops (geocoding addresses through the [`AddressResolver`]), then
//! ask for the route, all within the job's time. Returns the terminal state, code and outcome to
//! store: a route (`succeeded`), a domain failure (`failed`, 422), or a provider failure —
//! `fallback` with an estimate when the stops are known and fallbacks are on, else `failed`.
//!
//! The steps: [`geocode`] (our store → cache → provider chain), [`stations`] (a station's
//! coordinates, or the nearest matching stations), [`directions`] (cache → chain; to each
//! candidate station, the fastest winning), and [`fallback`] (the estimate that stands in for
//! a failed directions provider).

pub mod directions;
pub mod fallback;
pub mod geocode;
pub mod stations;

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use routeq_shared::Code;
use routeq_shared::job::{
    Alternative, Coord, JobState, Outcome, Place, ResolvedStop, RouteRequest, RouteResult,
    StationChoice, Timings,
};

use directions::RouteService;
use fallback::{FallbackPolicy, estimate};
use geocode::AddressResolver;

/// What a finished computation stores.
#[derive(Debug, Clone)]
pub struct Finished {
    pub state: JobState,
    pub code: Code,
    pub outcome: Outcome,
}

/// Everything a computation uses, shared by all jobs of a process.
pub struct Engine {
    pub resolver: Arc<dyn AddressResolver>,
    pub routes: RouteService,
    pub fallback: FallbackPolicy,
    /// Shown in results (`simulator`, `osrm`, `kakao`).
    pub label: &'static str,
    pub simulated: bool,
    /// The charging stations (PostgreSQL), for station stops; `None` without a database.
    pub stations: Option<stations::StationLookup>,
    /// Every provider's breaker, read by the publisher of the fleet's breaker states.
    pub breakers: Vec<crate::calls::breaker::BreakerWatch>,
}

/// Computes a route for `request` before `until`.
pub async fn compute(
    engine: &Engine,
    request: &RouteRequest,
    until: Instant,
    timings: Timings,
) -> Finished {
    crate::calls::provider_time::scope(compute_in_scope(engine, request, until, timings)).await
}

async fn compute_in_scope(
    engine: &Engine,
    request: &RouteRequest,
    until: Instant,
    mut timings: Timings,
) -> Finished {
    let started = Instant::now();

    // 1. Resolve every stop, addresses and stations concurrently; a `nearest_station`
    // destination is chosen after, from the stop before it.
    let search = match &request.destination {
        Place::NearestStation { nearest_station } => Some(nearest_station),
        _ => None,
    };
    let stops: Vec<&Place> = request.stops().collect();
    let fixed = &stops[..stops.len() - usize::from(search.is_some())];
    let resolved = join_all(fixed.iter().map(|p| resolve(engine, p, until))).await;
    let mut resolved_stops = Vec::with_capacity(resolved.len() + 1);
    let mut station = None;
    for r in resolved {
        match r {
            Ok((s, chosen)) => {
                resolved_stops.push(s);
                station = chosen.or(station);
            }
            Err(StopFailure::Geocode(e)) => {
                let mut detail = e.detail("the geocoder");
                if !e.is_domain() {
                    detail.push_str("; no estimate: a stop's coordinates are unknown");
                }
                return failed(e.code(), detail, started, timings);
            }
            Err(StopFailure::Station((code, detail))) => {
                return failed(code, detail, started, timings);
            }
        }
    }
    // A station as the destination is the route's station (one as a waypoint is only a stop).
    if !matches!(request.destination, Place::Station { .. }) {
        station = None;
    }

    // 2. Directions between the resolved points: to each candidate station, when asked for
    // the nearest, and the fastest wins.
    let candidates = match search {
        None => vec![(None, None)],
        Some(search) => {
            let Some(lookup) = &engine.stations else {
                return failed(
                    Code::StationsUnavailable,
                    "this worker has no station data (--database-url)".into(),
                    started,
                    timings,
                );
            };
            let from = resolved_stops.last().map(|s| Coord {
                lat: s.lat,
                lon: s.lon,
            });
            let Some(from) = from else {
                return failed(
                    Code::InternalError,
                    "no stop before the destination".into(),
                    started,
                    timings,
                );
            };
            match lookup.nearest(from, search, until).await {
                Ok(found) => found.into_iter().map(|(s, c)| (Some(s), Some(c))).collect(),
                Err((code, detail)) => return failed(code, detail, started, timings),
            }
        }
    };
    let routed = join_all(candidates.iter().map(|(end, _)| {
        let mut points: Vec<Coord> = resolved_stops
            .iter()
            .chain(end.iter())
            .map(|s| Coord {
                lat: s.lat,
                lon: s.lon,
            })
            .collect();
        points.shrink_to_fit();
        async move { engine.routes.route(&points, request.profile, until).await }
    }))
    .await;
    timings.compute_us = started.elapsed().as_micros() as u64;
    timings.provider_us = crate::calls::provider_time::spent().as_micros() as u64;

    let mut found: Vec<(usize, crate::providers::Route, crate::calls::cache::Served)> = Vec::new();
    let mut first_error = None;
    for (i, (route, served)) in routed.into_iter().enumerate() {
        match route {
            Ok(route) => found.push((i, route, served)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    found.sort_by(|a, b| a.1.duration_s.total_cmp(&b.1.duration_s));
    let mut found = found.into_iter();
    if let Some((best, route, served)) = found.next() {
        let (end, choice) = candidates[best].clone();
        let mut stops = resolved_stops;
        stops.extend(end);
        let alternatives = found
            .filter_map(|(i, r, _)| {
                candidates[i].1.clone().map(|station| Alternative {
                    station,
                    distance_m: r.distance_m,
                    duration_s: r.duration_s,
                })
            })
            .collect();
        return Finished {
            state: JobState::Succeeded,
            code: Code::RouteOk,
            outcome: Outcome {
                detail: String::new(),
                result: Some(RouteResult {
                    distance_m: route.distance_m,
                    duration_s: route.duration_s,
                    geometry: route.geometry,
                    stops,
                    provider: engine.label.to_string(),
                    simulated: engine.simulated,
                    cache: served.as_str().to_string(),
                    station: choice.or(station),
                    alternatives,
                }),
                fallback: None,
                timings,
            },
        };
    }
    let Some(e) = first_error else {
        return failed(
            Code::InternalError,
            "no route was asked for".into(),
            started,
            timings,
        );
    };
    if e.is_domain() || !engine.fallback.enabled {
        return failed(
            e.code(),
            e.detail(engine.routes.provider()),
            started,
            timings,
        );
    }
    // Every candidate failed: the estimate goes to the nearest one by straight line.
    let provider = engine.routes.provider();
    let (end, choice) = candidates.into_iter().next().unwrap_or((None, None));
    let mut stops = resolved_stops;
    stops.extend(end);
    let mut estimate = estimate(&stops, provider, &engine.fallback);
    estimate.station = choice.or(station);
    Finished {
        state: JobState::Fallback,
        code: e.code(),
        outcome: Outcome {
            detail: format!(
                "{}; an estimate (not a route) is attached under `fallback`",
                e.detail(provider)
            ),
            result: None,
            fallback: Some(estimate),
            timings,
        },
    }
}

/// Why a stop could not be resolved.
enum StopFailure {
    Geocode(crate::providers::ProviderError),
    Station(stations::StopError),
}

/// One stop's coordinates (and, for a station, which station).
async fn resolve(
    engine: &Engine,
    place: &Place,
    until: Instant,
) -> Result<(ResolvedStop, Option<StationChoice>), StopFailure> {
    match place {
        Place::Coords(c) => Ok((
            ResolvedStop {
                lat: c.lat,
                lon: c.lon,
                address: String::new(),
                source: "client".into(),
                cached: false,
            },
            None,
        )),
        Place::Address { address } => engine
            .resolver
            .resolve(address, until)
            .await
            .map(|r| {
                (
                    ResolvedStop {
                        lat: r.coord.lat,
                        lon: r.coord.lon,
                        address: address.clone(),
                        source: r.source,
                        cached: r.cached,
                    },
                    None,
                )
            })
            .map_err(StopFailure::Geocode),
        Place::Station { station_id } => {
            let Some(lookup) = &engine.stations else {
                return Err(StopFailure::Station((
                    Code::StationsUnavailable,
                    "this worker has no station data (--database-url)".into(),
                )));
            };
            lookup
                .station(*station_id, until)
                .await
                .map(|(s, c)| (s, Some(c)))
                .map_err(StopFailure::Station)
        }
        // Only a destination, resolved after the others (the gateway refuses it elsewhere).
        Place::NearestStation { .. } => Err(StopFailure::Station((
            Code::InvalidField,
            "nearest_station can only be the destination".into(),
        ))),
    }
}

fn failed(code: Code, detail: String, started: Instant, mut timings: Timings) -> Finished {
    timings.compute_us = started.elapsed().as_micros() as u64;
    timings.provider_us = crate::calls::provider_time::spent().as_micros() as u64;
    Finished {
        state: JobState::Failed,
        code,
        outcome: Outcome {
            detail,
            result: None,
            fallback: None,
            timings,
        },
    }
}
