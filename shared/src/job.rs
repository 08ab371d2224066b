//! Route jobs: the validated request, the job's states and the body clients read.
//!
//! The gateway turns the wire body into a [`RouteRequest`] once, at the edge; everything downstream
//! (Redis, workers, the record) only ever sees this validated form.

use serde::{Deserialize, Serialize};

use crate::codes::Code;

/// A point on Earth. Constructed only through [`Coord::new`], so latitude and longitude are finite
/// and in range everywhere past the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coord {
    pub lat: f64,
    pub lon: f64,
}

/// Why a coordinate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoordError {
    #[error("must be a finite number")]
    NotFinite,
    #[error("latitude must be between -90 and 90")]
    LatOutOfRange,
    #[error("longitude must be between -180 and 180")]
    LonOutOfRange,
}

impl Coord {
    pub fn new(lat: f64, lon: f64) -> Result<Coord, (&'static str, CoordError)> {
        if !lat.is_finite() {
            return Err(("lat", CoordError::NotFinite));
        }
        if !lon.is_finite() {
            return Err(("lon", CoordError::NotFinite));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(("lat", CoordError::LatOutOfRange));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(("lon", CoordError::LonOutOfRange));
        }
        Ok(Coord { lat, lon })
    }

    /// Great-circle distance in metres (haversine, mean Earth radius).
    pub fn distance_m(&self, other: &Coord) -> f64 {
        const R: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().asin()
    }
}

/// One end or stop of a route: either coordinates, or an address the worker geocodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Place {
    Coords(Coord),
    Address { address: String },
}

/// The travel profile; `car` unless the client says otherwise.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Car,
    Bike,
    Foot,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Car => "car",
            Profile::Bike => "bike",
            Profile::Foot => "foot",
        }
    }
}

/// A validated route request. Serialises to one canonical JSON form, which is also what the
/// idempotency fingerprint hashes (so key order or whitespace in the client's body never matters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteRequest {
    pub origin: Place,
    pub destination: Place,
    pub waypoints: Vec<Place>,
    pub profile: Profile,
    /// The client's patience, in milliseconds from submission.
    pub deadline_ms: u64,
}

impl RouteRequest {
    /// Origin, waypoints, destination, in travel order.
    pub fn stops(&self) -> impl Iterator<Item = &Place> {
        std::iter::once(&self.origin)
            .chain(self.waypoints.iter())
            .chain(std::iter::once(&self.destination))
    }

    /// The canonical JSON of the request.
    pub fn canonical_json(&self) -> String {
        // Serialising plain data with no maps and finite floats cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A hex SHA-256 of the canonical JSON: what an Idempotency-Key is bound to.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.canonical_json().as_bytes()))
    }
}

/// The life of a job: `queued → running → succeeded | fallback | failed | expired | cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Fallback,
    Failed,
    Expired,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Fallback => "fallback",
            JobState::Failed => "failed",
            JobState::Expired => "expired",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "fallback" => JobState::Fallback,
            "failed" => JobState::Failed,
            "expired" => JobState::Expired,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

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

/// The job as clients read it. Every key is always present: an absent text is `""`, an absent
/// object `{}`, an absent list `[]`. For outcomes answered with 4xx/5xx this body is also a valid
/// RFC 9457 problem (`type`, `title`, `status`, `detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: Code,
    pub request_id: String,
    pub id: String,
    pub state: JobState,
    pub submitted_at: String,
    pub deadline_at: String,
    pub started_at: String,
    pub finished_at: String,
    pub attempts: u32,
    pub request: serde_json::Value,
    /// The route when the job succeeded, `{}` otherwise.
    pub result: serde_json::Value,
    /// An estimate attached to a failed job, `{}` when there is none.
    pub fallback: serde_json::Value,
    pub timings: Timings,
    pub errors: Vec<crate::problem::FieldError>,
}

/// Formats epoch milliseconds as RFC 3339 UTC, or `""` for "not yet".
pub fn rfc3339_ms(ms: u64) -> String {
    if ms == 0 {
        return String::new();
    }
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch, now (for timings across processes on one clock).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coords_refuse_nan_and_out_of_range() {
        assert!(Coord::new(f64::NAN, 0.0).is_err());
        assert!(Coord::new(0.0, f64::INFINITY).is_err());
        assert_eq!(Coord::new(90.5, 0.0).unwrap_err().0, "lat");
        assert_eq!(Coord::new(0.0, -180.5).unwrap_err().0, "lon");
        assert!(Coord::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn fingerprint_ignores_nothing_but_formatting() {
        let a = RouteRequest {
            origin: Place::Coords(Coord {
                lat: 37.5,
                lon: 127.0,
            }),
            destination: Place::Address {
                address: "Seoul Station".into(),
            },
            waypoints: vec![],
            profile: Profile::Car,
            deadline_ms: 30_000,
        };
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.deadline_ms = 30_001;
        assert_ne!(a.fingerprint(), b.fingerprint());
        let round: RouteRequest = serde_json::from_str(&a.canonical_json()).expect("parse");
        assert_eq!(round, a);
    }

    #[test]
    fn distance_is_plausible() {
        // Seoul City Hall to Busan Station: about 325 km as the crow flies.
        let seoul = Coord {
            lat: 37.5663,
            lon: 126.9779,
        };
        let busan = Coord {
            lat: 35.1151,
            lon: 129.0422,
        };
        let d = seoul.distance_m(&busan);
        assert!((320_000.0..330_000.0).contains(&d), "{d}");
    }

    #[test]
    fn timestamps_render_rfc3339_or_empty() {
        assert_eq!(rfc3339_ms(0), "");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
