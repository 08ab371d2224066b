//! The submit body's parser, which turns it once, at the edge, into a [`RouteRequest`] (whose
//! schema is also what the API description shows for the body: one type for both).
//!
//! The body is read as a JSON value and walked field by field, so one answer lists *every* field at
//! fault (with a JSON path and a stable reason), not only the first one serde tripped on.

use routeq_shared::job::{Coord, CoordError, Place, Profile, RouteRequest};
use routeq_shared::problem::FieldError;
use serde_json::{Map, Value};

pub use crate::config::Limits;

const TOP_FIELDS: &[&str] = &[
    "origin",
    "destination",
    "waypoints",
    "profile",
    "deadline_ms",
    // Checked by api/webhooks.rs (`selection`), not part of the route request.
    "webhooks",
];

/// Validates a parsed JSON body into a route request, or every field error found.
pub fn route_request(body: &Value, limits: &Limits) -> Result<RouteRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "type",
            "the body must be a JSON object",
        )]);
    };
    unknown_fields(obj, "", TOP_FIELDS, &mut errors);

    let origin = required_place(obj, "origin", limits, &mut errors);
    let destination = required_place(obj, "destination", limits, &mut errors);

    let mut waypoints = Vec::new();
    match obj.get("waypoints") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.len() > limits.max_waypoints {
                errors.push(FieldError::new(
                    "waypoints",
                    "too_many",
                    format!(
                        "at most {} waypoints are allowed, got {}",
                        limits.max_waypoints,
                        items.len()
                    ),
                ));
            } else {
                for (i, item) in items.iter().enumerate() {
                    if let Some(p) = place(item, &format!("waypoints[{i}]"), limits, &mut errors) {
                        waypoints.push(p);
                    }
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            "waypoints",
            "type",
            "must be an array of places",
        )),
    }

    let profile = match obj.get("profile") {
        None | Some(Value::Null) => Some(Profile::Car),
        Some(Value::String(s)) => match s.as_str() {
            "car" => Some(Profile::Car),
            "bike" => Some(Profile::Bike),
            "foot" => Some(Profile::Foot),
            _ => {
                errors.push(FieldError::new(
                    "profile",
                    "invalid_value",
                    "must be one of car, bike, foot",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                "profile",
                "type",
                "must be a string: car, bike or foot",
            ));
            None
        }
    };

    let deadline_ms = match obj.get("deadline_ms") {
        None | Some(Value::Null) => Some(limits.default_deadline_ms),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(ms) if (limits.min_deadline_ms..=limits.max_deadline_ms).contains(&ms) => Some(ms),
            _ => {
                errors.push(FieldError::new(
                    "deadline_ms",
                    "out_of_range",
                    format!(
                        "must be a whole number of milliseconds between {} and {}",
                        limits.min_deadline_ms, limits.max_deadline_ms
                    ),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                "deadline_ms",
                "type",
                "must be a whole number of milliseconds",
            ));
            None
        }
    };

    match (origin, destination, profile, deadline_ms) {
        (Some(origin), Some(destination), Some(profile), Some(deadline_ms))
            if errors.is_empty() =>
        {
            Ok(RouteRequest {
                origin,
                destination,
                waypoints,
                profile,
                deadline_ms,
            })
        }
        _ => Err(capped(errors)),
    }
}

/// The most field errors one answer lists; the rest are counted in a last `truncated` entry, so
/// a body of many unknown keys cannot make the answer many times its own size.
pub const MAX_FIELD_ERRORS: usize = 20;

fn capped(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    if errors.len() > MAX_FIELD_ERRORS {
        let more = errors.len() - MAX_FIELD_ERRORS;
        errors.truncate(MAX_FIELD_ERRORS);
        errors.push(FieldError::new(
            "",
            "truncated",
            format!("{more} more errors not listed"),
        ));
    }
    errors
}

/// Control characters and invisible format characters (Unicode category Cf: bidirectional
/// overrides and isolates, zero-width spaces and joiners, the byte-order mark, soft hyphens, tag
/// characters): an address holding one can read as something else than it is.
pub fn is_hidden_or_control(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_control() || c.general_category() == GeneralCategory::Format
}

fn unknown_fields(
    obj: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
    errors: &mut Vec<FieldError>,
) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            errors.push(FieldError::new(
                field,
                "unknown_field",
                "this field is not part of a route request",
            ));
        }
    }
}

