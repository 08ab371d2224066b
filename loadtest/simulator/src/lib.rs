//! # routeq-sim: a local simulator of routeq's external route providers
//!
//! One HTTP server on loopback that speaks byte-compatible versions of four provider protocols
//! (as the adapters in `worker/src/providers/` speak them), with injectable latency and faults, so the
//! worker's adapters, retries and circuit breakers can be tested and load-tested offline.
//!
//! ## Endpoints
//!
//! | path | mimics |
//! |---|---|
//! | `GET /route/v1/{profile}/{coords}[.json]` | OSRM route service (`profile` ∈ car, driving, bike, foot; `coords` = `lon,lat;lon,lat[;…]` or `polyline(…)`/`polyline6(…)`; options `geometries=polyline\|polyline6\|geojson`, `overview=simplified\|full\|false`, `alternatives`, `steps`, `skip_waypoints`…) |
//! | `GET /search?q=…&format=jsonv2` (also `/search.php`) | Nominatim free-text search (`format=json\|jsonv2`, `limit`); needs a `User-Agent` (or `Referer`) |
//! | `GET /v1/directions?origin=x,y&destination=x,y[&waypoints=x,y\|x,y][&priority=…][&summary=true]` | Kakao Mobility car directions; needs `Authorization: KakaoAK <key>` |
//! | `GET /v2/local/search/address.json?query=…` | Kakao Local address search (`page`, `size`, `analyze_type`); needs `KakaoAK` |
//! | `GET/POST /_sim/faults` | read / merge the fault table (`{"provider":"all"\|"osrm"\|…, …knobs}`) |
//! | `GET /_sim/stats`, `POST /_sim/stats/reset` | request counts by provider and outcome, per-second peak |
//! | `GET /metrics` | Prometheus text: `routeq_sim_requests_total{provider,outcome}` and the fault gauges |
//! | `GET /healthz` | `ok` |
//!
//! ## The simulated world
//!
//! * Every road is a straight line: road distance = great-circle (haversine) distance ×
//!   [`DETOUR_FACTOR`] (1.3); travel time = road distance / [`SPEED_MPS`] (8.3 m/s ≈ 30 km/h),
//!   for every profile. OSRM reports floats rounded to 0.1; Kakao reports integer metres and
//!   seconds, and a Seoul taxi fare (4,800 KRW for 1.6 km, then 100 KRW per 131 m), toll 0.
//! * There are no roads in Antarctica: a point with latitude < [`MIN_ROUTABLE_LAT`] (−60°) is
//!   not near any road → OSRM 400 `NoSegment` ("Could not find a matching segment for coordinate
//!   {index}"); Kakao `result_code` 102 (origin), 101 (a waypoint) or 103 (destination).
//! * No leg may be longer than [`MAX_LEG_M`] (3,000 km great-circle) → OSRM 400 `NoRoute`
//!   ("Impossible route between points"); Kakao `result_code 1`.
//! * Kakao: origin and destination less than 5 m apart → `result_code 104`. Kakao route
//!   failures are HTTP 200 with no `summary`, as the real API does.
//! * OSRM input errors follow osrm-routed: unparsable coordinates or a bad option value → 400
//!   `InvalidQuery` ("Query string malformed close to position N"); fewer than two coordinates →
//!   `InvalidOptions`; a latitude beyond ±90 or a longitude beyond ±180 → `InvalidValue`
//!   ("Invalid coordinate value."); more than 500 coordinates → `TooBig`; a profile other than
//!   car/driving/bike/foot → `InvalidValue`; a bad URL → `InvalidUrl`/`InvalidVersion`.
//! * Addresses come from the seeded table [`addresses()`]: a query hits an entry when, after
//!   trimming, lowercasing and collapsing whitespace ([`normalize_query`]), it equals the
//!   entry's name, Korean name, an alias, or (Korean entries) its road or jibun address. Kakao
//!   Local only knows the Korean entries.
//!
//! ## Faults
//!
//! Each provider has its own [`Faults`] (initially all equal to the command-line values). Per
//! request: `down` → 503 at once; else the credential check (Kakao 401, Nominatim 403); else one
//! deterministic draw picks a hang-then-504 (`timeout_rate`), a 429 with `Retry-After`
//! (`rate_429`), a 500 (`error_rate`), a truncated 200 body (`malformed_rate`), or the real
//! answer; a successful answer past `quota` becomes a 429. Everything but `down` and the hang
//! then waits the latency, uniform in `[latency_min_ms, latency_max_ms]` (no timer at all when
//! both are 0). Every error uses the provider's own body shape. Decisions derive from `seed`,
//! the provider and its request counter (splitmix64), so a run is reproducible; resetting the
//! stats, or changing the seed, restarts the counter.
//!
//! Every provider request is counted once, on arrival, under exactly one [`Outcome`].

#![warn(missing_debug_implementations)]

