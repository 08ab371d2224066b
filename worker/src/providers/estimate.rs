//! An in-process directions "provider" for measuring routeq itself: great-circle distance × the
//! fallback's detour factor at its typical speed, with no network call. `--provider estimate`
//! uses it (with the simulator's Nominatim protocol for addresses), so a benchmark measures the
//! queue, not an HTTP exchange. Results say `"provider": "estimate"` and `"simulated": true`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use routeq_shared::job::{Coord, Profile};

use super::{Directions, ProviderError, Route};

#[derive(Debug, Clone)]
pub struct Estimate {
    pub detour_factor: f64,
    pub speed_kmh: f64,
}

impl Directions for Estimate {
    fn name(&self) -> &'static str {
        "estimate"
    }

    fn route<'a>(
        &'a self,
        points: &'a [Coord],
        _profile: Profile,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Route, ProviderError>> {
        let great_circle: f64 = points.windows(2).map(|w| w[0].distance_m(&w[1])).sum();
        let distance_m = great_circle * self.detour_factor;
        let duration_s = distance_m / (self.speed_kmh / 3.6);
        Box::pin(std::future::ready(Ok(Route {
            distance_m,
            duration_s,
            geometry: String::new(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_estimate_is_detoured_great_circle_at_the_typical_speed() {
        let e = Estimate {
            detour_factor: 1.5,
            speed_kmh: 36.0,
        };
        let a = Coord {
            lat: 37.5,
            lon: 127.0,
        };
        let b = Coord {
            lat: 37.6,
            lon: 127.0,
        };
        let r = e
            .route(&[a, b], Profile::Car, Duration::from_secs(1))
            .await
            .expect("route");
        let gc = a.distance_m(&b);
        assert!((r.distance_m - gc * 1.5).abs() < 1e-6);
        assert!((r.duration_s - r.distance_m / 10.0).abs() < 1e-6);
    }
}
