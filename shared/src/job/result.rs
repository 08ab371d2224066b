//! What a finished job holds: the route, or an estimate that stands in for a failed provider,
//! and where the time went.

use serde::{Deserialize, Serialize};

/// A resolved stop in a route result: where it is, and the address it came from ("" for coordinates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResolvedStop {
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    /// Who produced the coordinates: `client`, or the geocoder's name.
    pub source: String,
    /// True when the geocoder's answer came from our cache rather than a call made for this job.
    #[serde(default)]
    pub cached: bool,
}

/// A found route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteResult {
    pub distance_m: f64,
    pub duration_s: f64,
    /// Encoded polyline (precision 5, lat/lon order), as OSRM and Google encode it.
    pub geometry: String,
    pub stops: Vec<ResolvedStop>,
    /// Which provider computed the route, and whether it was the simulator.
    pub provider: String,
    pub simulated: bool,
    /// Where this job got the route from: `miss` (a provider call made for it), `hit` (the
    /// short-lived route cache) or `coalesced` (the call of an identical request in flight).
    #[serde(default = "cache_miss")]
    pub cache: String,
    /// The charging station the route ends at, when the destination named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<StationChoice>,
    /// For a `nearest_station` destination: the other candidates routed to, fastest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// A charging station a route goes to (our id: it survives the public data's reloads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StationChoice {
    pub id: uuid::Uuid,
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    /// Great-circle distance from the stop before it, in metres (what ranked the candidates).
    pub straight_m: f64,
}

/// Another station a `nearest_station` route could have ended at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alternative {
    pub station: StationChoice,
    pub distance_m: f64,
    pub duration_s: f64,
}

fn cache_miss() -> String {
    "miss".to_string()
}

/// An estimate attached to a job whose provider failed: never a route, never a success. Every
/// number says where it came from in `provenance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FallbackEstimate {
    /// `great_circle` × `detour_factor`, summed over the legs, in metres.
    pub distance_m: f64,
    /// `distance_m` at `speed_kmh`, in seconds.
    pub duration_s: f64,
    /// How the estimate was made (`great_circle_detour`).
    pub method: String,
    /// The great-circle (haversine) distance along the stops, in metres.
    pub great_circle_m: f64,
    /// The configured ratio of road distance to great-circle distance.
    pub detour_factor: f64,
    /// The configured typical speed.
    pub speed_kmh: f64,
    /// The stops the estimate joins, each with the source of its coordinates.
    pub stops: Vec<ResolvedStop>,
    /// The provider whose failure this estimate stands in for.
    pub failed_provider: String,
    /// The station the estimate ends at, when the destination named one (for
    /// `nearest_station`, the nearest candidate by straight line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<StationChoice>,
    /// One sentence per number above, saying where it came from.
    pub provenance: std::collections::BTreeMap<String, String>,
}

/// How the worker's time on a job was spent, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timings {
    /// From submission until a worker started the job.
    pub queued_us: u64,
    /// From the start of the job until its result was ready to store.
    pub compute_us: u64,
    /// Of `compute_us`, the time spent waiting on external provider calls on the critical path.
    pub provider_us: u64,
}

/// What a worker stores when a job ends: the outcome's body parts (the job record holds the rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RouteResult>,
    /// An estimate attached to a `fallback` outcome (never to a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackEstimate>,
    #[serde(default)]
    pub timings: Timings,
}

impl Outcome {
    /// An outcome with only a detail (no route, no estimate, no timings).
    pub fn detail(detail: impl Into<String>) -> Outcome {
        Outcome {
            detail: detail.into(),
            result: None,
            fallback: None,
            timings: Timings::default(),
        }
    }
}