fn required_place(
    obj: &Map<String, Value>,
    name: &str,
    limits: &Limits,
    errors: &mut Vec<FieldError>,
) -> Option<Place> {
    match obj.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                name,
                "required",
                "is required: {lat, lon} or {address}",
            ));
            None
        }
        Some(v) => place(v, name, limits, errors),
    }
}

fn place(v: &Value, path: &str, limits: &Limits, errors: &mut Vec<FieldError>) -> Option<Place> {
    let Some(obj) = v.as_object() else {
        errors.push(FieldError::new(
            path,
            "type",
            "must be an object: {lat, lon} or {address}",
        ));
        return None;
    };
    if super::stations::place::names_station(obj) {
        return super::stations::place::parse(obj, path, errors);
    }
    let before = errors.len();
    unknown_fields(obj, path, &["lat", "lon", "address"], errors);
    let has_coords = obj.contains_key("lat") || obj.contains_key("lon");
    let has_address = obj.contains_key("address");
    if has_coords && has_address {
        errors.push(FieldError::new(
            path,
            "ambiguous",
            "give either lat and lon, or an address, not both",
        ));
        return None;
    }
    if has_address {
        let address = match &obj["address"] {
            Value::String(s) => s,
            _ => {
                errors.push(FieldError::new(
                    format!("{path}.address"),
                    "type",
                    "must be a string",
                ));
                return None;
            }
        };
        let normalised = address.split_whitespace().collect::<Vec<_>>().join(" ");
        let field = format!("{path}.address");
        if normalised.is_empty() {
            errors.push(FieldError::new(field, "empty", "must not be empty"));
            return None;
        }
        let chars = normalised.chars().count();
        if chars > limits.max_address_chars {
            errors.push(FieldError::new(
                field,
                "too_long",
                format!(
                    "must be at most {} characters, got {chars}",
                    limits.max_address_chars
                ),
            ));
            return None;
        }
        if normalised.chars().any(is_hidden_or_control) {
            errors.push(FieldError::new(
                field,
                "invalid_characters",
                "must not contain control characters or invisible format characters (such as bidirectional overrides or zero-width spaces)",
            ));
            return None;
        }
        return (errors.len() == before).then_some(Place::Address {
            address: normalised,
        });
    }
    let lat = number(obj.get("lat"), &format!("{path}.lat"), errors);
    let lon = number(obj.get("lon"), &format!("{path}.lon"), errors);
    let (lat, lon) = (lat?, lon?);
    match Coord::new(lat, lon) {
        Ok(c) => (errors.len() == before).then_some(Place::Coords(c)),
        Err((which, why)) => {
            let reason = match why {
                CoordError::NotFinite => "not_finite",
                _ => "out_of_range",
            };
            errors.push(FieldError::new(
                format!("{path}.{which}"),
                reason,
                why.to_string(),
            ));
            None
        }
    }
}

fn number(v: Option<&Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    match v {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "required", "is required"));
            None
        }
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) => Some(x),
            None => {
                errors.push(FieldError::new(
                    field,
                    "not_finite",
                    "must be a finite number",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(field, "type", "must be a number"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits {
            max_waypoints: 2,
            max_address_chars: 20,
            default_deadline_ms: 30_000,
            min_deadline_ms: 500,
            max_deadline_ms: 60_000,
        }
    }

    #[test]
    fn a_good_body_gets_defaults() {
        let r = route_request(
            &json!({"origin": {"lat": 37.5, "lon": 127.0}, "destination": {"address": "  Seoul   Station "}}),
            &limits(),
        )
        .expect("valid");
        assert_eq!(r.profile, Profile::Car);
        assert_eq!(r.deadline_ms, 30_000);
        assert_eq!(
            r.destination,
            Place::Address {
                address: "Seoul Station".into()
            }
        );
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errs = route_request(
            &json!({"origin": {"lat": 91, "lon": "x"}, "waypoints": [{}, {"address": ""}, 3], "extra": 1}),
            &limits(),
        )
        .expect_err("invalid");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"extra"), "{fields:?}");
        assert!(fields.contains(&"origin.lon"), "{fields:?}");
        assert!(fields.contains(&"destination"), "{fields:?}");
        assert!(fields.contains(&"waypoints"), "{fields:?}");
    }
}
