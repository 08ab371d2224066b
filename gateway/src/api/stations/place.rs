//! Stations in a route request: `{"station_id": "…"}` anywhere a place goes, and
//! `{"nearest_station": {…}}` as the destination. Parsed with the rest of the body (every field
//! at fault listed), then checked against the station data before the job is queued.

use std::time::Duration;

use routeq_shared::Code;
use routeq_shared::job::{Place, RouteRequest, StationSearch};
use routeq_shared::problem::FieldError;
use routeq_stations::ChargerKind;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::http::{ApiError, RequestId};
use crate::state::AppState;

/// Whether `obj` names a station (then [`parse`] owns it).
pub fn names_station(obj: &Map<String, Value>) -> bool {
    obj.contains_key("station_id") || obj.contains_key("nearest_station")
}

/// A station place at `path`; `nearest_station` only as the destination.
pub fn parse(obj: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) -> Option<Place> {
    let before = errors.len();
    if obj.len() != 1 {
        errors.push(FieldError::new(
            path,
            "ambiguous",
            "a station place is {station_id} or {nearest_station}, with nothing beside it",
        ));
        return None;
    }
    if let Some(id) = obj.get("station_id") {
        let field = format!("{path}.station_id");
        return match id.as_str().map(Uuid::try_parse) {
            Some(Ok(station_id)) => Some(Place::Station { station_id }),
            _ => {
                errors.push(FieldError::new(
                    field,
                    "type",
                    "must be a station id (a UUID)",
                ));
                None
            }
        };
    }
    let field = format!("{path}.nearest_station");
    if path != "destination" {
        errors.push(FieldError::new(
            field,
            "not_allowed",
            "nearest_station can only be the destination",
        ));
        return None;
    }
    let Some(search) = obj.get("nearest_station").and_then(Value::as_object) else {
        errors.push(FieldError::new(
            field,
            "type",
            "must be an object of filters",
        ));
        return None;
    };
    for key in search.keys() {
        if ![
            "radius_m",
            "candidates",
            "charger_type",
            "min_kw",
            "available",
        ]
        .contains(&key.as_str())
        {
            errors.push(FieldError::new(
                format!("{field}.{key}"),
                "unknown_field",
                "accepted: radius_m, candidates, charger_type, min_kw, available",
            ));
        }
    }
    let radius_m = match search.get("radius_m") {
        None | Some(Value::Null) => StationSearch::DEFAULT_RADIUS_M,
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r <= StationSearch::MAX_RADIUS_M => r,
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.radius_m"),
                    "out_of_range",
                    format!("must be metres in (0, {}]", StationSearch::MAX_RADIUS_M),
                ));
                0.0
            }
        },
    };
    let candidates = match search.get("candidates") {
        None | Some(Value::Null) => StationSearch::DEFAULT_CANDIDATES,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=u64::from(StationSearch::MAX_CANDIDATES)).contains(&n) => n as u32,
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.candidates"),
                    "out_of_range",
                    format!("must be 1 to {}", StationSearch::MAX_CANDIDATES),
                ));
                0
            }
        },
    };
    let charger_type = match search.get("charger_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.parse::<ChargerKind>().is_ok() => Some(t.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.charger_type"),
                "invalid_value",
                "must be one of dc, ac, dc_chademo, dc_combo, ac_slow, ac3",
            ));
            None
        }
    };
    let min_kw = match search.get("min_kw") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(kw) if kw.is_finite() && (0.0..=1000.0).contains(&kw) => Some(kw as f32),
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.min_kw"),
                    "out_of_range",
                    "must be a power in kW from 0 to 1000",
                ));
                None
            }
        },
    };
    let available = match search.get("available") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.available"),
                "type",
                "must be true or false",
            ));
            false
        }
    };
    (errors.len() == before).then_some(Place::NearestStation {
        nearest_station: StationSearch {
            radius_m,
            candidates,
            charger_type,
            min_kw,
            available,
        },
    })
}

/// How long the submit path waits for the station data.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Every `station_id` of `request` must be a station of ours in service: unknown is 422
/// `STATION_NOT_FOUND`, retired 422 `STATION_RETIRED` (with the field), unreadable 503.
pub async fn check(
    app: &AppState,
    request: &RouteRequest,
    rid: &RequestId,
) -> Result<(), ApiError> {
    let named: Vec<(String, Uuid)> = request
        .stops()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Place::Station { station_id } => Some((field_of(request, i), *station_id)),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let Some(pool) = &app.db else {
        return Err(ApiError::new(
            Code::StationsUnavailable,
            rid,
            "this gateway has no station data (--database-url)",
        )
        .retry_after(5));
    };
    for (field, id) in named {
        let found = tokio::time::timeout(CHECK_TIMEOUT, routeq_stations::get(pool, id)).await;
        let station = match found {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(super::unavailable(rid, &e)),
            Err(_) => return Err(super::unavailable(rid, &"timed out")),
        };
        match station {
            None => {
                return Err(ApiError::new(
                    Code::StationNotFound,
                    rid,
                    format!("station {id} is not a station of ours"),
                )
                .fields(vec![FieldError::new(
                    field,
                    "not_found",
                    "no such station",
                )]));
            }
            Some(s) if s.retired() => {
                return Err(ApiError::new(
                    Code::StationRetired,
                    rid,
                    format!("station {id} ({}) is no longer in service", s.name),
                )
                .fields(vec![FieldError::new(
                    field,
                    "retired",
                    "this station is no longer in service",
                )]));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The JSON path of stop `i` (origin, waypoints[…], destination).
fn field_of(request: &RouteRequest, i: usize) -> String {
    match i {
        0 => "origin.station_id".into(),
        i if i == request.waypoints.len() + 1 => "destination.station_id".into(),
        i => format!("waypoints[{}].station_id", i - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::body::{Limits, route_request};
    use routeq_shared::job::Place;
    use serde_json::json;

    fn limits() -> Limits {
        Limits {
            max_waypoints: 2,
            max_address_chars: 64,
            default_deadline_ms: 30_000,
            min_deadline_ms: 500,
            max_deadline_ms: 60_000,
        }
    }

    #[test]
    fn station_places_parse_with_defaults_and_every_fault_named() {
        let id = "0190c0de-0000-7000-8000-000000000001";
        let r = route_request(
            &json!({"origin": {"station_id": id}, "destination": {"nearest_station": {"charger_type": "dc"}}}),
            &limits(),
        )
        .expect("valid");
        assert!(matches!(r.origin, Place::Station { .. }));
        let Place::NearestStation { nearest_station: s } = r.destination else {
            panic!("not a nearest_station");
        };
        assert_eq!(
            (s.radius_m, s.candidates, s.available),
            (10_000.0, 3, false)
        );

        let errs = route_request(
            &json!({
                "origin": {"nearest_station": {}},
                "waypoints": [{"station_id": "nope"}],
                "destination": {"nearest_station": {"radius_m": 0, "candidates": 9, "charger_type": "x", "min_kw": -1, "available": "y", "z": 1}}
            }),
            &limits(),
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "origin.nearest_station",
            "waypoints[0].station_id",
            "destination.nearest_station.radius_m",
            "destination.nearest_station.candidates",
            "destination.nearest_station.charger_type",
            "destination.nearest_station.min_kw",
            "destination.nearest_station.available",
            "destination.nearest_station.z",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        let errs = route_request(
            &json!({"origin": {"station_id": id, "lat": 1}, "destination": {"lat": 1, "lon": 2}}),
            &limits(),
        )
        .expect_err("invalid");
        assert_eq!(errs[0].reason, "ambiguous", "{errs:?}");
    }
}
