//! `routeq-direct`: the load tests' direct baseline — what an app without routeq does. It serves
//! the same `POST /v1/routes` contract but answers synchronously: each request takes one of
//! `--concurrency` slots (the same budget as routeq's workers × concurrency), calls the provider
//! (the simulator's OSRM route service) and answers 200 with the route. A request that cannot get
//! a slot within `--queue-timeout-ms` is refused with 503 `CONCURRENCY_EXHAUSTED`; a request whose
//! whole time (slot wait + provider call) exceeds `--timeout-ms` ends 504 `PROVIDER_TIMEOUT`.
//! Part of the load-test tooling, never of the product.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "routeq-direct",
    about = "Direct (synchronous) baseline for routeq load tests"
)]
struct Args {
    /// Address to listen on (loopback only for load tests; port 0 picks a free port, printed).
    #[arg(long, default_value = "127.0.0.1:8070")]
    listen: SocketAddr,
    /// Base URL of the OSRM-protocol provider (the simulator).
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    provider_url: String,
    /// Provider calls in flight at once: the same budget as routeq's workers × --concurrency.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// How long a request may wait for a free slot, ms (0: refuse at once when all are busy).
    #[arg(long, default_value_t = 0)]
    queue_timeout_ms: u64,
    /// The client timeout: the whole request (slot wait + provider call), ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

struct App {
    http: reqwest::Client,
    slots: Semaphore,
    args: Args,
    ok: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    failed: AtomicU64,
}

#[derive(Deserialize)]
struct Point {
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Deserialize)]
struct RouteRequest {
    origin: Point,
    destination: Point,
    #[serde(default)]
    waypoints: Vec<Point>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    deadline_ms: Option<u64>,
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body =
        json!({"status": status.as_u16(), "code": code, "detail": detail, "state": "failed"});
    (status, Json(body)).into_response()
}

async fn route(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let started = Instant::now();
    let Ok(req) = serde_json::from_slice::<RouteRequest>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            "body is not a route job",
        );
    };
    let mut coords = Vec::new();
    for p in std::iter::once(&req.origin)
        .chain(req.waypoints.iter())
        .chain(std::iter::once(&req.destination))
    {
        match (p.lat, p.lon) {
            (Some(lat), Some(lon)) => coords.push(format!("{lon:.6},{lat:.6}")),
            _ => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_FIELD",
                    "the direct baseline takes coordinates only",
                );
            }
        }
    }
    let total = Duration::from_millis(app.args.timeout_ms);
    let queue = Duration::from_millis(app.args.queue_timeout_ms.min(app.args.timeout_ms));
    let permit = match app.slots.try_acquire() {
        Ok(p) => p,
        Err(_) if queue.is_zero() => {
            app.refused.fetch_add(1, Ordering::Relaxed);
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "CONCURRENCY_EXHAUSTED",
                "every provider slot is busy",
            );
        }
        Err(_) => match tokio::time::timeout(queue, app.slots.acquire()).await {
            Ok(Ok(p)) => p,
            _ => {
                app.refused.fetch_add(1, Ordering::Relaxed);
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "CONCURRENCY_EXHAUSTED",
                    "no provider slot freed up in time",
                );
            }
        },
    };
    let profile = match req.profile.as_deref() {
        Some("bike") => "bike",
        Some("foot") => "foot",
        _ => "driving",
    };
    let url = format!(
        "{}/route/v1/{profile}/{}?overview=full&geometries=polyline&alternatives=false&steps=false",
        app.args.provider_url,
        coords.join(";")
    );
    let remaining = total.saturating_sub(started.elapsed());
    let call_start = Instant::now();
    let call = async {
        let r = app.http.get(&url).send().await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await?;
        Ok::<_, reqwest::Error>((status, v))
    };
    let answer = tokio::time::timeout(remaining, call).await;
    let provider_us = call_start.elapsed().as_micros() as u64;
    drop(permit);
    match answer {
        Err(_) => {
            app.timed_out.fetch_add(1, Ordering::Relaxed);
            problem(
                StatusCode::GATEWAY_TIMEOUT,
                "PROVIDER_TIMEOUT",
                "the provider did not answer within the client timeout",
            )
        }
        Ok(Ok((status, v))) if status.is_success() && v["code"] == "Ok" => {
            app.ok.fetch_add(1, Ordering::Relaxed);
            let r = &v["routes"][0];
            let body = json!({
                "status": 200, "code": "ROUTE_OK", "state": "succeeded",
                "result": {"distance_m": r["distance"], "duration_s": r["duration"],
                           "geometry": r["geometry"], "provider": "direct"},
                "timings": {"queued_us": 0, "provider_us": provider_us},
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(_) => {
            app.failed.fetch_add(1, Ordering::Relaxed);
            problem(
                StatusCode::BAD_GATEWAY,
                "PROVIDER_ERROR",
                "the provider failed",
            )
        }
    }
}

async fn stats(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(json!({
        "ok": app.ok.load(Ordering::Relaxed),
        "refused": app.refused.load(Ordering::Relaxed),
        "timed_out": app.timed_out.load(Ordering::Relaxed),
        "failed": app.failed.load(Ordering::Relaxed),
        "in_flight": app.args.concurrency - app.slots.available_permits(),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let app = Arc::new(App {
        http,
        slots: Semaphore::new(args.concurrency),
        args: args.clone(),
        ok: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        timed_out: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/v1/routes", post(route))
        .route("/healthz", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("routeq-direct listening on {}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
