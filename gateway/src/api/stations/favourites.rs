//! A user's favourite stations, per tenant: `GET /v1/users/{user_id}/favourites`, and `PUT` /
//! `DELETE /v1/users/{user_id}/favourites/{station_id}`. They hold our ids, so no reload of the
//! public data loses them; a retired station stays a favourite and says it is retired.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use routeq_shared::Code;
use serde::Serialize;
use uuid::Uuid;

use super::{StationAnswers, StationView, pool, query};
use crate::auth::Tenant;
use crate::http::{ApiError, RequestId};
use crate::state::AppState;

/// One favourite.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FavouriteView {
    pub station: StationView,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/users/{user_id}/favourites`'s body, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FavouriteList {
    pub favourites: Vec<FavouriteView>,
}

/// A user id is the tenant's own: 1–128 characters, no control characters (checked before
/// the database, so bad input is a 400 even when the station data is down).
fn user_id(raw: &str, rid: &RequestId) -> Result<(), ApiError> {
    if raw.is_empty() || raw.chars().count() > 128 || raw.chars().any(char::is_control) {
        return Err(
            ApiError::new(Code::InvalidParameter, rid, "invalid user id").fields(vec![
                routeq_shared::problem::FieldError::new(
                    "user_id",
                    "invalid_value",
                    "must be 1 to 128 characters, no control characters",
                ),
            ]),
        );
    }
    Ok(())
}

fn station_id(raw: &str, rid: &RequestId) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| {
        ApiError::new(Code::StationNotFound, rid, "a station id is a UUID of ours").fields(vec![
            routeq_shared::problem::FieldError::new(
                "station_id",
                "type",
                "must be a station id (a UUID)",
            ),
        ])
    })
}

/// `GET /v1/users/{user_id}/favourites`.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/favourites",
    tag = "stations",
    summary = "List a user's favourite stations",
    description = "Newest first, retired stations included (with `retired: true`). Users are the tenant's own ids (1-128 characters).",
    params(("user_id" = String, Path, description = "The tenant's id for its user")),
    responses((status = 200, description = "The favourites", body = FavouriteList), StationAnswers)
)]
pub async fn list(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    user_id(&user, &rid)?;
    let pool = pool(&app, &rid)?;
    let found = query(
        &rid,
        routeq_stations::favourites::list(pool, &tenant.id, &user),
    )
    .await?;
    let favourites = found
        .into_iter()
        .map(|f| FavouriteView {
            station: StationView::new(f.station, None),
            created_at: f.created_at,
        })
        .collect();
    Ok(axum::Json(FavouriteList { favourites }).into_response())
}

/// `PUT /v1/users/{user_id}/favourites/{station_id}`: 201 when new, 204 when it already was one.
#[utoipa::path(
    put,
    path = "/v1/users/{user_id}/favourites/{station_id}",
    tag = "stations",
    summary = "Make a station a favourite",
    description = "Idempotent: 201 the first time, 204 after. An unknown station is 422 `STATION_NOT_FOUND`; a retired one can still be kept.",
    params(
        ("user_id" = String, Path, description = "The tenant's id for its user"),
        ("station_id" = Uuid, Path, description = "Our station id"),
    ),
    responses(
        (status = 201, description = "Now a favourite"),
        (status = 204, description = "It already was one"),
        StationAnswers
    )
)]
pub async fn put(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path((user, station)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    user_id(&user, &rid)?;
    let station = station_id(&station, &rid)?;
    let pool = pool(&app, &rid)?;
    let created = query(
        &rid,
        routeq_stations::favourites::put(pool, &tenant.id, &user, station),
    )
    .await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

/// `DELETE /v1/users/{user_id}/favourites/{station_id}`: 204 whether or not it was one.
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}/favourites/{station_id}",
    tag = "stations",
    summary = "Remove a favourite",
    description = "Idempotent: 204 whether or not the station was a favourite.",
    params(
        ("user_id" = String, Path, description = "The tenant's id for its user"),
        ("station_id" = Uuid, Path, description = "Our station id"),
    ),
    responses((status = 204, description = "Not a favourite (any more)"), StationAnswers)
)]
pub async fn delete(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path((user, station)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    user_id(&user, &rid)?;
    let station = station_id(&station, &rid)?;
    let pool = pool(&app, &rid)?;
    query(
        &rid,
        routeq_stations::favourites::delete(pool, &tenant.id, &user, station),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
