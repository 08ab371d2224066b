//! The login form, logging in (a signed session cookie) and logging out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::now_ms;
use serde::Deserialize;

use super::{CsrfForm, Refused, actor, refuse};
use crate::console::Console;
use crate::console::html::page;
use crate::console::session::{COOKIE, SESSION_MS, same_origin};

pub async fn login_form() -> Html<String> {
    Html(page(
        "Log in",
        "",
        None,
        None,
        "<form method=\"post\" action=\"/console/login\"><p><label>Admin credential \
         <input type=\"password\" name=\"credential\" id=\"credential\" autofocus></label> \
         <button id=\"login\">Log in</button></p></form>",
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    credential: String,
}

pub async fn login(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return Refused::CrossSite.into_response();
    }
    if !c.credential.matches(&f.credential) {
        tracing::warn!("console: a login with a wrong credential");
        return refuse(Code::Unauthorized, "That is not the admin credential.");
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        c.credential.new_session(now_ms()),
        SESSION_MS / 1000
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/console".into()),
        ],
    )
        .into_response()
}

pub async fn logout(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = actor(&c, &headers, &f.csrf) {
        return r.into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
            (header::LOCATION, "/console/login".into()),
        ],
    )
        .into_response()
}
