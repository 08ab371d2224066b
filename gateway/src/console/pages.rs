//! The console's pages and actions.

use std::fmt::Write;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use routeq_shared::Code;
use routeq_shared::admin::{jobs, pause, stats};
use routeq_shared::job::now_ms;
use routeq_shared::redis::apikeys::{ApiKeys, valid_tenant};
use routeq_shared::redis::deadletters::DeadLetters;
use routeq_shared::redis::scripts::{Purged, Replayed};
use serde::Deserialize;

use super::Console;
use super::html::{csrf_field, esc, page, when};
use super::session::{COOKIE, SESSION_MS, Session, same_origin};

// ---- who may ----

/// A refusal: no session (a page goes to the login form, the JSON endpoint answers 401), or a
/// post that is not the console's own (403).
fn refuse(status: StatusCode, code: Code, why: &str) -> Response {
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
                StatusCode::UNAUTHORIZED,
                Code::Unauthorized,
                "Log in with the admin credential first.",
            ),
            Refused::CrossSite => refuse(
                StatusCode::FORBIDDEN,
                Code::Unauthorized,
                "Refused: this action did not come from the console's own origin.",
            ),
            Refused::BadToken => refuse(
                StatusCode::FORBIDDEN,
                Code::Unauthorized,
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

// ---- login ----

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
        return refuse(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            "That is not the admin credential.",
        );
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

// ---- overview ----

/// The overview as JSON (polled by the overview page): `routeq_shared::admin::stats::overview`
/// plus the tenants' open jobs.
pub async fn overview_json(State(c): State<Console>, headers: HeaderMap) -> Response {
    if c.credential.session(&headers, now_ms()).is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"code": Code::Unauthorized.as_str(), "detail": "log in to the console first"})),
        )
            .into_response();
    }
    let conn = c.app.store.connection();
    let keys = c.app.store.keys();
    let o = match stats::overview(&conn, keys, Duration::from_millis(500)).await {
        Ok(o) => o,
        Err(e) => return unavailable(e),
    };
    let tenants = stats::tenants(&conn, keys).await.unwrap_or_default();
    let mut v = serde_json::to_value(&o).unwrap_or_default();
    v["tenants"] = serde_json::to_value(tenants).unwrap_or_default();
    Json(v).into_response()
}

const OVERVIEW_JS: &str = r#"
const fmt=(v,d)=>typeof v==='number'?v.toFixed(d):String(v);
function cell(tr,text,cls){const td=document.createElement('td');td.textContent=text;if(cls)td.className=cls;tr.appendChild(td);}
function rows(id,items,f){const tb=document.getElementById(id);tb.replaceChildren();for(const it of items){const tr=document.createElement('tr');f(tr,it);tb.appendChild(tr);}}
async function refresh(){
  try{
    const r=await fetch('/console/api/overview',{credentials:'same-origin'});
    if(r.status===401){location.href='/console/login';return;}
    const o=await r.json();
    for(const [k,d] of [['backlog',0],['queued',0],['in_flight',0],['oldest_age_s',1],['arrival_per_s',1],['completion_per_s',1],['predicted_wait_s',1],['dead_letters',0],['workers_alive',0],['records_backlog',0]]){
      document.getElementById(k).textContent=fmt(o[k],d);
    }
    document.getElementById('rates_from').textContent=o.rates_from;
    document.getElementById('updated').textContent=new Date(o.at_ms).toISOString();
    document.getElementById('paused').style.display=o.paused?'block':'none';
    if(o.paused)document.getElementById('paused').textContent='Paused since '+new Date(o.paused.since_ms).toISOString()+' '+o.paused.reason+': workers take no new jobs; submits still queue.';
    rows('workers',o.workers,(tr,w)=>{cell(tr,w.name);cell(tr,w.alive?'yes':'no');cell(tr,w.in_flight,'num');cell(tr,new Date(w.last_seen_ms).toISOString());});
    rows('providers',o.providers,(tr,p)=>{cell(tr,p.provider);cell(tr,p.breaker,p.breaker);cell(tr,p.open,'num');cell(tr,p.half_open,'num');cell(tr,p.closed,'num');});
    rows('tenants',o.tenants,(tr,t)=>{cell(tr,t.tenant);cell(tr,t.open_jobs,'num');});
  }catch(e){document.getElementById('updated').textContent='refresh failed: '+e;}
}
refresh();setInterval(refresh,1000);
"#;

pub async fn overview(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match viewer(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let card =
        |id: &str, label: &str| format!("<div class=\"card\">{label}<b id=\"{id}\">…</b></div>");
    let mut body = String::from(
        "<p id=\"paused\" class=\"paused\" style=\"display:none\"></p><div class=\"cards\">",
    );
    for (id, label) in [
        ("backlog", "Backlog"),
        ("queued", "Queued"),
        ("in_flight", "In flight"),
        ("oldest_age_s", "Oldest job (s)"),
        ("arrival_per_s", "Arrivals /s"),
        ("completion_per_s", "Completions /s"),
        ("predicted_wait_s", "Predicted wait (s)"),
        ("workers_alive", "Workers alive"),
        ("dead_letters", "Dead letters"),
        ("records_backlog", "Records backlog"),
    ] {
        body.push_str(&card(id, label));
    }
    body.push_str(
        "</div><p>Rates from: <span id=\"rates_from\"></span> · updated <span id=\"updated\"></span></p>\
         <h2>Workers</h2><table><thead><tr><th>worker</th><th>alive</th><th>in flight</th><th>last seen</th></tr></thead><tbody id=\"workers\"></tbody></table>\
         <h2>Providers</h2><table><thead><tr><th>provider</th><th>breaker</th><th>open</th><th>half-open</th><th>closed</th></tr></thead><tbody id=\"providers\"></tbody></table>\
         <h2>Tenants (with a queue cap)</h2><table><thead><tr><th>tenant</th><th>unfinished jobs</th></tr></thead><tbody id=\"tenants\"></tbody></table>",
    );
    let _ = write!(body, "<script>{OVERVIEW_JS}</script>");
    Html(page(
        "Overview",
        "Overview",
        Some(&s.csrf),
        paused(&c).await,
        &body,
    ))
    .into_response()
}

// ---- jobs ----

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
    Html(page("Jobs", "Jobs", Some(&s.csrf), paused(&c).await, &body)).into_response()
}

// ---- dead letters ----

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
    Html(page(
        "Dead letters",
        "Dead letters",
        Some(&s.csrf),
        paused(&c).await,
        &body,
    ))
    .into_response()
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
    Html(page(
        "Dead letter",
        "Dead letters",
        Some(&s.csrf),
        paused(&c).await,
        &body,
    ))
    .into_response()
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

// ---- tenants and keys ----

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
    Html(page(
        "Tenants & keys",
        "Tenants & keys",
        Some(&s.csrf),
        paused(&c).await,
        &body,
    ))
    .into_response()
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

// ---- pause ----

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
