//! One job's work: resolve its stops (geocoding addresses through the [`AddressResolver`]), then
//! ask for the route, all within the job's time. Returns the terminal state, code and outcome to
//! store: a route (`succeeded`), a domain failure (`failed`, 422), or a provider failure —
//! `fallback` with an estimate when the stops are known and fallbacks are on, else `failed`.
//!
//! The steps: [`geocode`] (our store → cache → provider chain), [`directions`] (cache → chain),
//! and [`fallback`] (the estimate that stands in for a failed directions provider).

pub mod directions;
pub mod fallback;
pub mod geocode;

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use routeq_shared::Code;
use routeq_shared::job::{
    Coord, JobState, Outcome, Place, ResolvedStop, RouteRequest, RouteResult, Timings,
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

    // 1. Resolve every stop, addresses concurrently.
    let stops: Vec<&Place> = request.stops().collect();
    let lookups = stops.iter().map(|p| async move {
        match p {
            Place::Coords(c) => Ok(ResolvedStop {
                lat: c.lat,
                lon: c.lon,
                address: String::new(),
                source: "client".into(),
                cached: false,
            }),
            Place::Address { address } => {
                engine
                    .resolver
                    .resolve(address, until)
                    .await
                    .map(|r| ResolvedStop {
                        lat: r.coord.lat,
                        lon: r.coord.lon,
                        address: address.clone(),
                        source: r.source,
                        cached: r.cached,
                    })
            }
        }
    });
    let resolved = join_all(lookups).await;
    let mut resolved_stops = Vec::with_capacity(resolved.len());
    for r in resolved {
        match r {
            Ok(s) => resolved_stops.push(s),
            Err(e) => {
                let mut detail = e.detail("the geocoder");
                if !e.is_domain() {
                    detail.push_str("; no estimate: a stop's coordinates are unknown");
                }
                return failed(e.code(), detail, started, timings);
            }
        }
    }

    // 2. Directions between the resolved points.
    let points: Vec<Coord> = resolved_stops
        .iter()
        .map(|s| Coord {
            lat: s.lat,
            lon: s.lon,
        })
        .collect();
    let (route, served) = engine.routes.route(&points, request.profile, until).await;
    timings.compute_us = started.elapsed().as_micros() as u64;
    timings.provider_us = crate::calls::provider_time::spent().as_micros() as u64;
    match route {
        Ok(route) => Finished {
            state: JobState::Succeeded,
            code: Code::RouteOk,
            outcome: Outcome {
                detail: String::new(),
                result: Some(RouteResult {
                    distance_m: route.distance_m,
                    duration_s: route.duration_s,
                    geometry: route.geometry,
                    stops: resolved_stops,
                    provider: engine.label.to_string(),
                    simulated: engine.simulated,
                    cache: served.as_str().to_string(),
                }),
                fallback: None,
                timings,
            },
        },
        Err(e) if e.is_domain() || !engine.fallback.enabled => failed(
            e.code(),
            e.detail(engine.routes.provider()),
            started,
            timings,
        ),
        Err(e) => {
            let provider = engine.routes.provider();
            Finished {
                state: JobState::Fallback,
                code: e.code(),
                outcome: Outcome {
                    detail: format!(
                        "{}; an estimate (not a route) is attached under `fallback`",
                        e.detail(provider)
                    ),
                    result: None,
                    fallback: Some(estimate(&resolved_stops, provider, &engine.fallback)),
                    timings,
                },
            }
        }
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
