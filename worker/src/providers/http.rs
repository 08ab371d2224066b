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
        .build()
}

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
    let body = res.bytes().await.map_err(|e| transport(&e))?;
    Ok(Answer {
        status,
        retry_after,
        body: body.to_vec(),
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

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs; it is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
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
