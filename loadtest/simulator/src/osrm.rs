//! `GET /route/v1/{profile}/{coords}[.json]?…`: the OSRM route service.

use axum::http::StatusCode;
use serde::Serialize;

use crate::faults::{Outcome, Provider};
use crate::geo::{
    MAX_LEG_M, MIN_ROUTABLE_LAT, decode_polyline, encode_polyline, haversine_m, road_distance_m,
    travel_time_s,
};
use crate::query::{percent_decode, raw_pairs};
use crate::reply::Reply;

/// Profiles this server answers for.
pub const PROFILES: [&str; 4] = ["car", "driving", "bike", "foot"];
/// osrm-routed's default `--max-viaroute-size`.
pub const MAX_COORDINATES: usize = 500;

const P: Provider = Provider::Osrm;

#[derive(Serialize)]
struct OsrmError<'a> {
    code: &'a str,
    message: &'a str,
}

fn error(code: &str, message: &str, outcome: Outcome) -> Reply {
    Reply::json(
        P,
        StatusCode::BAD_REQUEST,
        outcome,
        &OsrmError { code, message },
    )
}

fn bad(code: &str, message: &str) -> Reply {
    error(code, message, Outcome::BadRequest)
}

#[derive(Serialize)]
struct RouteResponse {
    code: &'static str,
    routes: [Route; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    waypoints: Option<Vec<Waypoint>>,
}

#[derive(Serialize)]
struct Route {
    #[serde(skip_serializing_if = "Option::is_none")]
    geometry: Option<Geometry>,
    legs: Vec<Leg>,
    weight_name: &'static str,
    weight: f64,
    duration: f64,
    distance: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Geometry {
    Encoded(String),
    GeoJson {
        #[serde(rename = "type")]
        kind: &'static str,
        coordinates: Vec<[f64; 2]>,
    },
}

#[derive(Serialize)]
struct Leg {
    steps: &'static [u8],
    summary: &'static str,
    weight: f64,
    duration: f64,
    distance: f64,
}

#[derive(Serialize)]
struct Waypoint {
    hint: &'static str,
    distance: f64,
    name: &'static str,
    location: [f64; 2],
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Geometries {
    Polyline,
    Polyline6,
    GeoJson,
}

struct Options {
    geometries: Geometries,
    overview: bool,
    skip_waypoints: bool,
}

/// Validates the known options (osrm-routed answers `InvalidQuery` for a bad value); unknown
/// parameters are ignored. `offset` is where the query starts within OSRM's "query" string
/// (everything after the profile), for the error position.
fn parse_options(query: Option<&str>, offset: usize) -> Result<Options, Reply> {
    let mut o = Options {
        geometries: Geometries::Polyline,
        overview: true,
        skip_waypoints: false,
    };
    let Some(query) = query else {
        return Ok(o);
    };
    for (key, value, at) in raw_pairs(query) {
        let fail = || {
            bad(
                "InvalidQuery",
                &format!(
                    "Query string malformed close to position {}",
                    offset + at + key.len() + 1
                ),
            )
        };
        let boolean = || matches!(value, "true" | "false");
        match key {
            "geometries" => {
                o.geometries = match value {
                    "polyline" => Geometries::Polyline,
                    "polyline6" => Geometries::Polyline6,
                    "geojson" => Geometries::GeoJson,
                    _ => return Err(fail()),
                }
            }
            "overview" => {
                o.overview = match value {
                    "simplified" | "full" => true,
                    "false" => false,
                    _ => return Err(fail()),
                }
            }
            "skip_waypoints" if boolean() => o.skip_waypoints = value == "true",
            "steps" | "generate_hints" | "skip_waypoints" if !boolean() => return Err(fail()),
            "continue_straight" if !matches!(value, "default" | "true" | "false") => {
                return Err(fail());
            }
            "alternatives"
                if !(boolean()
                    || (!value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()))) =>
            {
                return Err(fail());
            }
            _ => {}
        }
    }
    Ok(o)
}

fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `polyline(…)` / `polyline6(…)` coordinates (OSRM accepts them instead of `lon,lat;…`).
fn polyline_coordinates(s: &str) -> Option<Result<Vec<(f64, f64)>, usize>> {
    for (prefix, precision) in [("polyline6(", 6), ("polyline(", 5)] {
        if let Some(inner) = s.strip_prefix(prefix) {
            return Some(
                inner
                    .strip_suffix(')')
                    .and_then(|inner| decode_polyline(inner, precision))
                    .ok_or(prefix.len()),
            );
        }
    }
    None
}

/// Parses `lon,lat;lon,lat…` or `polyline(…)`/`polyline6(…)` into `(lat, lon)` points; the error
/// is the byte position of the failure.
fn parse_coordinates(s: &str) -> Result<Vec<(f64, f64)>, usize> {
    if let Some(points) = polyline_coordinates(s) {
        return points;
    }
    let mut out = Vec::with_capacity(s.bytes().filter(|&c| c == b';').count() + 1);
    let mut pos = 0usize;
    for part in s.split(';') {
        let (lon, lat) = part.split_once(',').ok_or(pos)?;
        let lon = parse_number(lon).ok_or(pos)?;
        let lat = parse_number(lat).ok_or(pos + part.find(',').unwrap_or(0) + 1)?;
        out.push((lat, lon));
        pos += part.len() + 1;
    }
    Ok(out)
}

/// Answers one OSRM request. `path` is the raw request path (`/route/…`).
pub(crate) fn handle(path: &str, query: Option<&str>) -> Reply {
    let Some(rest) = path.strip_prefix("/route/") else {
        return bad("InvalidUrl", "URL string malformed close to position 1");
    };
    let mut segments = rest.splitn(3, '/');
    let version = segments.next().unwrap_or_default();
    if version != "v1" {
        return bad(
            "InvalidVersion",
            "Service version not supported: expected v1",
        );
    }
    let (Some(profile), Some(coords_raw)) = (segments.next(), segments.next()) else {
        return bad(
            "InvalidUrl",
            &format!("URL string malformed close to position {}", path.len()),
        );
    };
    if coords_raw.is_empty() || coords_raw.contains('/') {
        return bad(
            "InvalidUrl",
            &format!("URL string malformed close to position {}", path.len()),
        );
    }
    if !PROFILES.contains(&profile) {
        return bad(
            "InvalidValue",
            "Unknown profile: this server serves car, driving, bike and foot",
        );
    }
    let Some(coords) = percent_decode(coords_raw, false) else {
        return bad("InvalidQuery", "Query string malformed close to position 0");
    };
    let coords = coords.strip_suffix(".json").unwrap_or(&coords);
    let options = match parse_options(query, coords_raw.len() + 1) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let points = match parse_coordinates(coords) {
        Ok(p) => p,
        Err(pos) => {
            return bad(
                "InvalidQuery",
                &format!("Query string malformed close to position {pos}"),
            );
        }
    };
    if points
        .iter()
        .any(|&(lat, lon)| !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon))
    {
        return bad("InvalidValue", "Invalid coordinate value.");
    }
    if points.len() < 2 {
        return bad(
            "InvalidOptions",
            "Number of coordinates needs to be at least two.",
        );
    }
    if points.len() > MAX_COORDINATES {
        return bad(
            "TooBig",
            &format!(
                "Number of entries {} is higher than current maximum ({MAX_COORDINATES})",
                points.len()
            ),
        );
    }
    if let Some(i) = points.iter().position(|p| p.0 < MIN_ROUTABLE_LAT) {
        return error(
            "NoSegment",
            &format!("Could not find a matching segment for coordinate {i}"),
            Outcome::NotFound,
        );
    }
    if points
        .windows(2)
        .any(|w| haversine_m(w[0], w[1]) > MAX_LEG_M)
    {
        return error(
            "NoRoute",
            "Impossible route between points",
            Outcome::NotFound,
        );
    }

