//! `GET /search?q=…&format=jsonv2`: Nominatim free-text search over the seeded table.

use axum::http::{HeaderMap, StatusCode, header};
use serde::{Serialize, Serializer};

use crate::addresses::{Address, addresses};
use crate::faults::{Outcome, Provider};
use crate::query::{Param, param};
use crate::reply::{Fault, Reply, fault};

const P: Provider = Provider::Nominatim;
/// Nominatim's default and maximum `limit`.
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 40;
const LICENCE: &str = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright";

/// Nominatim blocks anonymous clients: a non-empty `User-Agent` (or `Referer`) is required.
pub(crate) fn check_identity(headers: &HeaderMap) -> Result<(), Reply> {
    let present = |name| {
        headers
            .get(name)
            .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    };
    if present(header::USER_AGENT) || present(header::REFERER) {
        Ok(())
    } else {
        Err(fault(P, Fault::Unauthorized))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: u16,
    message: &'a str,
}

fn bad(message: &str) -> Reply {
    Reply::json(
        P,
        StatusCode::BAD_REQUEST,
        Outcome::BadRequest,
        &ErrorBody {
            error: ErrorInner { code: 400, message },
        },
    )
}

/// A coordinate written as a string with 7 decimals, as Nominatim does.
struct Fixed7(f64);

impl Serialize for Fixed7 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:.7}", self.0))
    }
}

#[derive(Serialize)]
struct Place {
    place_id: u64,
    licence: &'static str,
    osm_type: &'static str,
    osm_id: u64,
    lat: Fixed7,
    lon: Fixed7,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(rename = "type")]
    kind: &'static str,
    place_rank: u8,
    importance: f64,
    addresstype: &'static str,
    name: &'static str,
    display_name: &'static str,
    boundingbox: [Fixed7; 4],
}

impl Place {
    fn new(a: &Address, v2: bool) -> Place {
        const HALF: f64 = 0.000_5;
        Place {
            place_id: a.place_id,
            licence: LICENCE,
            osm_type: a.osm_type,
            osm_id: a.osm_id,
            lat: Fixed7(a.lat),
            lon: Fixed7(a.lon),
            category: v2.then_some(a.category),
            class: (!v2).then_some(a.category),
            kind: a.kind,
            place_rank: a.place_rank,
            importance: a.importance,
            addresstype: a.addresstype,
            name: a.name,
            display_name: a.display_name,
            boundingbox: [
                Fixed7(a.lat - HALF),
                Fixed7(a.lat + HALF),
                Fixed7(a.lon - HALF),
                Fixed7(a.lon + HALF),
            ],
        }
    }
}

pub(crate) fn handle(query: Option<&str>) -> Reply {
    let q = match param(query, "q").non_empty() {
        Param::Value(q) => q,
        Param::Missing => return bad("Nothing to search for."),
        Param::Invalid => return bad("Invalid UTF-8 in parameter 'q'."),
    };
    let v2 = match param(query, "format") {
        Param::Missing => true,
        Param::Value(f) if f == "jsonv2" => true,
        Param::Value(f) if f == "json" => false,
        Param::Value(f) if matches!(&*f, "xml" | "geojson" | "geocodejson") => {
            return bad("This server only serves format=json and format=jsonv2.");
        }
        _ => {
            return bad(
                "Parameter 'format' must be one of: xml, json, jsonv2, geojson, geocodejson",
            );
        }
    };
    let limit = match param(query, "limit") {
        Param::Missing => DEFAULT_LIMIT,
        Param::Value(v) => match v.trim().parse::<i64>() {
            Ok(n) => usize::try_from(n.clamp(1, MAX_LIMIT as i64)).unwrap_or(DEFAULT_LIMIT),
            Err(_) => return bad("Integer number expected for parameter 'limit'"),
        },
        Param::Invalid => return bad("Integer number expected for parameter 'limit'"),
    };
    let hits: Vec<Place> = addresses()
        .iter()
        .filter(|a| a.matches(&q))
        .take(limit)
        .map(|a| Place::new(a, v2))
        .collect();
    let outcome = if hits.is_empty() {
        Outcome::NotFound
    } else {
        Outcome::Ok
    };
    Reply::json(P, StatusCode::OK, outcome, &hits)
}
