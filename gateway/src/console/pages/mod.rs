//! The console's pages and actions, one module per page; this module owns who may use them
//! (a session to view, a session + CSRF token + our own origin to act) and the shared answers.

mod dead_letters;
mod job_lookup;
mod login;
mod overview;
mod pausing;
mod tenants;

pub use dead_letters::{dead_letter, dead_letters, purge, replay};
pub use job_lookup::jobs;
pub use login::{login, login_form, logout};
pub use overview::{overview, overview_json};
pub use pausing::{pause, resume};
pub use tenants::{create_key, revoke_key, tenants};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use routeq_shared::Code;
use routeq_shared::admin::pause;
use routeq_shared::job::now_ms;
use serde::Deserialize;

use crate::console::Console;
use crate::console::html::{esc, page};
use crate::console::session::{Session, same_origin};

// ---- who may ----

/// A refusal: no session (a page goes to the login form, the JSON endpoint answers 401), or a
/// post that is not the console's own (403).
fn refuse(code: Code, why: &str) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = page(
        "Refused",
        "",
        None,
        None,
        &format!(
            "<p class=\"err\">{} <code>{}</code></p><p><a href=\"/console/login\">Log in</a></p>",
            esc(why),
            code.as_str()
        ),
    );
    (status, Html(body)).into_response()
}

/// Why a request may not use the console.
#[derive(Debug, Clone, Copy)]
pub enum Refused {
    /// A page without a session: to the login form.
    Login,
    /// An action without a session.
    NoSession,
    /// An action from another origin.
    CrossSite,
    /// An action without this session's CSRF token.
    BadToken,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Login => Redirect::to("/console/login").into_response(),
            Refused::NoSession => refuse(
                Code::Unauthorized,
                "Log in with the admin credential first.",
            ),
            Refused::CrossSite => refuse(
                Code::ConsoleForbidden,
                "Refused: this action did not come from the console's own origin.",
            ),
            Refused::BadToken => refuse(
                Code::ConsoleForbidden,
                "Refused: the form's CSRF token does not belong to this session.",
            ),
        }
    }
}

/// The session of a page view, or a redirect to the login form.
fn viewer(c: &Console, headers: &HeaderMap) -> Result<Session, Refused> {
    c.credential
        .session(headers, now_ms())
        .ok_or(Refused::Login)
}

/// The session of an action: a valid session, its CSRF token, and our own origin.
fn actor(c: &Console, headers: &HeaderMap, csrf: &str) -> Result<Session, Refused> {
    if !same_origin(headers) {
        return Err(Refused::CrossSite);
    }
    let s = c
        .credential
        .session(headers, now_ms())
        .ok_or(Refused::NoSession)?;
    if csrf.is_empty() || csrf != s.csrf {
        return Err(Refused::BadToken);
    }
    Ok(s)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console: Redis failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(page(
            "Unavailable",
            "",
            None,
            None,
            &format!(
                "<p class=\"err\">Redis did not answer; try again. <code>{}</code></p>",
                Code::QueueUnavailable.as_str()
            ),
        )),
    )
        .into_response()
}

/// A signed-in viewer's page: the navigation with the pause switch as it is now, then `body`.
async fn shown(c: &Console, s: &Session, title: &str, active: &str, body: &str) -> Response {
    Html(page(title, active, Some(&s.csrf), paused(c).await, body)).into_response()
}

async fn paused(c: &Console) -> Option<bool> {
    let conn = c.app.store.connection();
    pause::get(&conn, c.app.store.keys())
        .await
        .ok()
        .map(|p| p.is_some())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn done(s: &Session, active: &str, title: &str, message: &str) -> Response {
    Html(page(
        title,
        active,
        Some(&s.csrf),
        None,
        &format!("<p id=\"result\">{}</p>", esc(message)),
    ))
    .into_response()
}
