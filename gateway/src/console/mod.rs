//! The web console at `/console` on the admin listener: server-rendered HTML with a little
//! inline JavaScript (the overview polls `/console/api/overview`), no external assets, behind
//! the admin credential with CSRF protection on every action ([`session`]).
//!
//! It reads and acts through the same functions as `routeq-admin` (`routeq_shared::admin`, the
//! dead letters and the API key store), so the console, the CLI and `/metrics` agree.

pub mod html;
mod pages;
pub mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;
pub use session::Credential;

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    pub credential: Credential,
}

/// The console's routes (merged into the admin listener's router).
pub fn router(app: AppState, credential: Credential) -> Router {
    let console = Console { app, credential };
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/", get(pages::overview))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/api/overview", get(pages::overview_json))
        .route("/console/jobs", get(pages::jobs))
        .route("/console/dead-letters", get(pages::dead_letters))
        .route("/console/dead-letters/{id}", get(pages::dead_letter))
        .route("/console/dead-letters/{id}/replay", post(pages::replay))
        .route("/console/dead-letters/{id}/purge", post(pages::purge))
        .route("/console/tenants", get(pages::tenants))
        .route("/console/keys", post(pages::create_key))
        .route("/console/keys/{id}/revoke", post(pages::revoke_key))
        .route("/console/pause", post(pages::pause))
        .route("/console/resume", post(pages::resume))
        .with_state(console)
}
