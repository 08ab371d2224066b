//! One job's work: resolve its stops (geocoding addresses), then ask for the route, all within the
//! job's budget. Returns the terminal state, code and outcome to store.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use routeq_shared::Code;
use routeq_shared::job::{
    Coord, JobState, Outcome, Place, ResolvedStop, RouteRequest, RouteResult, Timings,
};

use crate::providers::{ProviderError, Providers};

/// What a finished computation stores.
#[derive(Debug, Clone)]
pub struct Finished {
    pub state: JobState,
    pub code: Code,
    pub outcome: Outcome,
}

/// Computes a route for `request` before `until`, with each call capped at `call_timeout`.
pub async fn compute(
    providers: &Providers,
    request: &RouteRequest,
    until: Instant,
    call_timeout: Duration,
    mut timings: Timings,
) -> Finished {
    let started = Instant::now();
    let mut provider_time = Duration::ZERO;
    let remaining = |now: Instant| until.saturating_duration_since(now).min(call_timeout);

    // 1. Geocode every address stop, concurrently.
    let geocode_started = Instant::now();
    let stops: Vec<&Place> = request.stops().collect();
    let lookups = stops.iter().map(|p| async move {
        match p {
            Place::Coords(c) => Ok(ResolvedStop {
                lat: c.lat,
                lon: c.lon,
                address: String::new(),
                source: "client".into(),
            }),
            Place::Address { address } => {
                let timeout = remaining(Instant::now());
                if timeout.is_zero() {
                    return Err(ProviderError::Timeout);
                }
                providers
                    .geocode(address, timeout)
                    .await
                    .map(|c| ResolvedStop {
                        lat: c.lat,
                        lon: c.lon,
                        address: address.clone(),
                        source: providers.name.to_string(),
                    })
            }
        }
    });
    let any_address = stops.iter().any(|p| matches!(p, Place::Address { .. }));
    let resolved = join_all(lookups).await;
    if any_address {
        provider_time += geocode_started.elapsed();
    }
    let mut resolved_stops = Vec::with_capacity(resolved.len());
    for r in resolved {
        match r {
            Ok(s) => resolved_stops.push(s),
            Err(e) => return failed(e, started, provider_time, timings),
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
    let timeout = remaining(Instant::now());
    if timeout.is_zero() {
        return failed(ProviderError::Timeout, started, provider_time, timings);
    }
    let route_started = Instant::now();
    let route = providers.route(&points, request.profile, timeout).await;
    provider_time += route_started.elapsed();
    match route {
        Ok(route) => {
            timings.compute_us = started.elapsed().as_micros() as u64;
            timings.provider_us = provider_time.as_micros() as u64;
            Finished {
                state: JobState::Succeeded,
                code: Code::RouteOk,
                outcome: Outcome {
                    detail: String::new(),
                    result: Some(RouteResult {
                        distance_m: route.distance_m,
                        duration_s: route.duration_s,
                        geometry: route.geometry,
                        stops: resolved_stops,
                        provider: providers.name.to_string(),
                        simulated: providers.simulated,
                    }),
                    timings,
                },
            }
        }
        Err(e) => failed(e, started, provider_time, timings),
    }
}

fn failed(
    e: ProviderError,
    started: Instant,
    provider_time: Duration,
    mut timings: Timings,
) -> Finished {
    timings.compute_us = started.elapsed().as_micros() as u64;
    timings.provider_us = provider_time.as_micros() as u64;
    let detail = match &e {
        ProviderError::NotFound => "the geocoder found no such address".to_string(),
        ProviderError::NoRoute(why) => format!("the directions service found no route: {why}"),
        ProviderError::Timeout => "a provider call did not answer within its timeout".to_string(),
        other => other.to_string(),
    };
    Finished {
        state: JobState::Failed,
        code: e.code(),
        outcome: Outcome {
            detail,
            result: None,
            timings,
        },
    }
}
