//! Kakao Mobility `GET /v1/directions` and Kakao Local `GET /v2/local/search/address.json`.

use axum::http::{HeaderMap, StatusCode, header};
use serde::{Serialize, Serializer};

use crate::addresses::{Address, KakaoAddress, addresses};
use crate::faults::{Outcome, Provider, splitmix64};
use crate::geo::{
    MAX_LEG_M, MIN_ROUTABLE_LAT, MIN_SEPARATION_M, haversine_m, road_distance_m, travel_time_s,
};
use crate::query::{Param, param};
use crate::reply::{Fault, Reply, fault};

/// Kakao Mobility allows at most this many `waypoints`.
pub const MAX_WAYPOINTS: usize = 5;
/// Kakao Local `page` and `size` ranges.
pub const MAX_PAGE: u64 = 45;
pub const MAX_SIZE: u64 = 30;
const DEFAULT_SIZE: u64 = 10;

/// `Authorization: KakaoAK <key>`: any non-empty key, or exactly `expected` when configured.
pub(crate) fn check_key(
    headers: &HeaderMap,
    expected: Option<&str>,
    p: Provider,
) -> Result<(), Reply> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("KakaoAK "))
        .map(str::trim)
        .is_some_and(|key| !key.is_empty() && expected.is_none_or(|e| e == key));
    if ok {
        Ok(())
    } else {
        Err(fault(p, Fault::Unauthorized))
    }
}

// ---------------------------------------------------------------------------------------------
// Directions

const DIR: Provider = Provider::KakaoDirections;

#[derive(Serialize)]
struct CodeMsg<'a> {
    code: i32,
    msg: &'a str,
}

fn dir_bad(msg: &str) -> Reply {
    Reply::json(
        DIR,
        StatusCode::BAD_REQUEST,
        Outcome::BadRequest,
        &CodeMsg { code: -2, msg },
    )
}

#[derive(Debug, Clone, Copy)]
struct Point<'a> {
    x: f64,
    y: f64,
    name: &'a str,
}

impl Point<'_> {
    fn lat_lon(&self) -> (f64, f64) {
        (self.y, self.x)
    }
}

fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `x,y[,name=…][,angle=…]` (x = longitude).
fn parse_point<'a>(s: &'a str, what: &str) -> Result<Point<'a>, String> {
    let invalid = || format!("{what} is invalid: expected x,y[,name=...][,angle=...]");
    let mut parts = s.splitn(3, ',');
    let x = parts.next().and_then(number).ok_or_else(invalid)?;
    let y = parts.next().and_then(number).ok_or_else(invalid)?;
    if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
        return Err(format!("{what} is out of range"));
    }
    let mut name = "";
    let mut rest = parts.next().unwrap_or_default();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("angle=") {
            let (value, tail) = r.split_once(',').unwrap_or((r, ""));
            match value.trim().parse::<u16>() {
                Ok(a) if a <= 360 => {}
                _ => return Err(format!("{what} angle must be an integer in 0..=360")),
            }
            rest = tail;
        } else if let Some(r) = rest.strip_prefix("name=") {
            // A name runs up to a following ",angle=" (names may contain commas).
            let end = r.find(",angle=").unwrap_or(r.len());
            name = &r[..end];
            rest = r[end..].strip_prefix(',').unwrap_or_default();
        } else {
            return Err(invalid());
        }
    }
    Ok(Point { x, y, name })
}

#[derive(Serialize)]
struct DirResponse<'a> {
    trans_id: String,
    routes: [DirRoute<'a>; 1],
}

#[derive(Serialize)]
struct DirRoute<'a> {
    result_code: u32,
    result_msg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<Vec<Section>>,
}

#[derive(Serialize)]
struct NamedPoint<'a> {
    name: &'a str,
    x: f64,
    y: f64,
}

