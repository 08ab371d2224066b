//! Nominatim search (`GET /search?q=…&format=jsonv2&limit=1`): address → coordinates.
//!
//! Success is a JSON array whose entries carry `lat`/`lon` as **strings**; "not found" is
//! `200 []`. Errors are `{"error": {"code", "message"}}`; the public instance answers 403 to
//! anonymous clients (we always send an identifying User-Agent) and 429 when over its 1 req/s.

use std::time::Duration;

use futures_util::future::BoxFuture;
use routeq_shared::job::Coord;
use serde::Deserialize;

use super::http::{send, status_failure};
use super::{Geocoded, Geocoder, ProviderError};

/// A Nominatim geocoder at `base` (e.g. `http://127.0.0.1:8090` for the simulator).
#[derive(Debug, Clone)]
pub struct Nominatim {
    http: reqwest::Client,
    base: String,
}

impl Nominatim {
    pub fn new(http: reqwest::Client, base: &str) -> Nominatim {
        Nominatim {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn search(&self, address: &str, timeout: Duration) -> Result<Geocoded, ProviderError> {
        #[derive(Deserialize)]
        struct Place {
            lat: String,
            lon: String,
            /// A number in current versions, a string in older ones.
            #[serde(default)]
            place_id: serde_json::Value,
            #[serde(default)]
            display_name: String,
        }
        let req = self.http.get(format!("{}/search", self.base)).query(&[
            ("q", address),
            ("format", "jsonv2"),
            ("limit", "1"),
        ]);
        let answer = send(req, timeout).await?;
        if !answer.is_success() {
            return Err(status_failure(
                answer.status,
                answer.retry_after,
                "nominatim",
            ));
        }
        let places: Vec<Place> = answer
            .json()
            .ok_or_else(|| ProviderError::Malformed("nominatim: not a JSON array".into()))?;
        let Some(first) = places.first() else {
            return Err(ProviderError::NotFound);
        };
        let coord = parse_coord(&first.lat, &first.lon, "nominatim")?;
        let place_id = match &first.place_id {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Ok(Geocoded {
            coord,
            place_id,
            display_name: first.display_name.clone(),
        })
    }
}

/// Parses string coordinates (as Nominatim and Kakao Local write them) into a checked [`Coord`].
pub(crate) fn parse_coord(lat: &str, lon: &str, who: &str) -> Result<Coord, ProviderError> {
    match (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) {
        (Ok(lat), Ok(lon)) => Coord::new(lat, lon)
            .map_err(|_| ProviderError::Malformed(format!("{who}: coordinates out of range"))),
        _ => Err(ProviderError::Malformed(format!(
            "{who}: unparsable coordinates"
        ))),
    }
}

impl Geocoder for Nominatim {
    fn name(&self) -> &'static str {
        "nominatim"
    }

    fn geocode<'a>(
        &'a self,
        address: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Geocoded, ProviderError>> {
        Box::pin(self.search(address, timeout))
    }
}
