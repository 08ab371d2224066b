//! The validated route request: places, profile, deadline. The gateway turns the wire body into
//! a [`RouteRequest`] once, at the edge; everything downstream only ever sees this form.

use serde::{Deserialize, Serialize};

/// A point on Earth. Constructed only through [`Coord::new`], so latitude and longitude are finite
/// and in range everywhere past the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coord {
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
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

/// One end or stop of a route: coordinates, an address the worker geocodes, a charging station
/// of ours by id, or (as the destination only) the best of the nearest stations that match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Place {
    /// Coordinates in decimal degrees (WGS 84).
    Coords(Coord),
    /// An address the worker geocodes; spaces are collapsed and it is trimmed before use (at
    /// most `--max-address-chars` characters).
    Address {
        #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
        address: String,
    },
    /// A charging station of ours (`GET /v1/stations`); it must be in service.
    Station { station_id: uuid::Uuid },
    /// The destination only: the fastest of the nearest matching stations.
    NearestStation { nearest_station: StationSearch },
}

/// What a `nearest_station` destination asks for: the `candidates` nearest stations (by straight
/// line from the stop before it) within `radius_m` with a charger that meets every filter; the
/// worker asks directions to each and answers the fastest, the others as alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StationSearch {
    /// Search radius around the stop before it, metres.
    #[serde(default = "StationSearch::default_radius_m")]
    #[schema(minimum = 1, maximum = 50000, default = 10000)]
    pub radius_m: f64,
    /// How many of the nearest stations to route to.
    #[serde(default = "StationSearch::default_candidates")]
    #[schema(minimum = 1, maximum = 5, default = 3)]
    pub candidates: u32,
    /// `dc`, `ac`, `dc_combo`, `dc_chademo`, `ac3` or `ac_slow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charger_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kw: Option<f32>,
    /// Only chargers free now.
    #[serde(default)]
    pub available: bool,
}

impl StationSearch {
    pub const DEFAULT_RADIUS_M: f64 = 10_000.0;
    pub const MAX_RADIUS_M: f64 = 50_000.0;
    pub const DEFAULT_CANDIDATES: u32 = 3;
    pub const MAX_CANDIDATES: u32 = 5;

    fn default_radius_m() -> f64 {
        StationSearch::DEFAULT_RADIUS_M
    }

    fn default_candidates() -> u32 {
        StationSearch::DEFAULT_CANDIDATES
    }
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

/// A route request: the body of `POST /v1/routes` (the gateway's parser turns the body into
/// this type, listing every field at fault; unknown fields are refused) and the `request` of a
/// job, with every default filled in. Serialises to one canonical JSON form, which is also what
/// the idempotency fingerprint hashes (so key order or whitespace in the client's body never
/// matters). The limits in the API description are the gateway's configured ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteRequest {
    pub origin: Place,
    pub destination: Place,
    /// Stops between origin and destination, at most `--max-waypoints`.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub waypoints: Vec<Place>,
    /// `car` unless given.
    #[serde(default)]
    pub profile: Profile,
    /// The client's patience, in milliseconds from submission (`--default-deadline-ms` unless
    /// given, between `--min-deadline-ms` and `--max-deadline-ms`).
    #[schema(required = false, minimum = 500, maximum = 600000, default = 30000)]
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
}