impl<'a> From<&Point<'a>> for NamedPoint<'a> {
    fn from(p: &Point<'a>) -> Self {
        NamedPoint {
            name: p.name,
            x: p.x,
            y: p.y,
        }
    }
}

#[derive(Serialize, Clone, Copy)]
struct Bound {
    min_x: f64,
    min_y: f64,
    max_x: f64,
    max_y: f64,
}

impl Bound {
    fn of<'p>(points: impl IntoIterator<Item = &'p Point<'p>>) -> Bound {
        points.into_iter().fold(
            Bound {
                min_x: f64::INFINITY,
                min_y: f64::INFINITY,
                max_x: f64::NEG_INFINITY,
                max_y: f64::NEG_INFINITY,
            },
            |b, p| Bound {
                min_x: b.min_x.min(p.x),
                min_y: b.min_y.min(p.y),
                max_x: b.max_x.max(p.x),
                max_y: b.max_y.max(p.y),
            },
        )
    }
}

#[derive(Serialize)]
struct Fare {
    taxi: u64,
    toll: u64,
}

#[derive(Serialize)]
struct Summary<'a> {
    origin: NamedPoint<'a>,
    destination: NamedPoint<'a>,
    waypoints: Vec<NamedPoint<'a>>,
    priority: &'static str,
    bound: Bound,
    fare: Fare,
    distance: u64,
    duration: u64,
}

#[derive(Serialize)]
struct Section {
    distance: u64,
    duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<Bound>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roads: Option<[Road; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    guides: Option<Vec<Guide>>,
}

#[derive(Serialize)]
struct Road {
    name: &'static str,
    distance: u64,
    duration: u64,
    traffic_speed: f64,
    traffic_state: u8,
    vertexes: [f64; 4],
}

#[derive(Serialize)]
struct Guide {
    name: &'static str,
    x: f64,
    y: f64,
    distance: u64,
    duration: u64,
    #[serde(rename = "type")]
    kind: u32,
    guidance: &'static str,
    road_index: i32,
}

/// Seoul taxi fare: 4,800 KRW for the first 1.6 km, then 100 KRW per 131 m.
fn taxi_fare(distance_m: u64) -> u64 {
    4_800 + distance_m.saturating_sub(1_600).div_ceil(131) * 100
}

fn to_int(v: f64) -> u64 {
    // Finite, non-negative metres or seconds; `as` saturates anyway.
    v.round() as u64
}

fn trans_id(hash: u64) -> String {
    format!("{hash:016x}{:016x}", splitmix64(hash))
}

fn failure(hash: u64, result_code: u32, result_msg: &'static str) -> Reply {
    let body = DirResponse {
        trans_id: trans_id(hash),
        routes: [DirRoute {
            result_code,
            result_msg,
            summary: None,
            sections: None,
        }],
    };
    Reply::json(DIR, StatusCode::OK, Outcome::NotFound, &body)
}

fn required<'a>(query: Option<&'a str>, key: &str) -> Result<std::borrow::Cow<'a, str>, Reply> {
    match param(query, key).non_empty() {
        Param::Value(v) => Ok(v),
        Param::Missing => Err(dir_bad(&format!("{key} is required"))),
        Param::Invalid => Err(dir_bad(&format!("{key} is not valid UTF-8"))),
    }
}

fn optional<'a>(
    query: Option<&'a str>,
    key: &str,
) -> Result<Option<std::borrow::Cow<'a, str>>, Reply> {
    match param(query, key).non_empty() {
        Param::Value(v) => Ok(Some(v)),
        Param::Missing => Ok(None),
        Param::Invalid => Err(dir_bad(&format!("{key} is not valid UTF-8"))),
    }
}

pub(crate) fn directions(query: Option<&str>, hash: u64) -> Reply {
    match directions_inner(query, hash) {
        Ok(r) | Err(r) => r,
    }
}

