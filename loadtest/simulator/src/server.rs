//! The HTTP surface: routing, the per-request fault pipeline, the admin endpoints and
//! `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::faults::{
    FaultPatch, FaultTable, FaultTarget, Faults, Outcome, PerProvider, Provider, ProviderState,
    Roll, Stats,
};
use crate::reply::{Fault, Reply, fault};
use crate::{SimError, kakao, nominatim, osrm};

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    providers: [ProviderState; 4],
    started: Instant,
    kakao_key: Option<Box<str>>,
    pub(crate) shutdown: CancellationToken,
    /// Serialises fault-table updates (admin only; never on the request path).
    admin: Mutex<()>,
}

/// The outcome of the arrival step: either the answer is already decided (down, auth, fault),
/// or the handler must compute it.
enum Gate {
    Done(Reply, Wait),
    Proceed(Ticket),
}

#[derive(Clone, Copy)]
struct Ticket {
    provider: Provider,
    malformed: bool,
    latency_ms: u64,
    hash: u64,
}

#[derive(Clone, Copy)]
enum Wait {
    None,
    Latency(u64),
    Hang(u64),
}

impl Shared {
    pub(crate) fn new(initial: &Faults, kakao_key: Option<String>) -> Shared {
        Shared {
            providers: Provider::ALL.map(|p| ProviderState::new(p, initial)),
            started: Instant::now(),
            kakao_key: kakao_key.map(String::into_boxed_str),
            shutdown: CancellationToken::new(),
            admin: Mutex::new(()),
        }
    }

    fn state(&self, p: Provider) -> &ProviderState {
        &self.providers[p.index()]
    }

    fn now_sec(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Counts the arrival, then applies `down`, the credential check and the fault roll.
    fn arrive(&self, p: Provider, credentials: Result<(), Reply>) -> Gate {
        let st = self.state(p);
        let n = st.arrive(self.now_sec());
        if st.is_down() {
            st.count(Outcome::Down);
            return Gate::Done(fault(p, Fault::Down), Wait::None);
        }
        let d = st.decide(n);
        let latency = if d.latency_ms == 0 {
            Wait::None
        } else {
            Wait::Latency(d.latency_ms)
        };
        if let Err(reply) = credentials {
            st.count(reply.outcome);
            return Gate::Done(reply, latency);
        }
        let (reply, wait) = match d.roll {
            Roll::Pass | Roll::Malformed => {
                return Gate::Proceed(Ticket {
                    provider: p,
                    malformed: d.roll == Roll::Malformed,
                    latency_ms: d.latency_ms,
                    hash: d.hash,
                });
            }
            Roll::Timeout => (fault(p, Fault::Timeout), Wait::Hang(st.hang_ms())),
            Roll::RateLimited => {
                let mut r = fault(p, Fault::RateLimited);
                r.retry_after = Some(st.retry_after_s());
                (r, latency)
            }
            Roll::Error => (fault(p, Fault::Error), latency),
        };
        st.count(reply.outcome);
        Gate::Done(reply, wait)
    }

    /// Turns the handler's answer into the final one (malformed body, quota) and counts it.
    fn complete(&self, t: Ticket, mut reply: Reply) -> (Reply, Wait) {
        let st = self.state(t.provider);
        if t.malformed {
            let cut = (reply.body.len() / 2).max(1).min(reply.body.len());
            reply.body.truncate(cut);
            reply.status = StatusCode::OK;
            reply.outcome = Outcome::Malformed;
        } else if reply.outcome == Outcome::Ok && !st.take_quota() {
            reply = fault(t.provider, Fault::Quota);
        }
        st.count(reply.outcome);
        let wait = if t.latency_ms == 0 {
            Wait::None
        } else {
            Wait::Latency(t.latency_ms)
        };
        (reply, wait)
    }

    async fn respond(&self, reply: Reply, wait: Wait) -> Response {
        let ms = match wait {
            Wait::None => return reply.into_response(),
            Wait::Latency(ms) | Wait::Hang(ms) => ms,
        };
        if ms > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        reply.into_response()
    }

    pub(crate) fn faults(&self) -> FaultTable {
        PerProvider::from_fn(|p| self.state(p).snapshot())
    }

    pub(crate) fn set_faults(
        &self,
        target: FaultTarget,
        patch: &FaultPatch,
    ) -> Result<FaultTable, SimError> {
        let _guard = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = self.faults();
        for p in Provider::ALL {
            if target.includes(p) {
                let f = match p {
                    Provider::Osrm => &mut next.osrm,
                    Provider::Nominatim => &mut next.nominatim,
                    Provider::KakaoDirections => &mut next.kakao_directions,
                    Provider::KakaoLocal => &mut next.kakao_local,
                };
                patch.apply(f);
                f.validate()
                    .map_err(|e| SimError::InvalidConfig(format!("{p}: {e}")))?;
            }
        }
        for p in Provider::ALL {
            if target.includes(p) {
                self.state(p).store(next.get(p));
            }
        }
        Ok(next)
    }

    pub(crate) fn stats(&self) -> Stats {
        let providers = PerProvider::from_fn(|p| self.state(p).stats());
        let total = Provider::ALL
            .iter()
            .map(|&p| providers.get(p).requests())
            .sum();
        Stats { total, providers }
    }

    pub(crate) fn reset_stats(&self) {
        let now = self.now_sec();
        for st in &self.providers {
            st.reset(now);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provider handlers

async fn osrm_route(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (reply, wait) = match s.arrive(Provider::Osrm, Ok(())) {
        Gate::Done(r, w) => (r, w),
        Gate::Proceed(t) => s.complete(t, osrm::handle(req.uri().path(), req.uri().query())),
    };
    s.respond(reply, wait).await
}

async fn nominatim_search(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let credentials = nominatim::check_identity(req.headers());
    let (reply, wait) = match s.arrive(Provider::Nominatim, credentials) {
        Gate::Done(r, w) => (r, w),
        Gate::Proceed(t) => s.complete(t, nominatim::handle(req.uri().query())),
    };
    s.respond(reply, wait).await
}

async fn kakao_directions(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let p = Provider::KakaoDirections;
    let credentials = kakao::check_key(req.headers(), s.kakao_key.as_deref(), p);
    let (reply, wait) = match s.arrive(p, credentials) {
        Gate::Done(r, w) => (r, w),
        Gate::Proceed(t) => s.complete(t, kakao::directions(req.uri().query(), t.hash)),
    };
    s.respond(reply, wait).await
}

async fn kakao_local(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let p = Provider::KakaoLocal;
    let credentials = kakao::check_key(req.headers(), s.kakao_key.as_deref(), p);
    let (reply, wait) = match s.arrive(p, credentials) {
        Gate::Done(r, w) => (r, w),
        Gate::Proceed(t) => s.complete(t, kakao::local(req.uri().query())),
    };
    s.respond(reply, wait).await
}

// ---------------------------------------------------------------------------------------------
// Admin, metrics, health

#[derive(Serialize)]
struct AdminError {
    error: String,
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn admin_error(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &AdminError { error: message })
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &s.faults())
}

async fn post_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(format!("invalid JSON: {e}")),
    };
    let serde_json::Value::Object(mut map) = value else {
        return admin_error("the body must be a JSON object".to_owned());
    };
    let target = match map.remove("provider") {
        None => FaultTarget::All,
        Some(v) => match serde_json::from_value::<FaultTarget>(v) {
            Ok(t) => t,
            Err(_) => {
                return admin_error(
                    "provider must be one of all, osrm, nominatim, kakao_directions, kakao_local"
                        .to_owned(),
                );
            }
        },
    };
    let patch: FaultPatch = match serde_json::from_value(serde_json::Value::Object(map)) {
        Ok(p) => p,
        Err(e) => return admin_error(format!("invalid fault patch: {e}")),
    };
    match s.set_faults(target, &patch) {
        Ok(table) => {
            tracing::info!(?target, ?patch, "fault table updated");
            json_response(StatusCode::OK, &table)
        }
        Err(e) => admin_error(e.to_string()),
    }
}

async fn get_stats(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &s.stats())
}

