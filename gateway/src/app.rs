//! Building and running the gateway: bind first (port 0 in tests), then serve until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
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
    pub waiters: Waiters,
    pub cfg: GatewayConfig,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    /// Cancelled at shutdown: waiting requests answer with what they have.
    pub shutdown: CancellationToken,
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
                result_ttl_ms: cfg.result_ttl_s * 1000,
            },
        );
        if let Err(e) = store.ensure_group().await {
            tracing::warn!(error = %e, "could not create the consumer group yet (workers create it too)");
        }
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
            waiters: Waiters::default(),
            cfg,
            limits,
            metrics: routeq_shared::telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
        }));
        let router = router(state.clone());
        Ok(Application {
            listener,
            router,
            state,
            client,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
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
        tracing::info!("gateway stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/routes", axum::routing::post(routes::submit))
        .route(
            "/v1/routes/{id}",
            get(routes::get_job).delete(routes::cancel_job),
        )
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(routes::not_found_fallback)
        .with_state(state);
    api.layer(axum::middleware::from_fn(observe)).layer(
        tower_http::catch_panic::CatchPanicLayer::custom(panic_response),
    )
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
