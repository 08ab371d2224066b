//! Adapters for the external APIs, behind one pair of operations: geocode an address, route
//! between points. Each adapter maps the provider's own answers (including "HTTP 200 but failed")
//! to [`ProviderError`], classified by what to do next.

use std::time::{Duration, Instant};

use routeq_shared::Code;
use routeq_shared::job::{Coord, Profile};
use serde::Deserialize;

use crate::metrics as m;

/// A provider failure, classified by what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The address does not exist for this provider (permanent).
    #[error("address not found")]
    NotFound,
    /// No route between the points (permanent).
    #[error("no route: {0}")]
    NoRoute(String),
    /// The call did not finish within its timeout (transient).
    #[error("timed out")]
    Timeout,
    /// Refused connection, 503, maintenance (transient).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Quota or rate limit hit; `retry_after` when the provider said (transient).
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a malformed body, or a 4xx that means we sent something wrong.
    #[error("provider error: {0}")]
    Failed(String),
}

impl ProviderError {
    /// The code a job ends with when this is the failure it could not get past.
    pub fn code(&self) -> Code {
        match self {
            ProviderError::NotFound => Code::AddressNotFound,
            ProviderError::NoRoute(_) => Code::NoRoute,
            ProviderError::Timeout => Code::ProviderTimeout,
            ProviderError::Unavailable(_) | ProviderError::RateLimited { .. } => {
                Code::ProviderUnavailable
            }
            ProviderError::Failed(_) => Code::ProviderError,
        }
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ProviderError::NotFound => "not_found",
            ProviderError::NoRoute(_) => "no_route",
            ProviderError::Timeout => "timeout",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Failed(_) => "error",
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout
        } else if e.is_connect() {
            ProviderError::Unavailable("connection refused or failed".into())
        } else if e.is_decode() {
            ProviderError::Failed("malformed response body".into())
        } else {
            ProviderError::Unavailable("transport error".into())
        }
    }
}

/// A computed route leg set.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub distance_m: f64,
    pub duration_s: f64,
    pub geometry: String,
}

/// The provider pair a worker calls: a geocoder and a directions service.
#[derive(Debug, Clone)]
pub struct Providers {
    http: reqwest::Client,
    geocoder_url: String,
    router_url: String,
    /// Name shown in results and metrics (`simulator`, `osrm`).
    pub name: &'static str,
    pub simulated: bool,
}

