//! Charging stations, read from the station data (PostgreSQL, routeq-stations' schema, our own
//! ids): `GET /v1/stations` (nearest first), `GET /v1/stations/{id}`, and a user's favourites
//! ([`favourites`]). Stations in route requests are [`place`].

pub mod favourites;
pub mod place;

use std::time::Duration;

use axum::Extension;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::problem::FieldError;
use routeq_stations::{ChargerKind, Filters, Station};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::http::{ApiError, RequestId};
use crate::state::AppState;

/// Every code the station endpoints can answer with.
pub const ANSWERS: &[Code] = &[
    Code::InvalidParameter,
    Code::Unauthorized,
    Code::StationNotFound,
    Code::RateLimited,
    Code::HeadersTooLarge,
    Code::InternalError,
    Code::StationsUnavailable,
];

super::openapi::answers!(
    /// The error responses of the station endpoints.
    StationAnswers,
    ANSWERS,
    None
);

/// How long a station request waits for the database.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A station as the API shows it: retired ones say so.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationView {
    #[serde(flatten)]
    pub station: Station,
    /// True once the public data stopped delivering it (it still resolves; favourites keep it).
    pub retired: bool,
    /// From the searched point, metres (in searches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

impl StationView {
    fn new(station: Station, distance_m: Option<f64>) -> StationView {
        StationView {
            retired: station.retired(),
            distance_m: distance_m.map(|d| (d * 10.0).round() / 10.0),
            station,
        }
    }
}

/// `GET /v1/stations`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationList {
    pub stations: Vec<StationView>,
}

/// A nearest search's parameters, from the query string.
#[derive(Debug)]
pub struct Search {
    lat: f64,
    lon: f64,
    radius_m: f64,
    limit: u32,
    filters: Filters,
}

impl FromRequestParts<AppState> for Search {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Search, ApiError> {
        let RawQuery(query) = RawQuery::from_request_parts(parts, app)
            .await
            .unwrap_or(RawQuery(None));
        Search::parse(
            query.as_deref().unwrap_or(""),
            &RequestId::of(&parts.extensions),
        )
    }
}

impl Search {
    fn parse(query: &str, rid: &RequestId) -> Result<Search, ApiError> {
        let mut errors = Vec::new();
        let (mut lat, mut lon) = (None, None);
        let (mut radius_m, mut limit) = (5_000.0, 10u32);
        let mut filters = Filters::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = |errors: &mut Vec<FieldError>| {
                let v = value.parse::<f64>().ok().filter(|v| v.is_finite());
                if v.is_none() {
                    errors.push(FieldError::new(name, "type", "must be a number"));
                }
                v
            };
            match name {
                "lat" => lat = number(&mut errors),
                "lon" => lon = number(&mut errors),
                "radius_m" => radius_m = number(&mut errors).unwrap_or(radius_m),
                "min_kw" => filters.min_kw = number(&mut errors).map(|kw| kw as f32),
                "limit" => match value.parse() {
                    Ok(n) => limit = n,
                    Err(_) => {
                        errors.push(FieldError::new("limit", "type", "must be a whole number"))
                    }
                },
                "charger_type" => match value.parse::<ChargerKind>() {
                    Ok(k) => filters.charger_type = Some(k),
                    Err(_) => errors.push(FieldError::new(
                        "charger_type",
                        "invalid_value",
                        "must be one of dc, ac, dc_chademo, dc_combo, ac_slow, ac3",
                    )),
                },
                "available" => match value {
                    "true" | "1" => filters.available = true,
                    "false" | "0" => filters.available = false,
                    _ => errors.push(FieldError::new(
                        "available",
                        "type",
                        "must be true or false",
                    )),
                },
                _ => errors.push(FieldError::new(
                    name,
                    "unknown_parameter",
                    "accepted: lat, lon, radius_m, limit, charger_type, min_kw, available",
                )),
            }
        }
        for (name, v) in [("lat", lat), ("lon", lon)] {
            if v.is_none() && !errors.iter().any(|e| e.field == name) {
                errors.push(FieldError::new(name, "required", "is required"));
            }
        }
        // The library checks these too; checked here so bad input is a 400 even when the
        // station data is down.
        let out_of_range = |name: &'static str, ok: bool, rule: String| {
            (!ok).then(|| FieldError::new(name, "out_of_range", rule))
        };
        errors.extend(
            [
                out_of_range(
                    "lat",
                    lat.is_none_or(|v| (-90.0..=90.0).contains(&v)),
                    "must be in [-90, 90]".into(),
                ),
                out_of_range(
                    "lon",
                    lon.is_none_or(|v| (-180.0..=180.0).contains(&v)),
                    "must be in [-180, 180]".into(),
                ),
                out_of_range(
                    "radius_m",
                    radius_m > 0.0 && radius_m <= routeq_stations::query::MAX_RADIUS_M,
                    format!("must be in (0, {}]", routeq_stations::query::MAX_RADIUS_M),
                ),
                out_of_range(
                    "limit",
                    (1..=routeq_stations::query::MAX_LIMIT).contains(&limit),
                    format!("must be 1 to {}", routeq_stations::query::MAX_LIMIT),
                ),
                out_of_range(
                    "min_kw",
                    filters.min_kw.is_none_or(|kw| kw >= 0.0),
                    "must be at least 0".into(),
                ),
            ]
            .into_iter()
            .flatten(),
        );
        match (lat, lon) {
            (Some(lat), Some(lon)) if errors.is_empty() => Ok(Search {
                lat,
                lon,
                radius_m,
                limit,
                filters,
            }),
            _ => Err(invalid(rid, errors)),
        }
    }
}

