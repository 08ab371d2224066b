//! Standard Webhooks signatures (symmetric `v1`: HMAC-SHA256).
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes sent;
//! the key is the base64-decoded secret (`whsec_<base64>`); a signature is `v1,<base64 MAC>`.
//! `webhook-signature` is a space-separated list so that a secret can rotate without downtime:
//! during an overlap the sender signs with every active secret and the receiver accepts the
//! message when **any** `v1` entry matches one of its secrets. Entries of other versions (`v1a,`
//! asymmetric, future `v2,`) are skipped. Comparison is constant-time (`hmac`'s `verify_slice`).
//! The timestamp is that of the attempt; a receiver refuses one outside its tolerance (the
//! reference libraries use ±5 minutes, [`DEFAULT_TOLERANCE`]) so a captured request cannot be
//! replayed later.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRngCore;
use reqwest::header::HeaderMap;

type HmacSha256 = Hmac<sha2_011::Sha256>;

/// The header names of the scheme.
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The prefix of a symmetric secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// The tolerance of the reference libraries: a timestamp more than 5 minutes old or ahead fails.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// The size of a generated secret (the specification asks for 24 to 64 random bytes).
pub const GENERATED_SECRET_BYTES: usize = 32;
const MIN_SECRET_BYTES: usize = 24;
const MAX_SECRET_BYTES: usize = 64;

/// A symmetric signing secret. Its `Debug` form never shows the key.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
    /// The MAC keyed once (HMAC's inner and outer pads computed): each signature clones it.
    keyed: HmacSha256,
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.key == other.key
    }
}
impl Eq for Secret {}

/// Why a secret's text was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret is not base64 (expected whsec_<base64>)")]
    NotBase64,
    #[error("the secret has {0} bytes; the scheme needs 24 to 64")]
    Length(usize),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .unwrap_or(text.trim());
        let key = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
        Secret::from_bytes(key)
    }

    /// A secret from raw key bytes (24 to 64).
    pub fn from_bytes(key: Vec<u8>) -> Result<Secret, SecretError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        let keyed = HmacSha256::new_from_slice(&key).map_err(|_| SecretError::Length(key.len()))?;
        Ok(Secret { key, keyed })
    }

    /// A new secret of [`GENERATED_SECRET_BYTES`] bytes from the operating system's generator.
    pub fn generate() -> Result<Secret, SecretError> {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| SecretError::Random(e.to_string()))?;
        Secret::from_bytes(key)
    }

    /// The text form, `whsec_<base64>`: what the endpoint's owner is shown once and stores.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(&self.key))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.key.len())
    }
}

/// One signature, `v1,<base64>`, over `msg_id.timestamp.body`.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(msg_id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", B64.encode(tag))
}

/// The `webhook-signature` value: one signature per active secret, space-separated (the current
/// secret first, then those still in their rotation overlap).
pub fn signature_header(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a message failed verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing or non-text header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not an integer number of seconds")]
    InvalidTimestamp,
    #[error("webhook-timestamp is {skew_s} s away from now, beyond the tolerance")]
    OutsideTolerance { skew_s: i64 },
    #[error("no v1 signature matches any secret")]
    NoMatch,
    #[error("no secret to verify with")]
    NoSecret,
}

/// Verifies a received message from its headers (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) and exact body bytes, `now` in unix seconds.
pub fn verify(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let text = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::MissingHeader(name))
    };
    verify_parts(
        secrets,
        text(HEADER_ID)?,
        text(HEADER_TIMESTAMP)?,
        text(HEADER_SIGNATURE)?,
        body,
        now,
        tolerance,
    )
}

/// [`verify`] from the three header values.
pub fn verify_parts(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    let skew = now.saturating_sub(ts);
    let tolerance_s = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if skew.saturating_abs() > tolerance_s {
        return Err(VerifyError::OutsideTolerance { skew_s: skew });
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| B64.decode(sig).ok())
        .filter(|sig| !sig.is_empty())
        .collect();
    let matches = secrets.iter().any(|secret| {
        let mac = secret.mac(msg_id, ts, body);
        candidates
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let shown = format!("{s:?}");
        assert_eq!(shown, "Secret(24 bytes, redacted)");
        assert!(!shown.contains("MfKQ"));
    }

    #[test]
    fn generated_secrets_round_trip_and_differ() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(Secret::parse(&a.expose()).unwrap(), a);
        assert_eq!(a.key.len(), GENERATED_SECRET_BYTES);
    }

    #[test]
    fn secret_text_errors() {
        assert_eq!(Secret::parse("whsec_"), Err(SecretError::Length(0)));
        assert_eq!(Secret::parse("whsec_!!!"), Err(SecretError::NotBase64));
        assert_eq!(Secret::parse("whsec_AAAA"), Err(SecretError::Length(3)));
    }
}
