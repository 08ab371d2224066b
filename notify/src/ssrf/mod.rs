//! No server-side request forgery: which URLs a webhook may have and which addresses a delivery
//! may connect to.
//!
//! Two steps, run at registration **and** again at every delivery:
//! 1. [`WebhookUrl::parse`]: the URL's shape: `http`/`https` only, a host, no credentials, a
//!    bounded length, not the name of a metadata service.
//! 2. [`UrlPolicy::check`]: the host is resolved through an injectable [`Resolve`] (IP literals
//!    are not looked up) and refused when **any** address is not public (see [`AddrClass`]),
//!    unless the [`AllowList`] permits it. The answer is a [`Target`]: the URL with the exact
//!    addresses that were checked. The delivery connects to those addresses and no others (the
//!    HTTP client is given them as its only resolution and has no resolver of its own), so a
//!    name that resolves to a public address for the check and to a private one a moment later
//!    (DNS rebinding) still reaches only the checked address.

mod addr;
mod allow;
mod resolve;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use reqwest::Url;

pub use addr::{AddrClass, classify};
pub use allow::{AllowEntry, AllowEntryError, AllowList};
pub use resolve::{
    MapResolver, OverrideError, OverrideResolver, Resolve, Resolving, SystemResolver,
};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// At most this many checked addresses are kept for the connection (all are checked).
pub const MAX_ADDRS: usize = 8;
/// Names refused outright (their addresses are refused too: this is a second fence).
const BLOCKED_NAMES: [&str; 2] = ["metadata.google.internal", "metadata.goog"];

/// Why a URL or its addresses were refused. [`SsrfError::code`] is stable for API errors.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SsrfError {
    #[error("not a valid absolute URL: {0}")]
    Invalid(String),
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("scheme {0:?} is not allowed (only http and https)")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL must not carry credentials")]
    Credentials,
    #[error("host {0} is a cloud metadata service")]
    BlockedName(String),
    #[error("host {host} did not resolve: {detail}")]
    Resolve { host: String, detail: String },
    #[error("host {0} resolved to no address")]
    NoAddress(String),
    #[error("host {host} resolves to {addr}, a {} address", class.as_str())]
    Refused {
        host: String,
        addr: IpAddr,
        class: AddrClass,
    },
}

impl SsrfError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SsrfError::Invalid(_) => "url_invalid",
            SsrfError::TooLong => "url_too_long",
            SsrfError::Scheme(_) => "url_scheme",
            SsrfError::NoHost => "url_no_host",
            SsrfError::Credentials => "url_credentials",
            SsrfError::BlockedName(_) => "url_blocked_host",
            SsrfError::Resolve { .. } => "url_unresolvable",
            SsrfError::NoAddress(_) => "url_unresolvable",
            SsrfError::Refused { .. } => "url_refused_address",
        }
    }

    /// True for a lookup failure (DNS may answer later), false for a refusal.
    pub fn is_resolution(&self) -> bool {
        matches!(self, SsrfError::Resolve { .. } | SsrfError::NoAddress(_))
    }
}

/// The host of a URL: a name to resolve, or an IP literal (already normalised by the WHATWG
/// parser: `http://2130706433/` and `http://0x7f.1/` are both `127.0.0.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    Name(String),
    Ip(IpAddr),
}

