//! Looking up one job (by id or request id) with its history.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::admin::jobs;
use serde::Deserialize;

use super::{shown, unavailable, viewer};
use crate::console::Console;
use crate::console::html::{esc, when};

#[derive(Deserialize)]
pub struct JobQuery {
    #[serde(default)]
    q: String,
}

fn job_html(j: &jobs::JobDetail) -> String {
    let mut b = String::new();
    let _ = write!(b, "<table id=\"job\">");
    for (k, v) in [
        ("job", j.id.clone()),
        ("tenant", j.tenant.clone()),
        ("request id", j.request_id.clone()),
        ("state", format!("{} ({})", j.state, j.code)),
        ("submitted", when(j.submitted_ms)),
        ("deadline", when(j.deadline_ms)),
        (
            "started",
            format!("{} (waited {} ms)", when(j.started_ms), j.waited_ms),
        ),
        (
            "finished",
            format!("{} (ran {} ms)", when(j.finished_ms), j.ran_ms),
        ),
        ("attempts", j.attempts.to_string()),
        ("last worker", j.worker.clone()),
        ("dead letter", j.dead_letter.clone()),
    ] {
        let _ = write!(b, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    b.push_str("</table><h2>History</h2><table><tr><th>delivery</th><th>worker</th><th>started</th><th>what became of it</th></tr>");
    for d in &j.history {
        let _ = write!(
            b,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.delivery,
            esc(&d.worker),
            when(d.started_ms),
            esc(&d.error)
        );
    }
    let _ = write!(
        b,
        "</table><h2>Outcome</h2><pre>{}</pre><h2>Request</h2><pre>{}</pre>",
        esc(&serde_json::to_string_pretty(&j.outcome).unwrap_or_default()),
        esc(&serde_json::to_string_pretty(&j.request).unwrap_or_default())
    );
    b
}

pub async fn jobs(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<JobQuery>,
) -> Response {
    let s = match viewer(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let q = q.q.trim().to_string();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/jobs\"><input name=\"q\" id=\"q\" size=\"44\" placeholder=\"job id or request id\" value=\"{}\"> <button id=\"find\">Find</button></form>",
        esc(&q)
    );
    if !q.is_empty() {
        let conn = c.app.store.connection();
        let keys = c.app.store.keys();
        let found = if uuid::Uuid::parse_str(&q).is_ok() {
            jobs::show(&conn, keys, &q)
                .await
                .map(|j| j.into_iter().collect::<Vec<_>>())
        } else {
            jobs::by_request_id(&conn, keys, &q, 20).await
        };
        match found {
            Err(e) => return unavailable(e),
            Ok(found) if found.is_empty() => {
                let _ = write!(
                    body,
                    "<p class=\"err\">No job {} in Redis (unknown, or past its result TTL). <code>{}</code></p>",
                    esc(&q),
                    Code::JobNotFound.as_str()
                );
            }
            Ok(found) => {
                for j in &found {
                    body.push_str(&job_html(j));
                }
            }
        }
    }
    shown(&c, &s, "Jobs", "Jobs", &body).await
}