impl Providers {
    pub fn new(
        geocoder_url: &str,
        router_url: &str,
        name: &'static str,
        simulated: bool,
        user_agent: &str,
    ) -> Result<Providers, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(Providers {
            http,
            geocoder_url: geocoder_url.trim_end_matches('/').to_string(),
            router_url: router_url.trim_end_matches('/').to_string(),
            name,
            simulated,
        })
    }

    /// Address → coordinates (Nominatim `/search?format=jsonv2`).
    pub async fn geocode(&self, address: &str, timeout: Duration) -> Result<Coord, ProviderError> {
        let started = Instant::now();
        let result = self.geocode_inner(address, timeout).await;
        self.observe("geocode", started, &result);
        result
    }

    async fn geocode_inner(
        &self,
        address: &str,
        timeout: Duration,
    ) -> Result<Coord, ProviderError> {
        #[derive(Deserialize)]
        struct Place {
            lat: String,
            lon: String,
        }
        let url = format!("{}/search", self.geocoder_url);
        let res = self
            .http
            .get(&url)
            .query(&[("q", address), ("format", "jsonv2"), ("limit", "1")])
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e))?;
        let status = res.status();
        let retry_after = retry_after(res.headers());
        let body = res
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e))?;
        if !status.is_success() {
            return Err(http_failure(status.as_u16(), retry_after, "geocoder"));
        }
        let places: Vec<Place> = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Failed("geocoder answered malformed JSON".into()))?;
        let Some(first) = places.first() else {
            return Err(ProviderError::NotFound);
        };
        let (lat, lon) = match (first.lat.parse::<f64>(), first.lon.parse::<f64>()) {
            (Ok(lat), Ok(lon)) => (lat, lon),
            _ => {
                return Err(ProviderError::Failed(
                    "geocoder answered unparsable coordinates".into(),
                ));
            }
        };
        Coord::new(lat, lon)
            .map_err(|_| ProviderError::Failed("geocoder answered out-of-range coordinates".into()))
    }

    /// Points → route (OSRM `/route/v1/{profile}/{lon,lat;…}`).
    pub async fn route(
        &self,
        points: &[Coord],
        profile: Profile,
        timeout: Duration,
    ) -> Result<Route, ProviderError> {
        let started = Instant::now();
        let result = self.route_inner(points, profile, timeout).await;
        self.observe("route", started, &result);
        result
    }

    async fn route_inner(
        &self,
        points: &[Coord],
        profile: Profile,
        timeout: Duration,
    ) -> Result<Route, ProviderError> {
        #[derive(Deserialize)]
        struct Answer {
            code: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            routes: Vec<OsrmRoute>,
        }
        #[derive(Deserialize)]
        struct OsrmRoute {
            distance: f64,
            duration: f64,
            #[serde(default)]
            geometry: String,
        }
        let coords = points
            .iter()
            .map(|c| format!("{:.6},{:.6}", c.lon, c.lat))
            .collect::<Vec<_>>()
            .join(";");
        let profile = match profile {
            Profile::Car => "driving",
            Profile::Bike => "bike",
            Profile::Foot => "foot",
        };
        let url = format!("{}/route/v1/{profile}/{coords}", self.router_url);
        let res = self
            .http
            .get(&url)
            .query(&[
                ("overview", "full"),
                ("geometries", "polyline"),
                ("alternatives", "false"),
                ("steps", "false"),
            ])
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e))?;
        let status = res.status();
        let retry_after = retry_after(res.headers());
        let body = res
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e))?;
        // OSRM answers route failures with 400 and a code; read the body before the status.
        let answer: Option<Answer> = serde_json::from_slice(&body).ok();
        if let Some(a) = &answer
            && matches!(a.code.as_str(), "NoRoute" | "NoSegment")
        {
            return Err(ProviderError::NoRoute(if a.message.is_empty() {
                a.code.clone()
            } else {
                a.message.clone()
            }));
        }
        if !status.is_success() {
            return Err(http_failure(status.as_u16(), retry_after, "directions"));
        }
        let Some(answer) = answer else {
            return Err(ProviderError::Failed(
                "directions answered malformed JSON".into(),
            ));
        };
        if answer.code != "Ok" {
            return Err(ProviderError::Failed(format!(
                "directions answered code {}",
                answer.code
            )));
        }
        let Some(best) = answer.routes.into_iter().next() else {
            return Err(ProviderError::NoRoute("no routes in the answer".into()));
        };
        if !best.distance.is_finite()
            || !best.duration.is_finite()
            || best.distance < 0.0
            || best.duration < 0.0
        {
            return Err(ProviderError::Failed(
                "directions answered an impossible distance or duration".into(),
            ));
        }
        Ok(Route {
            distance_m: best.distance,
            duration_s: best.duration,
            geometry: best.geometry,
        })
    }

    fn observe<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, ProviderError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        let labels = [
            ("provider", self.name),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metrics::counter!(m::PROVIDER_CALLS, &labels).increment(1);
        metrics::histogram!(m::PROVIDER_CALL_SECONDS, &labels)
            .record(started.elapsed().as_secs_f64());
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn http_failure(status: u16, retry_after: Option<Duration>, what: &str) -> ProviderError {
    match status {
        429 => ProviderError::RateLimited { retry_after },
        502..=504 => ProviderError::Unavailable(format!("{what} answered HTTP {status}")),
        _ => ProviderError::Failed(format!("{what} answered HTTP {status}")),
    }
}
