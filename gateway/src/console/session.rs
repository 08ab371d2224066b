//! Who may use the console, and which posts are its own.
//!
//! - **The admin credential** (`--console-credential-file`): an operator's password, never a
//!   tenant key. Logging in with it sets a session cookie (`HttpOnly`, `SameSite=Strict`,
//!   `Path=/console`) holding `<expiry>.<nonce>.<mac>`, the MAC an HMAC-SHA256 keyed by the
//!   credential: stateless, so every gateway of a fleet sharing the credential accepts it, and
//!   changing the credential ends every session.
//! - **CSRF**: every action (a POST) must carry the session's token (an HMAC of its nonce,
//!   rendered into each form) **and** come from the console's own origin: `Origin` (or, without
//!   it, `Referer`) must name the host the request was sent to, and `Sec-Fetch-Site`, when sent,
//!   must not say `cross-site`/`same-site`. A cross-site post fails both.

use axum::http::{HeaderMap, header};
use hmac::{Hmac, KeyInit, Mac};

type HmacSha256 = Hmac<sha2_011::Sha256>;

/// The session cookie's name.
pub const COOKIE: &str = "rq_console";
/// How long a session lasts.
pub const SESSION_MS: u64 = 12 * 3600 * 1000;

/// The console's credential, keyed once. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Credential {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(***)")
    }
}

/// A valid session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Credential {
    /// Reads the credential file; refuses one shorter than 16 characters.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Credential> {
        let text = routeq_shared::secrets::from_file(path)
            .map_err(|e| anyhow::anyhow!("--console-credential-file: {e}"))?;
        anyhow::ensure!(
            text.chars().count() >= 16,
            "--console-credential-file: the credential must be at least 16 characters"
        );
        Ok(Credential {
            secret: text.into_bytes(),
        })
    }

    fn mac(&self, parts: &[&str]) -> String {
        // new_from_slice accepts keys of any length for HMAC.
        let mut m = match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        for p in parts {
            m.update(p.as_bytes());
            m.update(b"\n");
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// Whether `presented` is the credential (constant time in its content).
    pub fn matches(&self, presented: &str) -> bool {
        // Compare MACs of both: equal length, and no early exit on the secret's bytes.
        let a = self.mac(&["login", presented]);
        let b = self.mac(&["login", &String::from_utf8_lossy(&self.secret)]);
        constant_eq(a.as_bytes(), b.as_bytes())
    }

    /// A new session cookie value, valid for [`SESSION_MS`] from `now_ms`.
    pub fn new_session(&self, now_ms: u64) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let exp = (now_ms + SESSION_MS).to_string();
        let mac = self.mac(&["session", &exp, &nonce]);
        format!("{exp}.{nonce}.{mac}")
    }

    /// The session a request's cookie holds, when it is valid and unexpired.
    pub fn session(&self, headers: &HeaderMap, now_ms: u64) -> Option<Session> {
        let value = cookie(headers, COOKIE)?;
        let mut parts = value.splitn(3, '.');
        let (exp, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if !constant_eq(
            mac.as_bytes(),
            self.mac(&["session", exp, nonce]).as_bytes(),
        ) {
            return None;
        }
        if exp.parse::<u64>().ok()? <= now_ms {
            return None;
        }
        Some(Session {
            csrf: self.mac(&["csrf", nonce]),
        })
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether a post comes from the console's own origin (see the module's documentation).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(host) = text(header::HOST) else {
        return false;
    };
    let from = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(o), _) => o.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => return false,
    };
    let authority = from
        .strip_prefix("http://")
        .or_else(|| from.strip_prefix("https://"))
        .map(|rest| rest.split('/').next().unwrap_or(""));
    authority == Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred() -> Credential {
        Credential {
            secret: b"correct horse battery staple".to_vec(),
        }
    }

    fn with(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let c = cred();
        let s = c.new_session(1_000);
        let h = with(&[("cookie", &format!("a=b; {COOKIE}={s}"))]);
        assert!(c.session(&h, 2_000).is_some());
        assert!(c.session(&h, 1_000 + SESSION_MS).is_none(), "expired");
        let forged = s.replacen(|ch: char| ch.is_ascii_digit(), "9", 1);
        let h = with(&[("cookie", &format!("{COOKIE}={forged}"))]);
        assert!(c.session(&h, 2_000).is_none(), "forged");
        assert!(c.matches("correct horse battery staple"));
        assert!(!c.matches("correct horse battery stapl"));
    }

    #[test]
    fn only_posts_from_our_own_origin_pass() {
        let host = ("host", "127.0.0.1:9000");
        assert!(same_origin(&with(&[
            host,
            ("origin", "http://127.0.0.1:9000")
        ])));
        assert!(same_origin(&with(&[
            host,
            ("referer", "http://127.0.0.1:9000/console")
        ])));
        assert!(!same_origin(&with(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&with(&[host])), "no origin at all");
        assert!(!same_origin(&with(&[
            host,
            ("origin", "http://127.0.0.1:9000"),
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