fn directions_inner(query: Option<&str>, hash: u64) -> Result<Reply, Reply> {
    let origin_raw = required(query, "origin")?;
    let destination_raw = required(query, "destination")?;
    let waypoints_raw = optional(query, "waypoints")?;
    let origin = parse_point(&origin_raw, "origin").map_err(|m| dir_bad(&m))?;
    let destination = parse_point(&destination_raw, "destination").map_err(|m| dir_bad(&m))?;
    let mut waypoints = Vec::new();
    if let Some(raw) = waypoints_raw.as_deref() {
        for (i, w) in raw.split('|').enumerate() {
            if i >= MAX_WAYPOINTS {
                return Err(dir_bad("waypoints must not exceed 5"));
            }
            waypoints.push(parse_point(w, "waypoints").map_err(|m| dir_bad(&m))?);
        }
    }
    let priority = match optional(query, "priority")? {
        None => "RECOMMEND",
        Some(p) if p.eq_ignore_ascii_case("RECOMMEND") => "RECOMMEND",
        Some(p) if p.eq_ignore_ascii_case("TIME") => "TIME",
        Some(p) if p.eq_ignore_ascii_case("DISTANCE") => "DISTANCE",
        Some(_) => return Err(dir_bad("priority must be RECOMMEND, TIME or DISTANCE")),
    };
    let summary_only = match optional(query, "summary")? {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(dir_bad("summary must be true or false")),
    };

    if haversine_m(origin.lat_lon(), destination.lat_lon()) < MIN_SEPARATION_M {
        return Ok(failure(
            hash,
            104,
            "출발지와 도착지가 5 m 이내로 설정된 경우 경로를 탐색할 수 없음",
        ));
    }
    if origin.y < MIN_ROUTABLE_LAT {
        return Ok(failure(hash, 102, "출발지 주변의 도로를 탐색할 수 없음"));
    }
    if waypoints.iter().any(|w| w.y < MIN_ROUTABLE_LAT) {
        return Ok(failure(hash, 101, "경유지 주변의 도로를 탐색할 수 없음"));
    }
    if destination.y < MIN_ROUTABLE_LAT {
        return Ok(failure(hash, 103, "도착지 주변의 도로를 탐색할 수 없음"));
    }
    let mut stops = Vec::with_capacity(waypoints.len() + 2);
    stops.push(origin);
    stops.extend_from_slice(&waypoints);
    stops.push(destination);
    if stops
        .windows(2)
        .any(|w| haversine_m(w[0].lat_lon(), w[1].lat_lon()) > MAX_LEG_M)
    {
        return Ok(failure(hash, 1, "길찾기 결과를 찾을 수 없음"));
    }

    let total_m: f64 = stops
        .windows(2)
        .map(|w| road_distance_m(w[0].lat_lon(), w[1].lat_lon()))
        .sum();
    let distance = to_int(total_m);
    let duration = to_int(travel_time_s(total_m));
    let last_leg = stops.len() - 2;
    let sections = stops
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let d = road_distance_m(w[0].lat_lon(), w[1].lat_lon());
            let (sd, st) = (to_int(d), to_int(travel_time_s(d)));
            if summary_only {
                return Section {
                    distance: sd,
                    duration: st,
                    bound: None,
                    roads: None,
                    guides: None,
                };
            }
            let mut guides = Vec::with_capacity(2);
            if i == 0 {
                guides.push(Guide {
                    name: "출발지",
                    x: w[0].x,
                    y: w[0].y,
                    distance: 0,
                    duration: 0,
                    kind: 100,
                    guidance: "출발지",
                    road_index: 0,
                });
            }
            let (name, kind) = if i == last_leg {
                ("목적지", 101)
            } else {
                ("경유지", 1000)
            };
            guides.push(Guide {
                name,
                x: w[1].x,
                y: w[1].y,
                distance: sd,
                duration: st,
                kind,
                guidance: name,
                road_index: 0,
            });
            Section {
                distance: sd,
                duration: st,
                bound: Some(Bound::of(w)),
                roads: Some([Road {
                    name: "",
                    distance: sd,
                    duration: st,
                    traffic_speed: (crate::geo::SPEED_MPS * 3.6 * 10.0).round() / 10.0,
                    traffic_state: 0,
                    vertexes: [w[0].x, w[0].y, w[1].x, w[1].y],
                }]),
                guides: Some(guides),
            }
        })
        .collect();
    let body = DirResponse {
        trans_id: trans_id(hash),
        routes: [DirRoute {
            result_code: 0,
            result_msg: "길찾기 성공",
            summary: Some(Summary {
                origin: (&origin).into(),
                destination: (&destination).into(),
                waypoints: waypoints.iter().map(NamedPoint::from).collect(),
                priority,
                bound: Bound::of(&stops),
                fare: Fare {
                    taxi: taxi_fare(distance),
                    toll: 0,
                },
                distance,
                duration,
            }),
            sections: Some(sections),
        }],
    };
    Ok(Reply::json(DIR, StatusCode::OK, Outcome::Ok, &body))
}

