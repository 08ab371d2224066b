//! The external APIs, behind one seam per operation: [`Geocoder`] (address → coordinates) and
//! [`Directions`] (points → route). Each adapter speaks one provider's protocol and maps its own
//! answers — including "HTTP 200 but failed" bodies — to [`ProviderError`], classified by what
//! to do next. Adapters make exactly one HTTP request per call: timeouts, retries, breakers and
//! rate limits are the call chain's business (`calls::chain`), not theirs.
//!
//! | adapter | protocol | module |
//! | --- | --- | --- |
//! | `nominatim` | Nominatim `/search?format=jsonv2` | [`nominatim`] |
//! | `osrm` | OSRM `/route/v1/{profile}/{lon,lat;…}` | [`osrm`] |
//! | `kakao_local` | Kakao Local `/v2/local/search/address.json` | [`kakao_local`] |
//! | `kakao_mobility` | Kakao Mobility `/v1/directions` | [`kakao_mobility`] |
//!
//! The simulator speaks all four; which pair a worker uses is configuration ([`ProviderSet`]).

pub mod error;
pub mod estimate;
pub mod http;
pub mod kakao_local;
pub mod kakao_mobility;
pub mod nominatim;
pub mod osrm;
pub mod polyline;
pub mod secret;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use routeq_shared::job::{Coord, Profile};

pub use error::ProviderError;

use secret::ApiKey;

/// A computed route.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub distance_m: f64,
    pub duration_s: f64,
    /// Encoded polyline, precision 5, lat/lon order ("" when the provider gave no geometry).
    pub geometry: String,
}

/// A geocoder's answer: where, and the provider's own identifiers for it (kept as plain
/// attributes: providers change them when they refresh their data).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Geocoded {
    pub coord: Coord,
    /// The provider's id of the place ("" when it has none).
    pub place_id: String,
    /// The provider's name for the place.
    pub display_name: String,
}

/// Address → coordinates, one HTTP request, answering within `timeout` or failing.
pub trait Geocoder: Send + Sync {
    /// The adapter's name: a bounded label for metrics, breakers, rate limits and cache keys.
    fn name(&self) -> &'static str;
    fn geocode<'a>(
        &'a self,
        address: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Geocoded, ProviderError>>;
}

/// Points → route, one HTTP request.
pub trait Directions: Send + Sync {
    fn name(&self) -> &'static str;
    fn route<'a>(
        &'a self,
        points: &'a [Coord],
        profile: Profile,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Route, ProviderError>>;
}

/// The pair of adapters a worker calls, and how its results are labelled.
#[derive(Clone)]
pub struct ProviderSet {
    pub geocoder: Arc<dyn Geocoder>,
    pub directions: Arc<dyn Directions>,
    /// Shown in results (`simulator`, `osrm`, `kakao`).
    pub label: &'static str,
    /// True when the answers come from the simulator.
    pub simulated: bool,
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSet")
            .field("geocoder", &self.geocoder.name())
            .field("directions", &self.directions.name())
            .field("label", &self.label)
            .field("simulated", &self.simulated)
            .finish()
    }
}

/// Which provider protocols the worker speaks, and whether the answers are real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    /// The routeq provider simulator (OSRM + Nominatim protocols); results are labelled simulated.
    Simulator,
    /// The simulator through the Kakao protocols (Kakao Local + Kakao Mobility); labelled
    /// simulated.
    SimulatorKakao,
    /// A real OSRM route service and a Nominatim geocoder.
    Osrm,
    /// Kakao Local (geocoding) and Kakao Mobility (car directions); needs a REST API key.
    Kakao,
    /// Directions estimated in-process (great-circle × detour factor), addresses through the
    /// simulator's Nominatim protocol: measures routeq itself, without an HTTP call per route.
    /// Results are labelled `estimate` and simulated.
    Estimate,
}

impl ProviderKind {
    /// The label results carry (`provider`).
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Simulator | ProviderKind::SimulatorKakao => "simulator",
            ProviderKind::Osrm => "osrm",
            ProviderKind::Kakao => "kakao",
            ProviderKind::Estimate => "estimate",
        }
    }

    /// Whether answers come from the simulator (results say `"simulated": true`).
    pub fn simulated(self) -> bool {
        matches!(
            self,
            ProviderKind::Simulator | ProviderKind::SimulatorKakao | ProviderKind::Estimate
        )
    }
}

/// What the adapters need to be built: which family, where, as whom, with which key.
#[derive(Debug, Clone)]
pub struct ProviderSettings<'a> {
    pub kind: ProviderKind,
    pub geocoder_url: &'a str,
    pub router_url: &'a str,
    pub user_agent: &'a str,
    /// The Kakao REST API key (the simulator takes any).
    pub kakao_key: Option<ApiKey>,
    /// `--provider estimate`: the in-process directions' detour factor and speed.
    pub estimate: estimate::Estimate,
}

impl ProviderSet {
    /// Builds the adapters the settings name. The Kakao key is handed to the adapters; it is
    /// never logged.
    pub fn new(s: ProviderSettings<'_>) -> anyhow::Result<ProviderSet> {
        let client = http::client(s.user_agent)?;
        let kakao_key = || -> anyhow::Result<ApiKey> {
            match &s.kakao_key {
                Some(k) => Ok(k.clone()),
                // The simulator accepts any non-empty key.
                None if s.kind.simulated() => Ok(ApiKey::new("routeq-simulator")),
                None => {
                    anyhow::bail!("--provider kakao needs --kakao-api-key or --kakao-api-key-file")
                }
            }
        };
        let (geocoder, directions): (Arc<dyn Geocoder>, Arc<dyn Directions>) = match s.kind {
            ProviderKind::Simulator | ProviderKind::Osrm => (
                Arc::new(nominatim::Nominatim::new(client.clone(), s.geocoder_url)),
                Arc::new(osrm::Osrm::new(client, s.router_url)),
            ),
            ProviderKind::Estimate => (
                Arc::new(nominatim::Nominatim::new(client, s.geocoder_url)),
                Arc::new(s.estimate.clone()),
            ),
            ProviderKind::SimulatorKakao | ProviderKind::Kakao => {
                let key = kakao_key()?;
                (
                    Arc::new(kakao_local::KakaoLocal::new(
                        client.clone(),
                        s.geocoder_url,
                        key.clone(),
                    )),
                    Arc::new(kakao_mobility::KakaoMobility::new(
                        client,
                        s.router_url,
                        key,
                    )),
                )
            }
        };
        Ok(ProviderSet {
            geocoder,
            directions,
            label: s.kind.label(),
            simulated: s.kind.simulated(),
        })
    }
}
