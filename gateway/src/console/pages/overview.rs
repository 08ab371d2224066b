//! The overview page and the JSON it polls (queue, rates, workers, breakers, tenants).

use std::fmt::Write;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::admin::stats;
use routeq_shared::job::now_ms;

use super::{shown, unavailable, viewer};
use crate::console::Console;

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
    rows('rates',o.rate_limits,(tr,r)=>{cell(tr,r.provider);cell(tr,r.reserved_ahead_ms,'num');cell(tr,r.held_ms,'num');});
    rows('errors',o.recent_errors,(tr,c)=>{cell(tr,c.code);cell(tr,c.count,'num');});
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
         <h2>Recent error codes (5 min)</h2><table><thead><tr><th>code</th><th>jobs</th></tr></thead><tbody id=\"errors\"></tbody></table>\
         <h2>Rate limits</h2><p>Slots reserved ahead: how long a call waits for its slot now (above 0 the provider's quota is in full use).</p><table><thead><tr><th>provider</th><th>reserved ahead (ms)</th><th>Retry-After hold (ms)</th></tr></thead><tbody id=\"rates\"></tbody></table>\
         <h2>Tenants (with a queue cap)</h2><table><thead><tr><th>tenant</th><th>unfinished jobs</th></tr></thead><tbody id=\"tenants\"></tbody></table>",
    );
    let _ = write!(body, "<script>{OVERVIEW_JS}</script>");
    shown(&c, &s, "Overview", "Overview", &body).await
}
