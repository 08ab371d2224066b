//! OSRM route service (`GET /route/v1/{profile}/{lon,lat;…}`): points → route.
//!
//! Success is `{"code": "Ok", "routes": [{distance, duration, geometry}]}` (metres and seconds
//! as floats). Route failures are HTTP 400 with `code` `NoRoute` or `NoSegment` (a point not
//! near any road): domain answers. Other 400 codes (`InvalidQuery`, `InvalidValue`, …) mean we
//! sent something wrong. Older servers answer route failures with 200 and a code: the body is
//! read before the status.

use std::time::Duration;

use futures_util::future::BoxFuture;
use routeq_shared::job::{Coord, Profile};
use serde::Deserialize;

use super::http::{send, status_failure};
use super::{Directions, ProviderError, Route};

/// An OSRM route service at `base`.
#[derive(Debug, Clone)]
pub struct Osrm {
    http: reqwest::Client,
    base: String,
}

impl Osrm {
    pub fn new(http: reqwest::Client, base: &str) -> Osrm {
        Osrm {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn call(
        &self,
        points: &[Coord],
        profile: Profile,
        timeout: Duration,
    ) -> Result<Route, ProviderError> {
        #[derive(Deserialize)]
        struct Body {
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
        let req = self
            .http
            .get(format!("{}/route/v1/{profile}/{coords}", self.base))
            .query(&[
                ("overview", "full"),
                ("geometries", "polyline"),
                ("alternatives", "false"),
                ("steps", "false"),
            ]);
        let answer = send(req, timeout).await?;
        let body: Option<Body> = answer.json();
        if let Some(b) = &body
            && matches!(b.code.as_str(), "NoRoute" | "NoSegment")
        {
            return Err(ProviderError::NoRoute(if b.message.is_empty() {
                b.code.clone()
            } else {
                format!("{} ({})", b.message, b.code)
            }));
        }
        if !answer.is_success() {
            return Err(match (&body, answer.status) {
                (Some(b), 400) => ProviderError::Refused(format!("osrm: {} {}", b.code, b.message)),
                _ => status_failure(answer.status, answer.retry_after, "osrm"),
            });
        }
        let body = body.ok_or_else(|| ProviderError::Malformed("osrm: not JSON".into()))?;
        if body.code != "Ok" {
            return Err(ProviderError::Malformed(format!(
                "osrm: unexpected code {}",
                body.code
            )));
        }
        let best = body
            .routes
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::NoRoute("no routes in the answer".into()))?;
        if !best.distance.is_finite()
            || !best.duration.is_finite()
            || best.distance < 0.0
            || best.duration < 0.0
        {
            return Err(ProviderError::Malformed(
                "osrm: impossible distance or duration".into(),
            ));
        }
        Ok(Route {
            distance_m: best.distance,
            duration_s: best.duration,
            geometry: best.geometry,
        })
    }
}

impl Directions for Osrm {
    fn name(&self) -> &'static str {
        "osrm"
    }

    fn route<'a>(
        &'a self,
        points: &'a [Coord],
        profile: Profile,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Route, ProviderError>> {
        Box::pin(self.call(points, profile, timeout))
    }
}
