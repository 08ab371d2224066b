//! Secrets in configuration: where they may come from, and how they are kept out of sight.
//!
//! A secret setting (Redis URL, database URL, provider API key) may be given
//! - in the environment or as a flag (`ROUTEQ_REDIS_URL=...`);
//! - as a file path (`ROUTEQ_REDIS_URL_FILE=/run/secrets/redis_url`: Docker and Kubernetes
//!   secrets), read at start with surrounding whitespace trimmed;
//! - encrypted, as `ENC(<base64>)`, decrypted at start with the key in `ROUTEQ_CONFIG_KEY` (64 hex
//!   characters) or the file named by `ROUTEQ_CONFIG_KEY_FILE`. Encrypt a value with
//!   `routeq-gateway secret encrypt` (reads it from standard input). The cipher is
//!   ChaCha20-Poly1305; a tampered or mis-keyed value is refused, never used.
//!
//! The types that hold secrets redact them in `Debug` and `Display`.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("an ENC(...) value needs ROUTEQ_CONFIG_KEY or ROUTEQ_CONFIG_KEY_FILE")]
    NoKey,
    #[error("the configuration key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("an ENC(...) value is not valid base64 of a nonce and a ciphertext")]
    Malformed,
    #[error("an ENC(...) value did not decrypt with the configuration key (wrong key or tampered)")]
    Decrypt,
    #[error("cannot read the secret file {0}")]
    File(String),
}

/// The configuration key from the environment, if any.
fn config_key() -> Result<Option<[u8; 32]>, SecretError> {
    let text = match (
        std::env::var("ROUTEQ_CONFIG_KEY"),
        std::env::var("ROUTEQ_CONFIG_KEY_FILE"),
    ) {
        (Ok(k), _) => k,
        (Err(_), Ok(path)) => {
            std::fs::read_to_string(&path).map_err(|_| SecretError::File(path))?
        }
        _ => return Ok(None),
    };
    parse_key(text.trim()).map(Some)
}

/// Parses a 64-hex-character key.
pub fn parse_key(hex_key: &str) -> Result<[u8; 32], SecretError> {
    let bytes = hex::decode(hex_key).map_err(|_| SecretError::BadKey)?;
    bytes.try_into().map_err(|_| SecretError::BadKey)
}

/// Returns the value itself, or the decryption of an `ENC(...)` value.
pub fn reveal(value: &str) -> Result<String, SecretError> {
    match value
        .trim()
        .strip_prefix("ENC(")
        .and_then(|v| v.strip_suffix(')'))
    {
        Some(sealed) => {
            let key = config_key()?.ok_or(SecretError::NoKey)?;
            decrypt(sealed, &key)
        }
        None => Ok(value.to_string()),
    }
}

/// Reads a secret from a file (Docker/Kubernetes secrets), trimmed; it may itself be `ENC(...)`.
pub fn from_file(path: &std::path::Path) -> Result<String, SecretError> {
    let text =
        std::fs::read_to_string(path).map_err(|_| SecretError::File(path.display().to_string()))?;
    reveal(text.trim())
}

/// Seals `plain` as `ENC(<base64(nonce ‖ ciphertext)>)`.
pub fn encrypt(plain: &str, key: &[u8; 32]) -> String {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    // 96 random bits from a v4 UUID (the OS random source) as the nonce.
    let nonce_bytes: [u8; 12] = uuid::Uuid::new_v4().as_bytes()[..12]
        .try_into()
        .unwrap_or([0; 12]);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce_bytes), plain.as_bytes())
        .unwrap_or_default();
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    format!(
        "ENC({})",
        base64::engine::general_purpose::STANDARD.encode(out)
    )
}

fn decrypt(sealed: &str, key: &[u8; 32]) -> Result<String, SecretError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| SecretError::Malformed)?;
    if bytes.len() < 12 + 16 {
        return Err(SecretError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| SecretError::Decrypt)?;
    String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_round_trip_and_refuse_tampering() {
        let key = parse_key(KEY).expect("key");
        let sealed = encrypt("redis://:hunter2@db:6379", &key);
        assert!(sealed.starts_with("ENC(") && !sealed.contains("hunter2"));
        let inner = &sealed[4..sealed.len() - 1];
        assert_eq!(
            decrypt(inner, &key).expect("decrypt"),
            "redis://:hunter2@db:6379"
        );
        let other = parse_key(&"ff".repeat(32)).expect("key");
        assert_eq!(decrypt(inner, &other), Err(SecretError::Decrypt));
        let mut tampered = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .expect("b64");
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(tampered);
        assert_eq!(decrypt(&tampered, &key), Err(SecretError::Decrypt));
        assert_eq!(parse_key("abc"), Err(SecretError::BadKey));
    }

    #[test]
    fn plain_values_pass_through_and_files_are_trimmed() {
        assert_eq!(reveal("plain").expect("plain"), "plain");
        let dir =
            std::env::temp_dir().join(format!("routeq-secret-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&dir, "  from-a-file \n").expect("write");
        assert_eq!(from_file(&dir).expect("file"), "from-a-file");
        let _ = std::fs::remove_file(&dir);
    }
}

/// A clap value parser for secret settings: its error never echoes the value (clap's own
/// messages quote what was given, which would print a password).
#[derive(Clone, Debug)]
pub struct Redacted<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Redacted<T> {
    pub fn new() -> Self {
        Redacted(std::marker::PhantomData)
    }
}

impl<T> Default for Redacted<T> {
    fn default() -> Self {
        Redacted::new()
    }
}

impl<T> clap::builder::TypedValueParser for Redacted<T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg
            .map(|a| a.to_string())
            .unwrap_or_else(|| "a secret setting".to_string());
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {name} (not shown: it may hold a secret): {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| refuse("not UTF-8".into()))?;
        text.parse::<T>().map_err(refuse)
    }
}
