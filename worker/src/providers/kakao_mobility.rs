//! Kakao Mobility car directions (`GET /v1/directions?origin=x,y&destination=x,y…`): points →
//! route, authenticated with `Authorization: KakaoAK <REST API key>`.
//!
//! Coordinates are `x,y` = **longitude,latitude**. Success is `{trans_id, routes: [{result_code:
//! 0, summary: {distance, duration}, sections: [{roads: [{vertexes: [x1, y1, x2, y2, …]}]}]}]}`
//! with integer metres and seconds. A route failure is **HTTP 200** with `result_code != 0` and
//! no summary (1 no route; 101–107 no road near a point, points too close, road events): a
//! domain answer that must not trip the breaker. Transport errors are `{"code", "msg"}` with
//! 400/401/403/429/5xx. Kakao routes cars only.

use std::time::Duration;

use futures_util::future::BoxFuture;
use routeq_shared::job::{Coord, Profile};
use serde::Deserialize;

use super::kakao_local::kakao_failure;
use super::polyline;
use super::{Directions, ProviderError, Route};
use crate::providers::secret::ApiKey;

/// A Kakao Mobility directions API at `base` (`https://apis-navi.kakaomobility.com`, or the
/// simulator).
#[derive(Debug, Clone)]
pub struct KakaoMobility {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
}

#[derive(Deserialize)]
struct Body {
    routes: Vec<KakaoRoute>,
}

#[derive(Deserialize)]
struct KakaoRoute {
    result_code: i64,
    #[serde(default)]
    result_msg: String,
    summary: Option<Summary>,
    #[serde(default)]
    sections: Vec<Section>,
}

#[derive(Deserialize)]
struct Summary {
    distance: f64,
    duration: f64,
}

#[derive(Deserialize)]
struct Section {
    #[serde(default)]
    roads: Vec<Road>,
}

#[derive(Deserialize)]
struct Road {
    #[serde(default)]
    vertexes: Vec<f64>,
}

fn xy(c: &Coord) -> String {
    format!("{:.6},{:.6}", c.lon, c.lat)
}

impl KakaoMobility {
    pub fn new(http: reqwest::Client, base: &str, key: ApiKey) -> KakaoMobility {
        KakaoMobility {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    async fn call(
        &self,
        points: &[Coord],
        profile: Profile,
        timeout: Duration,
    ) -> Result<Route, ProviderError> {
        if profile != Profile::Car {
            return Err(ProviderError::NoRoute(format!(
                "Kakao Mobility routes cars only, not {}",
                profile.as_str()
            )));
        }
        let (Some(origin), Some(destination)) = (points.first(), points.last()) else {
            return Err(ProviderError::NoRoute("fewer than two points".into()));
        };
        let mut query = vec![
            ("origin", xy(origin)),
            ("destination", xy(destination)),
            ("priority", "RECOMMEND".to_string()),
        ];
        if points.len() > 2 {
            let via: Vec<String> = points[1..points.len() - 1].iter().map(xy).collect();
            query.push(("waypoints", via.join("|")));
        }
        let req = self
            .http
            .get(format!("{}/v1/directions", self.base))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("KakaoAK {}", self.key.expose()),
            )
            .query(&query);
        let answer = super::http::send(req, timeout).await?;
        if !answer.is_success() {
            return Err(kakao_failure(
                answer.status,
                answer.retry_after,
                answer.json(),
                "kakao mobility",
            ));
        }
        let body: Body = answer
            .json()
            .ok_or_else(|| ProviderError::Malformed("kakao mobility: unreadable body".into()))?;
        let route = body
            .routes
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::Malformed("kakao mobility: no routes".into()))?;
        if route.result_code != 0 {
            return Err(ProviderError::NoRoute(format!(
                "{} (result_code {})",
                route.result_msg, route.result_code
            )));
        }
        let summary = route.summary.ok_or_else(|| {
            ProviderError::Malformed("kakao mobility: result_code 0 without a summary".into())
        })?;
        if !summary.distance.is_finite()
            || !summary.duration.is_finite()
            || summary.distance < 0.0
            || summary.duration < 0.0
        {
            return Err(ProviderError::Malformed(
                "kakao mobility: impossible distance or duration".into(),
            ));
        }
        // Vertexes are x, y (lon, lat) pairs; consecutive roads share their end points.
        let mut line: Vec<(f64, f64)> = Vec::new();
        for pair in route
            .sections
            .iter()
            .flat_map(|s| s.roads.iter())
            .flat_map(|r| r.vertexes.chunks_exact(2))
        {
            let point = (pair[1], pair[0]);
            if line.last() != Some(&point) {
                line.push(point);
            }
        }
        Ok(Route {
            distance_m: summary.distance,
            duration_s: summary.duration,
            geometry: polyline::encode(&line),
        })
    }
}

impl Directions for KakaoMobility {
    fn name(&self) -> &'static str {
        "kakao_mobility"
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
