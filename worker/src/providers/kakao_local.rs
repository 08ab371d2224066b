//! Kakao Local address search (`GET /v2/local/search/address.json?query=…`): address →
//! coordinates, authenticated with `Authorization: KakaoAK <REST API key>`.
//!
//! Success is `{meta, documents: [{x, y, …}]}` with `x` = longitude and `y` = latitude as
//! **strings**; "not found" is `200` with `documents: []`. Errors come as
//! `{"errorType", "message"}` (dapi.kakao.com) or `{"code", "msg"}` (other Kakao hosts): 400
//! bad parameters, 401/403 key or permission problems (our configuration), 429 over quota.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;

use super::http::{send, status_failure};
use super::nominatim::parse_coord;
use super::{Geocoded, Geocoder, ProviderError};
use crate::providers::secret::ApiKey;

/// A Kakao Local geocoder at `base` (`https://dapi.kakao.com`, or the simulator).
#[derive(Debug, Clone)]
pub struct KakaoLocal {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
}

/// Either of Kakao's two error shapes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct KakaoError {
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: String,
}

impl KakaoError {
    /// `errorType: message` or `code msg`, whichever shape it was.
    pub(crate) fn describe(&self) -> String {
        if !self.error_type.is_empty() {
            format!("{}: {}", self.error_type, self.message)
        } else if let Some(code) = self.code {
            format!("code {code}: {}", self.msg)
        } else {
            "no error body".to_string()
        }
    }

    pub(crate) fn code(&self) -> Option<i64> {
        self.code
    }
}

/// Maps a Kakao non-2xx answer: 429 and quota codes are rate limits, 5xx transient, the other
/// 4xx our fault (a bad key must not open the breaker, and retrying cannot help).
pub(crate) fn kakao_failure(
    status: u16,
    retry_after: Option<Duration>,
    body: Option<KakaoError>,
    who: &str,
) -> ProviderError {
    let err = body.unwrap_or_default();
    // Kakao reports some quota overruns as 400 with code -10.
    if status == 429 || err.code() == Some(-10) {
        return ProviderError::RateLimited { retry_after };
    }
    match status {
        401 | 403 => ProviderError::Unauthorized(format!(
            "{who} answered HTTP {status} ({})",
            err.describe()
        )),
        400..=499 => {
            ProviderError::Refused(format!("{who} answered HTTP {status} ({})", err.describe()))
        }
        _ => status_failure(status, retry_after, who),
    }
}

impl KakaoLocal {
    pub fn new(http: reqwest::Client, base: &str, key: ApiKey) -> KakaoLocal {
        KakaoLocal {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    async fn search(&self, address: &str, timeout: Duration) -> Result<Geocoded, ProviderError> {
        #[derive(Deserialize)]
        struct Body {
            documents: Vec<Document>,
        }
        #[derive(Deserialize)]
        struct Document {
            x: String,
            y: String,
            #[serde(default)]
            address_name: String,
        }
        let req = self
            .http
            .get(format!("{}/v2/local/search/address.json", self.base))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("KakaoAK {}", self.key.expose()),
            )
            .query(&[("query", address), ("size", "1")]);
        let answer = send(req, timeout).await?;
        if !answer.is_success() {
            return Err(kakao_failure(
                answer.status,
                answer.retry_after,
                answer.json(),
                "kakao local",
            ));
        }
        let body: Body = answer
            .json()
            .ok_or_else(|| ProviderError::Malformed("kakao local: unreadable body".into()))?;
        let Some(first) = body.documents.first() else {
            return Err(ProviderError::NotFound);
        };
        // Kakao Local's address search has no place id; the address name identifies it.
        Ok(Geocoded {
            coord: parse_coord(&first.y, &first.x, "kakao local")?,
            place_id: String::new(),
            display_name: first.address_name.clone(),
        })
    }
}

impl Geocoder for KakaoLocal {
    fn name(&self) -> &'static str {
        "kakao_local"
    }

    fn geocode<'a>(
        &'a self,
        address: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Geocoded, ProviderError>> {
        Box::pin(self.search(address, timeout))
    }
}
