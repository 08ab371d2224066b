//! Tenants and their API keys: the list, creating a key, revoking one.

use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::admin::stats;
use routeq_shared::redis::apikeys::{ApiKeys, valid_tenant};
use serde::Deserialize;

use super::{CsrfForm, actor, done, shown, unavailable, viewer};
use crate::console::Console;
use crate::console::html::{csrf_field, esc, page, when};

fn key_store(c: &Console) -> ApiKeys {
    ApiKeys::new(c.app.store.connection(), c.app.store.keys().clone())
}

pub async fn tenants(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match viewer(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let conn = c.app.store.connection();
    let (open, keys) = match (
        stats::tenants(&conn, c.app.store.keys()).await,
        key_store(&c).list().await,
    ) {
        (Ok(o), Ok(k)) => (o, k),
        (Err(e), _) | (_, Err(e)) => return unavailable(e),
    };
    let cfg = &c.app.cfg;
    let mut body = format!(
        "<p>Defaults for keys without limits of their own: {} requests/s, {} queued (0 = unlimited); default tenant <code>{}</code>.</p>\
         <h2>Unfinished jobs per tenant</h2><p>Counted for tenants with a queue cap (--tenant-max-queued or a key with its own max queued): the cap keeps the set that is counted.</p><table id=\"open\"><tr><th>tenant</th><th>unfinished jobs</th></tr>",
        cfg.tenant_rate_per_s,
        cfg.tenant_max_queued,
        esc(&cfg.default_tenant)
    );
    for t in &open {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&t.tenant),
            t.open_jobs
        );
    }
    body.push_str("</table><h2>API keys</h2><table id=\"keys\"><tr><th>id</th><th>tenant</th><th>rate /s</th><th>max queued</th><th>created</th><th></th></tr>");
    for k in &keys {
        let _ = write!(
            body,
            "<tr><td>{id}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td><form method=\"post\" action=\"/console/keys/{id}/revoke\" onsubmit=\"return confirm('Revoke key {id}?')\">{}<button>Revoke</button></form></td></tr>",
            esc(&k.tenant),
            k.rate_per_s,
            k.max_queued,
            when(k.created_ms),
            csrf_field(&s.csrf),
            id = esc(&k.id)
        );
    }
    let _ = write!(
        body,
        "</table><h2>Create a key</h2><form method=\"post\" action=\"/console/keys\">{}\
         <label>tenant <input name=\"tenant\" id=\"tenant\"></label> <label>rate /s <input name=\"rate\" value=\"0\" size=\"6\"></label> \
         <label>max queued <input name=\"max_queued\" value=\"0\" size=\"6\"></label> <button id=\"create\">Create</button></form>",
        csrf_field(&s.csrf)
    );
    shown(&c, &s, "Tenants & keys", "Tenants & keys", &body).await
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    rate: String,
    #[serde(default)]
    max_queued: String,
}

pub async fn create_key(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<KeyForm>,
) -> Response {
    let s = match actor(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let number = |v: &str| {
        if v.trim().is_empty() {
            Some(0)
        } else {
            v.trim().parse::<u64>().ok()
        }
    };
    let (rate, max_queued) = (number(&f.rate), number(&f.max_queued));
    let bad = if !valid_tenant(&f.tenant) {
        Some("tenant")
    } else if rate.is_none() {
        Some("rate")
    } else if max_queued.is_none() {
        Some("max_queued")
    } else {
        None
    };
    if let Some(field) = bad {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(
                "Create a key",
                "Tenants & keys",
                Some(&s.csrf),
                None,
                &format!(
                    "<p class=\"err\">Not created: <code>{}</code> ({field}). A tenant is 1-64 letters, digits, '-', '_' or '.'; limits are whole numbers.</p>",
                    Code::InvalidField.as_str()
                ),
            )),
        )
            .into_response();
    }
    match key_store(&c)
        .create(&f.tenant, rate.unwrap_or(0), max_queued.unwrap_or(0))
        .await
    {
        Ok((id, key)) => {
            tracing::info!(key_id = %id, tenant = %f.tenant, "console: API key created");
            Html(page(
                "Key created",
                "Tenants & keys",
                Some(&s.csrf),
                None,
                &format!(
                    "<p>Key <code>{}</code> for tenant <code>{}</code>. It is shown only now; it is stored only as a hash:</p><pre id=\"key\">{}</pre><p><a href=\"/console/tenants\">Back</a></p>",
                    esc(&id),
                    esc(&f.tenant),
                    esc(&key)
                ),
            ))
            .into_response()
        }
        Err(e) => unavailable(e),
    }
}

pub async fn revoke_key(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let s = match actor(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match key_store(&c).revoke(&id).await {
        Ok(true) => {
            tracing::info!(key_id = %id, "console: API key revoked");
            done(
                &s,
                "Tenants & keys",
                "Key revoked",
                &format!("revoked key {id}"),
            )
        }
        Ok(false) => done(
            &s,
            "Tenants & keys",
            "Key revoked",
            &format!("no key with id {id}"),
        ),
        Err(e) => unavailable(e),
    }
}