// ---------------------------------------------------------------------------------------------
// Local address search

const LOCAL: Provider = Provider::KakaoLocal;

#[derive(Serialize)]
struct LocalError<'a> {
    #[serde(rename = "errorType")]
    error_type: &'a str,
    message: &'a str,
}

fn local_bad(error_type: &str, message: &str) -> Reply {
    Reply::json(
        LOCAL,
        StatusCode::BAD_REQUEST,
        Outcome::BadRequest,
        &LocalError {
            error_type,
            message,
        },
    )
}

/// A coordinate as a string (shortest round-trip form), as Kakao Local writes `x`/`y`.
#[derive(Clone, Copy)]
struct Str(f64);

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct LocalResponse {
    meta: Meta,
    documents: Vec<Document>,
}

#[derive(Serialize)]
struct Meta {
    total_count: u64,
    pageable_count: u64,
    is_end: bool,
}

#[derive(Serialize)]
struct Document {
    address_name: &'static str,
    address_type: &'static str,
    x: Str,
    y: Str,
    address: JibunAddress,
    road_address: RoadAddress,
}

#[derive(Serialize)]
struct JibunAddress {
    address_name: &'static str,
    region_1depth_name: &'static str,
    region_2depth_name: &'static str,
    region_3depth_name: &'static str,
    region_3depth_h_name: &'static str,
    h_code: &'static str,
    b_code: &'static str,
    mountain_yn: &'static str,
    main_address_no: &'static str,
    sub_address_no: &'static str,
    x: Str,
    y: Str,
}

#[derive(Serialize)]
struct RoadAddress {
    address_name: &'static str,
    region_1depth_name: &'static str,
    region_2depth_name: &'static str,
    region_3depth_name: &'static str,
    road_name: &'static str,
    underground_yn: &'static str,
    main_building_no: &'static str,
    sub_building_no: &'static str,
    building_name: &'static str,
    zone_no: &'static str,
    x: Str,
    y: Str,
}

impl Document {
    fn new(a: &Address, k: &KakaoAddress) -> Document {
        let (x, y) = (Str(a.lon), Str(a.lat));
        Document {
            address_name: k.road_address,
            address_type: "ROAD_ADDR",
            x,
            y,
            address: JibunAddress {
                address_name: k.jibun_address,
                region_1depth_name: k.region_1depth_name,
                region_2depth_name: k.region_2depth_name,
                region_3depth_name: k.region_3depth_name,
                region_3depth_h_name: k.region_3depth_h_name,
                h_code: k.h_code,
                b_code: k.b_code,
                mountain_yn: "N",
                main_address_no: k.main_address_no,
                sub_address_no: k.sub_address_no,
                x,
                y,
            },
            road_address: RoadAddress {
                address_name: k.road_address,
                region_1depth_name: k.region_1depth_name,
                region_2depth_name: k.region_2depth_name,
                region_3depth_name: k.region_3depth_name,
                road_name: k.road_name,
                underground_yn: "N",
                main_building_no: k.main_building_no,
                sub_building_no: k.sub_building_no,
                building_name: k.building_name,
                zone_no: k.zone_no,
                x,
                y,
            },
        }
    }
}

