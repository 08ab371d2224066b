//! One HTTP attempt to a checked [`Target`], through reqwest.
//!
//! The connection goes to the checked addresses and nowhere else: each client is built with
//! `resolve_to_addrs(host, checked)` and a DNS resolver that refuses every lookup
//! ([`NoLookup`]), so reqwest cannot resolve a name a second time (DNS rebinding) nor reach a
//! name it was not given. Clients are cached per (host, checked addresses) so that connections
//! are pooled while the DNS answer stays the same; a different answer gets a different client.
//! Redirects are never followed (`redirect::Policy::none()`: a 3xx comes back as the answer),
//! no proxy is used, reqwest's own retries are off (one attempt is one request), connect and
//! total timeouts apply, and at most `max_response_bytes` of the answer are read.

use std::collections::HashMap;
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Client, redirect};

use super::classify::{Failure, parse_retry_after};
use crate::ssrf::Target;

/// The HTTP side of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Time to establish the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time for the whole attempt: resolution, connection, request and the (capped) answer.
    pub timeout: Duration,
    /// At most this much of an answer's body is read (and kept in the report).
    pub max_response_bytes: usize,
    /// Idle pooled connections are closed after this.
    pub pool_idle_timeout: Duration,
    /// Cached clients (one per host and DNS answer); past this an arbitrary one is dropped.
    pub max_clients: usize,
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_response_bytes: 4096,
            pool_idle_timeout: Duration::from_secs(30),
            max_clients: 4096,
            user_agent: concat!("routeq-webhooks/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub location: Option<String>,
    /// The first `max_response_bytes` of the body (lossy UTF-8).
    pub body: String,
    pub truncated: bool,
}

/// A DNS resolver that refuses everything: the client may only use the addresses it was given.
struct NoLookup;

impl reqwest::dns::Resolve for NoLookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            Err(format!("no lookup allowed for {name}: only checked addresses are used").into())
        })
    }
}

type ClientKey = (String, Vec<SocketAddr>);

/// The clients of one deliverer.
pub(crate) struct Transport {
    config: HttpConfig,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

/// A transport error's text with its causes, without the URL (which may carry a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() {
        Failure::Connect(describe(e))
    } else {
        Failure::Transport(describe(e))
    }
}

impl Transport {
    pub(crate) fn new(config: HttpConfig) -> Transport {
        Transport {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, target: &Target) -> Result<Client, Failure> {
        // reqwest matches overrides against the URI's host as written (lowercase), not our
        // normalised form ("localhost." stays "localhost.").
        let host = target.url.url().host_str().unwrap_or_default().to_string();
        let key = (host, target.addrs.clone());
        let cached = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(client) = cached {
            return Ok(client);
        }
        // Built outside the lock (with TLS, building loads the root certificates).
        let c = &self.config;
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .dns_resolver(NoLookup)
            .resolve_to_addrs(&key.0, &key.1)
            .connect_timeout(c.connect_timeout)
            .timeout(c.timeout)
            .pool_idle_timeout(c.pool_idle_timeout)
            .tcp_nodelay(true)
            .user_agent(c.user_agent.clone())
            .build()
            .map_err(|e| Failure::Transport(describe(e)))?;
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(raced) = clients.get(&key) {
            return Ok(raced.clone());
        }
        if clients.len() >= c.max_clients.max(1) {
            let evict = clients.keys().next().cloned();
            if let Some(evict) = evict {
                clients.remove(&evict);
            }
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// POSTs `body` with `headers` to the target; a 3xx or any other status is an [`Answer`],
    /// a transport failure is a [`Failure`].
    pub(crate) async fn post(
        &self,
        target: &Target,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, Failure> {
        let client = self.client(target)?;
        let mut response = client
            .post(target.url.url().clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(failure)?;
        let status = response.status().as_u16();
        let text = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = text(RETRY_AFTER).and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = text(LOCATION);
        let cap = self.config.max_response_bytes;
        let mut kept = Vec::new();
        let mut truncated = false;
        // A body that fails half-way does not change the verdict: the status was answered.
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = cap.saturating_sub(kept.len());
            if chunk.len() > room {
                kept.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            kept.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            retry_after,
            location,
            body: String::from_utf8_lossy(&kept).into_owned(),
            truncated,
        })
    }
}
