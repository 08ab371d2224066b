//! API keys: read from a flag, the environment or a file, and wrapped so they never print.
//!
//! `Debug` shows `ApiKey(***)` and there is no `Display`: a key can only leave this type through
//! [`ApiKey::expose`], which the adapters call when they build the `Authorization` header.

/// A provider API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// Reads a key from a file (trailing whitespace and newlines trimmed).
    pub fn from_file(path: &std::path::Path) -> Result<ApiKey, String> {
        let text = routeq_shared::secrets::from_file(path).map_err(|e| e.to_string())?;
        let key = text.trim();
        if key.is_empty() {
            return Err(format!("the API key file {} is empty", path.display()));
        }
        Ok(ApiKey(key.to_string()))
    }

    /// The key itself, for the request that needs it. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ApiKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = routeq_shared::secrets::reveal(s.trim()).map_err(|e| e.to_string())?;
        let key = key.trim();
        if key.is_empty() {
            return Err("an API key must not be empty".into());
        }
        Ok(ApiKey(key.to_string()))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_prints() {
        let key: ApiKey = " s3cret-kakao-key \n".parse().expect("key");
        assert_eq!(key.expose(), "s3cret-kakao-key");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert!(!format!("{:?}", Some(key)).contains("s3cret"));
        assert!("  ".parse::<ApiKey>().is_err());
    }

    #[test]
    fn a_key_file_is_read_and_trimmed() {
        let path = std::env::temp_dir().join(format!("routeq-key-{}", std::process::id()));
        std::fs::write(&path, "file-key\n").expect("write");
        assert_eq!(ApiKey::from_file(&path).expect("read").expose(), "file-key");
        std::fs::write(&path, "\n").expect("write");
        assert!(ApiKey::from_file(&path).is_err());
        let _ = std::fs::remove_file(&path);
        assert!(ApiKey::from_file(&path).is_err());
    }
}