fn bounded(query: Option<&str>, key: &str, default: u64, max: u64) -> Result<u64, Reply> {
    match param(query, key) {
        Param::Missing => Ok(default),
        Param::Value(v) => match v.trim().parse::<i64>() {
            Ok(n) if n < 1 => Err(local_bad(
                "InvalidArgument",
                &format!("{key} is less than min"),
            )),
            Ok(n) if n.unsigned_abs() > max => Err(local_bad(
                "InvalidArgument",
                &format!("{key} is more than max"),
            )),
            Ok(n) => Ok(n.unsigned_abs()),
            Err(_) => Err(local_bad("InvalidArgument", &format!("{key} is invalid"))),
        },
        Param::Invalid => Err(local_bad("InvalidArgument", &format!("{key} is invalid"))),
    }
}

pub(crate) fn local(query: Option<&str>) -> Reply {
    match local_inner(query) {
        Ok(r) | Err(r) => r,
    }
}

fn local_inner(query: Option<&str>) -> Result<Reply, Reply> {
    let q = match param(query, "query").non_empty() {
        Param::Value(q) => q,
        Param::Missing => {
            return Err(local_bad("MissingParameter", "query parameter required"));
        }
        Param::Invalid => return Err(local_bad("InvalidArgument", "query is invalid")),
    };
    match param(query, "analyze_type") {
        Param::Missing => {}
        Param::Value(v) if v == "similar" || v == "exact" => {}
        _ => return Err(local_bad("InvalidArgument", "analyze_type is invalid")),
    }
    let page = bounded(query, "page", 1, MAX_PAGE)?;
    let size = bounded(query, "size", DEFAULT_SIZE, MAX_SIZE)?;
    let matches = || {
        addresses()
            .iter()
            .filter_map(|a| a.kakao.as_ref().map(|k| (a, k)))
            .filter(|(a, _)| a.matches(&q))
    };
    let total = matches().count() as u64;
    let skip = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
    let take = usize::try_from(size).unwrap_or(usize::MAX);
    let documents: Vec<Document> = matches()
        .skip(skip)
        .take(take)
        .map(|(a, k)| Document::new(a, k))
        .collect();
    let body = LocalResponse {
        meta: Meta {
            total_count: total,
            pageable_count: total.min(MAX_PAGE * size),
            is_end: page * size >= total,
        },
        documents,
    };
    let outcome = if total == 0 {
        Outcome::NotFound
    } else {
        Outcome::Ok
    };
    Ok(Reply::json(LOCAL, StatusCode::OK, outcome, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points() {
        let p = parse_point("127.1,37.5,name=A, B,angle=90", "origin").expect("valid");
        assert_eq!((p.x, p.y, p.name), (127.1, 37.5, "A, B"));
        let p = parse_point("127.1,37.5,angle=0,name=Home", "origin").expect("valid");
        assert_eq!(p.name, "Home");
        for bad in [
            "",
            "127.1",
            "x,37",
            "127,37,foo=1",
            "127,37,angle=999",
            "200,37",
            "127,NaN",
            "127,inf",
        ] {
            assert!(parse_point(bad, "origin").is_err(), "{bad}");
        }
    }

    #[test]
    fn fare() {
        assert_eq!(taxi_fare(0), 4_800);
        assert_eq!(taxi_fare(1_600), 4_800);
        assert_eq!(taxi_fare(1_601), 4_900);
        assert_eq!(taxi_fare(1_600 + 131 * 10), 5_800);
    }
}
