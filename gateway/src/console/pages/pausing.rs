//! Pausing and resuming the fleet's consumption.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use routeq_shared::admin::pause;
use serde::Deserialize;

use super::{CsrfForm, actor, unavailable};
use crate::console::Console;

#[derive(Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn pause(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<PauseForm>,
) -> Response {
    if let Err(r) = actor(&c, &headers, &f.csrf) {
        return r.into_response();
    }
    let reason = if f.reason.is_empty() {
        "from the console"
    } else {
        &f.reason
    };
    match pause::pause(&c.app.store.connection(), c.app.store.keys(), reason).await {
        Ok(_) => {
            tracing::info!("console: consumption paused");
            Redirect::to("/console").into_response()
        }
        Err(e) => unavailable(e),
    }
}

pub async fn resume(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = actor(&c, &headers, &f.csrf) {
        return r.into_response();
    }
    match pause::resume(&c.app.store.connection(), c.app.store.keys()).await {
        Ok(_) => {
            tracing::info!("console: consumption resumed");
            Redirect::to("/console").into_response()
        }
        Err(e) => unavailable(e),
    }
}