async fn reset_stats(State(s): State<Arc<Shared>>) -> Response {
    s.reset_stats();
    json_response(StatusCode::OK, &s.stats())
}

/// Prometheus text exposition (format 0.0.4), rendered by `metrics-exporter-prometheus` from a
/// recorder of this call's own, filled from the counters and the fault table.
pub(crate) fn render_metrics(stats: &Stats, faults: &FaultTable) -> String {
    use routeq_shared::metrics::sim as m;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for metric in m::ALL {
            metric.describe();
        }
        for p in Provider::ALL {
            let provider = p.as_str();
            let s = stats.providers.get(p);
            for o in Outcome::ALL {
                metrics::counter!(m::REQUESTS.name, "provider" => provider, "outcome" => o.as_str())
                    .absolute(s.get(o));
            }
            metrics::gauge!(m::MAX_RPS.name, "provider" => provider).set(s.max_per_second as f64);
            let f = faults.get(p);
            for (kind, v) in [
                ("error", f.error_rate),
                ("rate_limited", f.rate_429),
                ("timeout", f.timeout_rate),
                ("malformed", f.malformed_rate),
            ] {
                metrics::gauge!(m::FAULT_RATE.name, "provider" => provider, "kind" => kind).set(v);
            }
            metrics::gauge!(m::DOWN.name, "provider" => provider).set(f64::from(u8::from(f.down)));
            for (bound, v) in [("min", f.latency_min_ms), ("max", f.latency_max_ms)] {
                metrics::gauge!(m::LATENCY_MS.name, "provider" => provider, "bound" => bound)
                    .set(v as f64);
            }
        }
    });
    handle.render()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        render_metrics(&s.stats(), &s.faults()),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &AdminError {
            error: "not found".to_owned(),
        },
    )
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/route/{*rest}", get(osrm_route))
        .route("/search", get(nominatim_search))
        .route("/search.php", get(nominatim_search))
        .route("/v1/directions", get(kakao_directions))
        .route("/v2/local/search/address.json", get(kakao_local))
        .route("/_sim/faults", get(get_faults).post(post_faults))
        .route("/_sim/stats", get(get_stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(shared)
}
