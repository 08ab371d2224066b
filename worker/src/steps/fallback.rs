//! Fallbacks that tell the truth: when the directions provider is open, failing or out of time,
//! a job may still carry an **estimate** — great-circle distance × a detour factor, at a typical
//! speed, computed in-process — under the job body's `fallback` key. The job's state is then
//! `fallback` and its code the failure's (502/503/504): an estimate is never a success, and every
//! number in it says where it came from.

use std::collections::BTreeMap;

use routeq_shared::job::{Coord, FallbackEstimate, ResolvedStop};

/// Whether and how to estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct FallbackPolicy {
    pub enabled: bool,
    /// Road distance / great-circle distance (1.3 is typical of city grids).
    pub detour_factor: f64,
    /// The speed the duration assumes, km/h.
    pub speed_kmh: f64,
}

/// The estimate for a route through `stops`, standing in for `failed_provider`'s answer.
pub fn estimate(
    stops: &[ResolvedStop],
    failed_provider: &str,
    policy: &FallbackPolicy,
) -> FallbackEstimate {
    let great_circle_m: f64 = stops
        .windows(2)
        .map(|w| {
            Coord {
                lat: w[0].lat,
                lon: w[0].lon,
            }
            .distance_m(&Coord {
                lat: w[1].lat,
                lon: w[1].lon,
            })
        })
        .sum();
    let distance_m = great_circle_m * policy.detour_factor;
    let duration_s = distance_m / (policy.speed_kmh / 3.6);
    let round1 = |v: f64| (v * 10.0).round() / 10.0;
    let sources: Vec<&str> = stops.iter().map(|s| s.source.as_str()).collect();
    let mut provenance = BTreeMap::new();
    provenance.insert(
        "great_circle_m".to_string(),
        "haversine distance between consecutive stops (mean Earth radius 6,371,008.8 m), computed by the worker".to_string(),
    );
    provenance.insert(
        "detour_factor".to_string(),
        "configured (--fallback-detour-factor): assumed ratio of road to great-circle distance"
            .to_string(),
    );
    provenance.insert(
        "distance_m".to_string(),
        "great_circle_m × detour_factor".to_string(),
    );
    provenance.insert(
        "speed_kmh".to_string(),
        "configured (--fallback-speed-kmh): assumed typical speed".to_string(),
    );
    provenance.insert(
        "duration_s".to_string(),
        "distance_m at speed_kmh".to_string(),
    );
    provenance.insert(
        "stops".to_string(),
        format!(
            "coordinates from: {} (each stop's `source`)",
            sources.join(", ")
        ),
    );
    FallbackEstimate {
        distance_m: round1(distance_m),
        duration_s: round1(duration_s),
        method: "great_circle_detour".to_string(),
        great_circle_m: round1(great_circle_m),
        detour_factor: policy.detour_factor,
        speed_kmh: policy.speed_kmh,
        stops: stops.to_vec(),
        failed_provider: failed_provider.to_string(),
        station: None,
        provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(lat: f64, lon: f64) -> ResolvedStop {
        ResolvedStop {
            lat,
            lon,
            address: String::new(),
            source: "client".into(),
            cached: false,
        }
    }

    #[test]
    fn the_estimate_is_great_circle_times_detour_at_the_typical_speed() {
        let p = FallbackPolicy {
            enabled: true,
            detour_factor: 1.5,
            speed_kmh: 36.0,
        };
        // Three stops along the equator, 1° apart: 2 × 111.2 km.
        let e = estimate(
            &[stop(0.0, 0.0), stop(0.0, 1.0), stop(0.0, 2.0)],
            "osrm",
            &p,
        );
        assert!(
            (e.great_circle_m - 222_390.0).abs() < 100.0,
            "{}",
            e.great_circle_m
        );
        assert!((e.distance_m - e.great_circle_m * 1.5).abs() < 1.0);
        assert!(
            (e.duration_s - e.distance_m / 10.0).abs() < 1.0,
            "36 km/h = 10 m/s"
        );
        assert_eq!(e.failed_provider, "osrm");
        for key in [
            "great_circle_m",
            "detour_factor",
            "distance_m",
            "speed_kmh",
            "duration_s",
            "stops",
        ] {
            assert!(e.provenance.contains_key(key), "no provenance for {key}");
        }
    }
}