    let mut legs = Vec::with_capacity(points.len() - 1);
    let mut total = 0.0;
    for w in points.windows(2) {
        let d = road_distance_m(w[0], w[1]);
        total += d;
        let t = round_to(travel_time_s(d), 1);
        legs.push(Leg {
            steps: &[],
            summary: "",
            weight: t,
            duration: t,
            distance: round_to(d, 1),
        });
    }
    let duration = round_to(travel_time_s(total), 1);
    let geometry = options.overview.then(|| match options.geometries {
        Geometries::Polyline => Geometry::Encoded(encode_polyline(&points, 5)),
        Geometries::Polyline6 => Geometry::Encoded(encode_polyline(&points, 6)),
        Geometries::GeoJson => Geometry::GeoJson {
            kind: "LineString",
            coordinates: points.iter().map(|&(lat, lon)| [lon, lat]).collect(),
        },
    });
    let waypoints = (!options.skip_waypoints).then(|| {
        points
            .iter()
            .map(|&(lat, lon)| Waypoint {
                hint: "",
                distance: 0.0,
                name: "",
                location: [round_to(lon, 6), round_to(lat, 6)],
            })
            .collect()
    });
    let body = RouteResponse {
        code: "Ok",
        routes: [Route {
            geometry,
            legs,
            weight_name: "routability",
            weight: duration,
            duration,
            distance: round_to(total, 1),
        }],
        waypoints,
    };
    Reply::json(P, StatusCode::OK, Outcome::Ok, &body)
}