fn invalid(rid: &RequestId, errors: Vec<FieldError>) -> ApiError {
    ApiError::new(
        Code::InvalidParameter,
        rid,
        "the station search has invalid parameters",
    )
    .fields(errors)
}

/// The station data's pool, or 503 when this gateway has none.
pub(crate) fn pool<'a>(app: &'a AppState, rid: &RequestId) -> Result<&'a PgPool, ApiError> {
    app.db.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::StationsUnavailable,
            rid,
            "this gateway has no station data (--database-url)",
        )
        .retry_after(5)
    })
}

/// The station data failed or did not answer: 503, retry. The cause is logged here.
pub(crate) fn unavailable(rid: &RequestId, cause: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(request_id = %rid.0, error = %cause, "station data unavailable");
    ApiError::new(
        Code::StationsUnavailable,
        rid,
        "the station data cannot be read now; retry shortly",
    )
    .retry_after(1)
}

/// Runs a station query within [`QUERY_TIMEOUT`], mapping the library's errors to answers.
pub(crate) async fn query<T>(
    rid: &RequestId,
    q: impl Future<Output = Result<T, routeq_stations::Error>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(QUERY_TIMEOUT, q).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(routeq_stations::Error::Invalid { field, reason })) => Err(invalid(
            rid,
            vec![FieldError::new(field, "out_of_range", reason)],
        )),
        Ok(Err(routeq_stations::Error::StationNotFound(id))) => Err(ApiError::new(
            Code::StationNotFound,
            rid,
            format!("station {id} is not a station of ours"),
        )),
        Ok(Err(e)) => Err(unavailable(rid, &e)),
        Err(_) => Err(unavailable(rid, &"timed out")),
    }
}

/// `GET /v1/stations`: stations with a charger meeting the filters, nearest first.
#[utoipa::path(
    get,
    path = "/v1/stations",
    tag = "stations",
    summary = "Find the nearest charging stations",
    description = "Stations in service within `radius_m` of the point with a charger meeting every filter, nearest first, each with its distance. Ids are ours and survive the public data's reloads.",
    params(
        ("lat" = f64, Query, minimum = -90, maximum = 90),
        ("lon" = f64, Query, minimum = -180, maximum = 180),
        ("radius_m" = Option<f64>, Query, minimum = 1, maximum = 100000, description = "5000 unless given"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "10 unless given"),
        ("charger_type" = Option<String>, Query, description = "dc, ac, dc_chademo, dc_combo, ac_slow or ac3"),
        ("min_kw" = Option<f64>, Query, description = "A charger of at least this power"),
        ("available" = Option<bool>, Query, description = "Only chargers free now"),
    ),
    responses((status = 200, description = "Nearest first", body = StationList), StationAnswers)
)]
pub async fn list(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    search: Search,
) -> Result<Response, ApiError> {
    let pool = pool(&app, &rid)?;
    let found = query(
        &rid,
        routeq_stations::nearest(
            pool,
            search.lat,
            search.lon,
            search.radius_m,
            search.limit,
            &search.filters,
        ),
    )
    .await?;
    let stations = found
        .into_iter()
        .map(|(s, d)| StationView::new(s, Some(d)))
        .collect();
    Ok(axum::Json(StationList { stations }).into_response())
}

/// `GET /v1/stations/{id}`: one station, retired or not.
#[utoipa::path(
    get,
    path = "/v1/stations/{id}",
    tag = "stations",
    summary = "Read a charging station",
    description = "A station by our id, with its chargers; a retired one answers 200 with `retired: true`. An unknown id is 404 `STATION_NOT_FOUND`.",
    params(("id" = Uuid, Path, description = "Our station id")),
    responses(
        (status = 200, description = "The station", body = StationView),
        (status = 404, description = "`STATION_NOT_FOUND`: no such station", body = routeq_shared::problem::Problem, content_type = "application/problem+json"),
        StationAnswers
    )
)]
pub async fn one(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(Code::StationNotFound, &rid, "no such station").status(StatusCode::NOT_FOUND)
    };
    let Ok(id) = Uuid::try_parse(&id) else {
        return Err(not_found());
    };
    let pool = pool(&app, &rid)?;
    match query(&rid, routeq_stations::get(pool, id)).await? {
        Some(s) => Ok(axum::Json(StationView::new(s, None)).into_response()),
        None => Err(not_found()),
    }
}