mod addresses;
mod faults;
mod geo;
mod kakao;
mod nominatim;
mod osrm;
mod query;
mod reply;
mod server;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use addresses::{Address, KakaoAddress, addresses};
pub use faults::{
    FaultPatch, FaultTable, FaultTarget, Faults, Outcome, PerProvider, Provider, ProviderStats,
    Stats,
};
pub use geo::{
    DETOUR_FACTOR, EARTH_RADIUS_M, MAX_LEG_M, MIN_ROUTABLE_LAT, MIN_SEPARATION_M, SPEED_MPS,
    decode_polyline, encode_polyline, haversine_m, road_distance_m, travel_time_s,
};
pub use query::normalize_query;

use server::Shared;

/// Default latency bounds, ms (the seed's 150–250 ms provider latency).
pub const DEFAULT_LATENCY_MIN_MS: u64 = 150;
pub const DEFAULT_LATENCY_MAX_MS: u64 = 250;
/// Default seed of the deterministic decisions.
pub const DEFAULT_SEED: u64 = 1;
/// Default `Retry-After`, seconds.
pub const DEFAULT_RETRY_AFTER_S: u64 = 1;
/// Default hang of a "timeout" request, ms.
pub const DEFAULT_HANG_MS: u64 = 60_000;

/// Errors of [`Simulator::bind`] and [`SimControl::set_faults`].
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` must be within [0, 1]"))
    }
}

/// The simulator's configuration. Every flag has a `ROUTEQ_SIM_*` environment equivalent. The
/// fault knobs apply to every provider at start and can be changed per provider at run time.
#[derive(clap::Args, Clone)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, env = "ROUTEQ_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Lower latency bound in ms (uniform in [min, max]; both 0 = no delay at all).
    #[arg(long, env = "ROUTEQ_SIM_LATENCY_MIN_MS", default_value_t = DEFAULT_LATENCY_MIN_MS)]
    pub latency_min_ms: u64,
    /// Upper latency bound in ms.
    #[arg(long, env = "ROUTEQ_SIM_LATENCY_MAX_MS", default_value_t = DEFAULT_LATENCY_MAX_MS)]
    pub latency_max_ms: u64,
    /// Seed of the deterministic fault and latency decisions.
    #[arg(long, env = "ROUTEQ_SIM_SEED", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Fraction of requests answered with a 500 in the provider's error shape.
    #[arg(long, env = "ROUTEQ_SIM_ERROR_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Fraction of requests answered with a 429 and a Retry-After header.
    #[arg(long = "rate-429", env = "ROUTEQ_SIM_RATE_429", default_value_t = 0.0, value_parser = parse_rate)]
    pub rate_429: f64,
    /// Retry-After value of injected 429s, seconds.
    #[arg(long, env = "ROUTEQ_SIM_RETRY_AFTER_S", default_value_t = DEFAULT_RETRY_AFTER_S)]
    pub retry_after_s: u64,
    /// Fraction of requests that hang for --hang-ms (or until shutdown), then answer 504.
    #[arg(long, env = "ROUTEQ_SIM_TIMEOUT_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub timeout_rate: f64,
    /// How long a "timeout" request hangs, ms.
    #[arg(long, env = "ROUTEQ_SIM_HANG_MS", default_value_t = DEFAULT_HANG_MS)]
    pub hang_ms: u64,
    /// Fraction of requests answered 200 with a truncated, invalid JSON body.
    #[arg(long, env = "ROUTEQ_SIM_MALFORMED_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub malformed_rate: f64,
    /// Start with every provider down (503 at once).
    #[arg(long, env = "ROUTEQ_SIM_DOWN", value_parser = clap::builder::BoolishValueParser::new())]
    pub down: bool,
    /// After this many successful answers per provider, answer 429 "quota exceeded".
    #[arg(long, env = "ROUTEQ_SIM_QUOTA")]
    pub quota: Option<u64>,
    /// Require exactly this Kakao REST key (`Authorization: KakaoAK <key>`); by default any
    /// non-empty key is accepted. Never printed.
    #[arg(long, env = "ROUTEQ_SIM_KAKAO_KEY", hide_env_values = true)]
    pub kakao_key: Option<String>,
}

impl Default for SimArgs {
    /// The command-line defaults, except `listen` = `127.0.0.1:0` (any free port).
    fn default() -> Self {
        SimArgs {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            latency_min_ms: DEFAULT_LATENCY_MIN_MS,
            latency_max_ms: DEFAULT_LATENCY_MAX_MS,
            seed: DEFAULT_SEED,
            error_rate: 0.0,
            rate_429: 0.0,
            retry_after_s: DEFAULT_RETRY_AFTER_S,
            timeout_rate: 0.0,
            hang_ms: DEFAULT_HANG_MS,
            malformed_rate: 0.0,
            down: false,
            quota: None,
            kakao_key: None,
        }
    }
}

impl std::fmt::Debug for SimArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimArgs")
            .field("listen", &self.listen)
            .field("latency_min_ms", &self.latency_min_ms)
            .field("latency_max_ms", &self.latency_max_ms)
            .field("seed", &self.seed)
            .field("error_rate", &self.error_rate)
            .field("rate_429", &self.rate_429)
            .field("retry_after_s", &self.retry_after_s)
            .field("timeout_rate", &self.timeout_rate)
            .field("hang_ms", &self.hang_ms)
            .field("malformed_rate", &self.malformed_rate)
            .field("down", &self.down)
            .field("quota", &self.quota)
            .field("kakao_key", &self.kakao_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SimArgs {
    /// Defaults with no latency: what in-process tests usually want.
    #[must_use]
    pub fn instant() -> Self {
        SimArgs {
            latency_min_ms: 0,
            latency_max_ms: 0,
            ..SimArgs::default()
        }
    }

    /// The initial fault configuration of every provider.
    #[must_use]
    pub fn faults(&self) -> Faults {
        Faults {
            latency_min_ms: self.latency_min_ms,
            latency_max_ms: self.latency_max_ms,
            seed: self.seed,
            error_rate: self.error_rate,
            rate_429: self.rate_429,
            retry_after_s: self.retry_after_s,
            timeout_rate: self.timeout_rate,
            hang_ms: self.hang_ms,
            malformed_rate: self.malformed_rate,
            down: self.down,
            quota: self.quota,
        }
    }

    /// Checks `latency_min_ms <= latency_max_ms`, every rate in `[0, 1]`, and that a configured
    /// Kakao key is non-empty.
    pub fn validate(&self) -> Result<(), SimError> {
        self.faults().validate().map_err(SimError::InvalidConfig)?;
        if self
            .kakao_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return Err(SimError::InvalidConfig(
                "kakao_key must not be empty when set".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A cheap, cloneable handle to a simulator's fault table and statistics.
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl").finish_non_exhaustive()
    }
}

impl SimControl {
    /// Merges `patch` into the faults of `target` (a [`Provider`] or [`FaultTarget::All`]) and
    /// returns the whole table. Nothing changes if the result would be invalid.
    pub fn set_faults(
        &self,
        target: impl Into<FaultTarget>,
        patch: FaultPatch,
    ) -> Result<FaultTable, SimError> {
        self.shared.set_faults(target.into(), &patch)
    }

    /// The current fault table.
    #[must_use]
    pub fn faults(&self) -> FaultTable {
        self.shared.faults()
    }

    /// Request counts since the last reset.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Zeroes the counts and per-second peaks, and restarts the quota counts and the
    /// deterministic request sequence.
    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// Starts a graceful shutdown: hanging and delayed requests are answered at once, then the
    /// server stops.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// The Prometheus text that `GET /metrics` serves.
    #[must_use]
    pub fn metrics_text(&self) -> String {
        server::render_metrics(&self.shared.stats(), &self.shared.faults())
    }
}

/// A bound, not yet running simulator.
pub struct Simulator {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Validates `args` and binds the listener (port 0 picks a free port).
    pub async fn bind(args: SimArgs) -> Result<Simulator, SimError> {
        args.validate()?;
        let bind_err = |source| SimError::Bind {
            addr: args.listen,
            source,
        };
        let listener = TcpListener::bind(args.listen).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared::new(&args.faults(), args.kakao_key));
        Ok(Simulator {
            listener,
            local_addr,
            shared,
        })
    }

    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to the fault table and statistics; stays usable after the server stops.
    #[must_use]
    pub fn control(&self) -> SimControl {
        SimControl {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until `shutdown` completes (or [`SimControl::shutdown`] is called), then shuts
    /// down gracefully: requests that hang or wait their latency are answered at once.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shared.shutdown.clone();
        let watcher = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => token.cancel(),
                    () = token.cancelled() => {}
                }
            })
        };
        let listener = self.listener.tap_io(|tcp| {
            // Small request/response exchanges: do not wait on Nagle.
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, server::router(Arc::clone(&self.shared)))
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        watcher.abort();
        result
    }

    /// Runs the simulator on a new task of the current Tokio runtime; the returned handle
    /// stops it when [`SimHandle::shutdown`] is awaited or when it is dropped.
    #[must_use]
    pub fn spawn(self) -> SimHandle {
        let control = self.control();
        let local_addr = self.local_addr;
        let task = tokio::spawn(self.run_until(std::future::pending()));
        SimHandle {
            local_addr,
            control,
            task: Some(task),
        }
    }
}

/// A simulator running on a background task (see [`Simulator::spawn`]).
#[derive(Debug)]
pub struct SimHandle {
    local_addr: SocketAddr,
    control: SimControl,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{local_addr}`, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The control handle.
    #[must_use]
    pub fn control(&self) -> &SimControl {
        &self.control
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.control.shutdown();
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.control.shutdown();
    }
}
