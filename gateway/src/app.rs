//! Building and running the gateway: bind first (port 0 in tests), then serve until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use routeq_shared::Code;
use routeq_shared::store::{JobStore, Retention};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::error::{ApiError, RequestId};
use crate::metrics as m;
use crate::routes;
use crate::validate::Limits;
use crate::waiters::Waiters;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: JobStore,
    /// The durable record, read when a job has left Redis (its TTL passed). `None` when unset.
    pub db: Option<sqlx::PgPool>,
    pub waiters: Waiters,
    pub cfg: GatewayConfig,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    /// Cancelled at shutdown: waiting requests answer with what they have.
    pub shutdown: CancellationToken,
    pub api_keys: crate::auth::ApiKeys,
    /// The queue as last sampled (admission control reads it; the request path never samples).
    pub queue: Arc<crate::sampler::QueueView>,
    /// Bounds the requests waiting for results at once.
    pub wait_slots: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    client: redis::Client,
    /// The admin listener (/metrics, /healthz, /readyz), when configured apart from the API.
    admin: Option<TcpListener>,
}

impl Application {
    /// Checks the configuration, connects lazily to Redis and binds the listener.
    pub async fn build(cfg: GatewayConfig) -> anyhow::Result<Application> {
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let keys = cfg.redis.keys()?;
        let conn = cfg.redis.command_connection()?;
        let client = cfg.redis.client()?;
        let store = JobStore::new(
            conn,
            keys,
            Retention {
                record: cfg.records == routeq_shared::store::RecordsMode::On,
                result_ttl_ms: cfg.result_ttl_s * 1000,
            },
        );
        if let Err(e) = store.ensure_group().await {
            tracing::warn!(error = %e, "could not create the consumer group yet (workers create it too)");
        }
        let db = cfg.db.pool().transpose().context("database URL")?;
        let api_keys = crate::auth::ApiKeys::new(store.connection(), store.keys().clone());
        let (max_waiters, admin_listen) = (cfg.max_waiters, cfg.admin_listen);
        let limits = Limits {
            max_waypoints: cfg.max_waypoints,
            max_address_chars: cfg.max_address_chars,
            default_deadline_ms: cfg.default_deadline_ms,
            min_deadline_ms: cfg.min_deadline_ms,
            max_deadline_ms: cfg.max_deadline_ms,
        };
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding {}", cfg.listen))?;
        let state = AppState(Arc::new(Inner {
            store,
            db,
            waiters: Waiters::default(),
            cfg,
            limits,
            metrics: routeq_shared::telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
            api_keys,
            queue: Arc::new(crate::sampler::QueueView::default()),
            wait_slots: Arc::new(tokio::sync::Semaphore::new(max_waiters)),
        }));
        let admin = match admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
            ),
            None => None,
        };
        if state.cfg.auth == crate::auth::AuthMode::Open {
            tracing::warn!(
                tenant = %state.cfg.default_tenant,
                "AUTH IS OFF (--auth open): every request acts as the default tenant. Never expose this gateway; use --auth keys in production."
            );
        }
        let router = router(state.clone(), admin.is_none());
        Ok(Application {
            listener,
            router,
            state,
            client,
            admin,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when one is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting, lets waiting requests answer and
    /// in-flight requests finish within the configured grace.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = self.state.shutdown.clone();
        let subscriber = tokio::spawn(self.state.waiters.clone().run(
            self.client.clone(),
            self.state.store.keys().done_channel(),
            token.clone(),
        ));
        let admin_task = self.admin.map(|listener| {
            let router = ops_router(self.state.clone()).layer(axum::middleware::from_fn(observe));
            let t = token.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { t.cancelled().await })
                    .await;
            })
        });
        if self.state.cfg.records == routeq_shared::store::RecordsMode::Auto {
            let (store, t) = (self.state.store.clone(), token.clone());
            tokio::spawn(async move { store.watch_recorders(t.cancelled_owned()).await });
        }
        let sampler = tokio::spawn(crate::sampler::run(
            self.state.store.clone(),
            self.state.queue.clone(),
            Duration::from_millis(self.state.cfg.sample_interval_ms),
            token.clone(),
        ));
        let grace = Duration::from_millis(self.state.cfg.shutdown_grace_ms);
        tracing::info!(addr = %self.listener.local_addr()?, "gateway listening");
        let signal_token = token.clone();
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            signal_token.cancel();
        });
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            r = &mut serve => r?,
            () = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
            }
        }
        token.cancel();
        let _ = subscriber.await;
        let _ = sampler.await;
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// /metrics, /healthz and /readyz: on the admin listener, or on the public one when none is set.
fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(routes::not_found_fallback)
        .with_state(state)
}

fn router(state: AppState, with_ops: bool) -> Router {
    let mut api = Router::new()
        .route("/v1/routes", axum::routing::post(routes::submit))
        .route(
            "/v1/routes/{id}",
            get(routes::get_job).delete(routes::cancel_job),
        )
        // Only the API routes above need a tenant; the operational ones below do not.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    api = api
        .route("/openapi.json", get(routes::openapi_json))
        .route("/docs", get(routes::docs));
    if with_ops {
        api = api
            .route("/healthz", get(routes::healthz))
            .route("/readyz", get(routes::readyz))
            .route("/metrics", get(routes::metrics));
    }
    if state.cfg.debug_panic_route {
        api = api.route("/_debug/panic", get(routes::debug_panic));
    }
    let max_header_bytes = state.cfg.max_header_bytes;
    api.method_not_allowed_fallback(routes::method_not_allowed)
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(routes::not_found_fallback)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            max_header_bytes,
            limit_headers,
        ))
        .layer(axum::middleware::from_fn(observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
}

/// Refuses requests whose headers, all together, exceed the configured size (431).
async fn limit_headers(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > limit {
        let rid = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()));
        return ApiError::new(
            Code::HeadersTooLarge,
            &rid,
            format!("request headers must total at most {limit} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Accepts or generates the request id, echoes it, and records request metrics.
async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().as_str().to_string();
    req.extensions_mut().insert(RequestId(rid.clone()));
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut().insert("x-request-id", v);
    }
    let route = res
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!(m::HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(m::HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    res
}

/// Copies the matched route template into the response, for the request metrics' `route` label.
async fn tag_route(req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(path) = path {
        res.extensions_mut().insert(path);
    }
    res
}

/// Client-sent request ids are kept when they are short and plain; otherwise we make our own.
fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        Code::InternalError,
        &RequestId(String::new()),
        "internal error",
    )
    .into_response()
}