/// A URL whose shape passed: http(s), a host, an explicit or default port, no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: Url,
    host: UrlHost,
    port: u16,
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<WebhookUrl, SsrfError> {
        if text.len() > MAX_URL_LEN {
            return Err(SsrfError::TooLong);
        }
        let url = Url::parse(text.trim()).map_err(|e| SsrfError::Invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::Scheme(url.scheme().to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SsrfError::Credentials);
        }
        let host_str = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(SsrfError::NoHost)?;
        let bare = host_str.trim_start_matches('[').trim_end_matches(']');
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => UrlHost::Ip(ip),
            Err(_) => {
                let name = bare.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    return Err(SsrfError::NoHost);
                }
                if BLOCKED_NAMES.contains(&name.as_str()) {
                    return Err(SsrfError::BlockedName(name));
                }
                UrlHost::Name(name)
            }
        };
        let port = url.port_or_known_default().ok_or(SsrfError::NoHost)?;
        Ok(WebhookUrl { url, host, port })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn host(&self) -> &UrlHost {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as the URL spells it (a name, or the literal address).
    pub fn host_str(&self) -> String {
        match &self.host {
            UrlHost::Name(name) => name.clone(),
            UrlHost::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// A URL with the addresses that were checked: the only addresses the delivery connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: WebhookUrl,
    pub addrs: Vec<SocketAddr>,
}

/// The address policy: refuse every non-public address unless allowlisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow: AllowList,
}

impl UrlPolicy {
    pub fn new(allow: AllowList) -> UrlPolicy {
        UrlPolicy { allow }
    }

    /// Resolves the URL's host and checks every address; see the module doc.
    pub async fn check(
        &self,
        url: &WebhookUrl,
        resolver: &dyn Resolve,
    ) -> Result<Target, SsrfError> {
        let host = url.host_str();
        let ips = match url.host() {
            UrlHost::Ip(ip) => vec![*ip],
            UrlHost::Name(name) => {
                resolver
                    .resolve(name)
                    .await
                    .map_err(|e| SsrfError::Resolve {
                        host: host.clone(),
                        detail: e.to_string(),
                    })?
            }
        };
        if ips.is_empty() {
            return Err(SsrfError::NoAddress(host));
        }
        let mut addrs = Vec::with_capacity(ips.len().min(MAX_ADDRS));
        for ip in ips {
            let addr = SocketAddr::new(ip, url.port());
            let class = classify(ip);
            let allowed = match class {
                AddrClass::Public => true,
                AddrClass::Metadata => false,
                _ => self.allow.permits(&host, addr),
            };
            if !allowed {
                return Err(SsrfError::Refused {
                    host,
                    addr: ip,
                    class,
                });
            }
            if addrs.len() < MAX_ADDRS && !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(Target {
            url: url.clone(),
            addrs,
        })
    }

    /// [`WebhookUrl::parse`] then [`UrlPolicy::check`]: the registration check.
    pub async fn check_str(&self, url: &str, resolver: &dyn Resolve) -> Result<Target, SsrfError> {
        self.check(&WebhookUrl::parse(url)?, resolver).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors() {
        let code = |s: &str| WebhookUrl::parse(s).unwrap_err().code();
        assert_eq!(code("ftp://example.com/"), "url_scheme");
        assert_eq!(code("file:///etc/passwd"), "url_scheme");
        assert_eq!(code("gopher://example.com/"), "url_scheme");
        assert_eq!(code("not a url"), "url_invalid");
        assert_eq!(code("https://user:pw@example.com/"), "url_credentials");
        assert_eq!(code("https://user@example.com/"), "url_credentials");
        assert_eq!(
            code("http://metadata.google.internal./x"),
            "url_blocked_host"
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(code(&long), "url_too_long");
    }

    #[test]
    fn literal_forms_are_normalised() {
        let host = |s: &str| WebhookUrl::parse(s).unwrap().host().clone();
        let lo = UrlHost::Ip("127.0.0.1".parse().unwrap());
        assert_eq!(host("http://2130706433/"), lo);
        assert_eq!(host("http://0x7f.1/"), lo);
        assert_eq!(host("http://127.1/"), lo);
        assert_eq!(
            host("http://[::1]:8080/"),
            UrlHost::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            host("https://Example.COM./h"),
            UrlHost::Name("example.com".into())
        );
        assert_eq!(
            WebhookUrl::parse("https://example.com/").unwrap().port(),
            443
        );
        assert_eq!(WebhookUrl::parse("http://example.com/").unwrap().port(), 80);
    }
}
