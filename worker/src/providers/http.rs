//! What every HTTP adapter shares: the client, reading an answer, and mapping transport errors
//! and HTTP statuses to [`ProviderError`].

use std::time::Duration;

use super::ProviderError;

/// One HTTP client per process (connection pools per host), identifying itself by `user_agent`.
pub fn client(user_agent: &str) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        // A provider API does not redirect; a 3xx is an answer we refuse (never followed to
        // wherever it points).
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// The largest provider answer read, bytes: an OSRM route with full geometry across the country
/// is well under 1 MiB; an answer beyond this is refused as malformed, not read into memory.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// An answer read in full: status, `Retry-After`, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON of type `T`, or `None` when it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `req` (with `timeout`) and reads the whole answer.
pub async fn send(
    req: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, ProviderError> {
    let res = req
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport(&e))?;
    let status = res.status().as_u16();
    let retry_after = retry_after(res.headers());
    let too_large = || {
        ProviderError::Malformed(format!(
            "the answer (HTTP {status}) is larger than {MAX_ANSWER_BYTES} bytes"
        ))
    };
    if res
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut res = res;
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Transport failures: timeouts, refused or reset connections.
pub fn transport(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_connect() {
        ProviderError::Unavailable("connection refused or failed".into())
    } else if e.is_decode() || e.is_body() {
        ProviderError::Unavailable("the answer was cut off".into())
    } else {
        ProviderError::Unavailable("transport error".into())
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3); garbage, a negative
/// number or a date in the past is no delay given (`None` or zero). Never panics: a huge number is
/// a huge [`Duration`], which the call chain caps (`--retry-after-max-ms`).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        // More digits than u64 holds: as long as the longest delay we can express.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A non-2xx status that the adapter did not recognise as a domain answer.
pub fn status_failure(status: u16, retry_after: Option<Duration>, what: &str) -> ProviderError {
    match status {
        429 => ProviderError::RateLimited { retry_after },
        502..=504 => ProviderError::Unavailable(format!("{what} answered HTTP {status}")),
        500..=599 => ProviderError::Server(format!("{what} answered HTTP {status}")),
        401 | 403 => ProviderError::Unauthorized(format!("{what} answered HTTP {status}")),
        _ => ProviderError::Refused(format!("{what} answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> Option<Duration> {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::RETRY_AFTER,
            reqwest::header::HeaderValue::from_str(v).expect("header"),
        );
        retry_after(&h)
    }

    #[test]
    fn retry_after_never_panics_on_absurd_values() {
        assert_eq!(header("2"), Some(Duration::from_secs(2)));
        assert_eq!(header(" 86400 "), Some(Duration::from_secs(86_400)));
        assert_eq!(
            header("99999999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(header("-5"), None);
        assert_eq!(header("1.5"), None);
        assert_eq!(header("soon"), None);
        assert_eq!(header(""), None);
        assert_eq!(
            header("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past"
        );
        let far = header("Fri, 31 Dec 9999 23:59:59 GMT").expect("a far date");
        assert!(far > Duration::from_secs(86_400 * 365 * 7000), "{far:?}");
    }
}
