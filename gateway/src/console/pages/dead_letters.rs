//! The dead letters: the list, one letter, and its replay or purge.

use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::now_ms;
use routeq_shared::redis::deadletters::DeadLetters;
use routeq_shared::redis::scripts::{Purged, Replayed};
use serde::Deserialize;

use super::{CsrfForm, actor, done, shown, unavailable, viewer};
use crate::console::Console;
use crate::console::html::{csrf_field, esc, page, when};

fn dead_letters_of(c: &Console) -> DeadLetters {
    DeadLetters::new(
        c.app.store.connection(),
        c.app.store.keys().clone(),
        c.app.store.result_ttl_ms(),
        c.app.store.recording().is_on(),
    )
}

pub async fn dead_letters(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match viewer(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let letters = match dead_letters_of(&c).list(500).await {
        Ok(l) => l,
        Err(e) => return unavailable(e),
    };
    let mut body = format!(
        "<p id=\"count\">{} dead letter(s)</p><table id=\"dead-letters\"><tr><th>job</th><th>tenant</th><th>attempts</th><th>parked at</th><th>reason</th></tr>",
        letters.len()
    );
    for d in &letters {
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/dead-letters/{id}\">{id}</a></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.tenant),
            d.attempts,
            when(d.dead_at_ms),
            esc(&d.reason),
            id = esc(&d.job_id)
        );
    }
    body.push_str("</table>");
    shown(&c, &s, "Dead letters", "Dead letters", &body).await
}

pub async fn dead_letter(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match viewer(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let d = match dead_letters_of(&c).find(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(page(
                    "Dead letter",
                    "Dead letters",
                    Some(&s.csrf),
                    None,
                    &format!("<p class=\"err\">No dead letter {}.</p>", esc(&id)),
                )),
            )
                .into_response();
        }
        Err(e) => return unavailable(e),
    };
    let id = esc(&d.job_id);
    let body = format!(
        "<pre id=\"letter\">{}</pre>\
         <form method=\"post\" action=\"/console/dead-letters/{id}/replay\">{f}<button id=\"replay\">Replay under the same job id</button></form>\
         <form method=\"post\" action=\"/console/dead-letters/{id}/purge\" onsubmit=\"return confirm('Purge {id}? Its job ends failed.')\">{f}\
         <label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" id=\"confirm\"> I understand: the job ends failed</label> <button id=\"purge\">Purge</button></form>",
        esc(&serde_json::to_string_pretty(&d).unwrap_or_default()),
        f = csrf_field(&s.csrf)
    );
    shown(&c, &s, "Dead letter", "Dead letters", &body).await
}

pub async fn replay(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let s = match actor(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let dl = dead_letters_of(&c);
    let d = match dl.find(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return done(
                &s,
                "Dead letters",
                "Replay",
                &format!("{id} is no longer a dead letter"),
            );
        }
        Err(e) => return unavailable(e),
    };
    let msg = match dl.replay(&d, now_ms()).await {
        Ok(Replayed::Queued { job_id }) => format!("replayed {job_id}"),
        Ok(Replayed::AlreadyEnded { job_id, state }) => {
            format!("{job_id} had already ended ({state}); dead letter removed")
        }
        Ok(Replayed::NotFound) => format!("{} is no longer a dead letter", d.job_id),
        Err(e) => return unavailable(e),
    };
    tracing::info!(job_id = %d.job_id, "console: dead letter replayed");
    done(&s, "Dead letters", "Replay", &msg)
}

#[derive(Deserialize)]
pub struct PurgeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub async fn purge(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PurgeForm>,
) -> Response {
    let s = match actor(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if f.confirm != "yes" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(
                "Purge",
                "Dead letters",
                Some(&s.csrf),
                None,
                &format!(
                    "<p class=\"err\">Not purged: tick the confirmation first. <code>{}</code> (confirm)</p><p><a href=\"/console/dead-letters/{}\">Back</a></p>",
                    Code::InvalidField.as_str(),
                    esc(&id)
                ),
            )),
        )
            .into_response();
    }
    let dl = dead_letters_of(&c);
    let d = match dl.find(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return done(
                &s,
                "Dead letters",
                "Purge",
                &format!("{id} is no longer a dead letter"),
            );
        }
        Err(e) => return unavailable(e),
    };
    let msg = match dl.purge(&d, now_ms()).await {
        Ok(Purged::JobEnded) => format!("purged {}: the job ended failed", d.job_id),
        Ok(_) => format!("purged {}", d.job_id),
        Err(e) => return unavailable(e),
    };
    tracing::info!(job_id = %d.job_id, "console: dead letter purged");
    done(&s, "Dead letters", "Purge", &msg)
}
