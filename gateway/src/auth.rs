//! Who may do what: API keys, tenants and per-tenant request rates.
//!
//! Clients authenticate with `Authorization: Bearer <key>`. A key is shown once, at creation, and
//! stored only as its SHA-256 (`{p}:apikey:<sha256>` → tenant and limits), so a leaked Redis dump
//! holds no usable key; revoking deletes that record, so the next request with the key is refused.
//! Every job belongs to the tenant of the key that submitted it. With `--auth open` (local
//! development) every request is the default tenant, and the gateway says so loudly at start.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::{AsyncCommands, Script};
use routeq_shared::Code;
use routeq_shared::keys::Keys;
use sha2::Digest;

use crate::app::AppState;
use crate::error::{ApiError, RequestId};

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No keys: every request is the default tenant. For local development only.
    Open,
    /// `Authorization: Bearer <key>` is required; keys are managed with `routeq-gateway keys`.
    Keys,
}

/// The tenant a request acts for, with its limits (0 = unlimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub rate_per_s: u64,
    pub max_queued: u64,
}

/// A stored key, as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub tenant: String,
    pub rate_per_s: u64,
    pub max_queued: u64,
    pub created_ms: u64,
}

/// The API key store in Redis.
#[derive(Clone)]
pub struct ApiKeys {
    conn: redis::aio::ConnectionManager,
    keys: Keys,
}

/// SHA-256 of a presented key, hex.
fn digest(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Tenant ids become part of Redis keys: keep them plain.
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ApiKeys {
    pub fn new(conn: redis::aio::ConnectionManager, keys: Keys) -> ApiKeys {
        ApiKeys { conn, keys }
    }

    /// Creates a key for `tenant`; returns `(id, key)`. The key is not stored and cannot be shown again.
    pub async fn create(
        &self,
        tenant: &str,
        rate_per_s: u64,
        max_queued: u64,
    ) -> redis::RedisResult<(String, String)> {
        // Three v4 UUIDs: 366 bits from the operating system's random source.
        let [a, b, c] = [
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        ];
        let id = a.simple().to_string()[..8].to_string();
        let key = format!("rq_{id}_{}{}", b.simple(), c.simple());
        let sha = digest(&key);
        let now = routeq_shared::job::now_ms();
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .atomic()
            .hset_multiple(
                self.keys.api_key(&sha),
                &[
                    ("id", id.clone()),
                    ("tenant", tenant.to_string()),
                    ("rate", rate_per_s.to_string()),
                    ("max_queued", max_queued.to_string()),
                    ("created", now.to_string()),
                ],
            )
            .ignore()
            .hset(self.keys.api_key_index(), &id, &sha)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok((id, key))
    }

    pub async fn list(&self) -> redis::RedisResult<Vec<KeyInfo>> {
        let mut conn = self.conn.clone();
        let index: HashMap<String, String> = conn.hgetall(self.keys.api_key_index()).await?;
        let mut out = Vec::new();
        for sha in index.values() {
            let f: HashMap<String, String> = conn.hgetall(self.keys.api_key(sha)).await?;
            if let Some(info) = key_info(&f) {
                out.push(info);
            }
        }
        out.sort_by(|a, b| {
            (a.tenant.as_str(), a.created_ms).cmp(&(b.tenant.as_str(), b.created_ms))
        });
        Ok(out)
    }

    /// Revokes a key by id; `false` when there is no such key.
    pub async fn revoke(&self, id: &str) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let sha: Option<String> = conn.hget(self.keys.api_key_index(), id).await?;
        let Some(sha) = sha else { return Ok(false) };
        let _: () = redis::pipe()
            .atomic()
            .del(self.keys.api_key(&sha))
            .ignore()
            .hdel(self.keys.api_key_index(), id)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// The tenant of a presented key, or `None` when the key is unknown or revoked.
    pub async fn lookup(&self, presented: &str) -> redis::RedisResult<Option<Tenant>> {
        let mut conn = self.conn.clone();
        let f: HashMap<String, String> =
            conn.hgetall(self.keys.api_key(&digest(presented))).await?;
        Ok(key_info(&f).map(|k| Tenant {
            id: k.tenant,
            rate_per_s: k.rate_per_s,
            max_queued: k.max_queued,
        }))
    }
}

fn key_info(f: &HashMap<String, String>) -> Option<KeyInfo> {
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(KeyInfo {
        id: f.get("id")?.clone(),
        tenant: f.get("tenant")?.clone(),
        rate_per_s: num("rate"),
        max_queued: num("max_queued"),
        created_ms: num("created"),
    })
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates `/v1` requests, applies the tenant's request rate, and hands the [`Tenant`] on.
pub async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let rid = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(String::new()));
    let tenant = match app.cfg.auth {
        AuthMode::Open => Tenant {
            id: app.cfg.default_tenant.clone(),
            rate_per_s: app.cfg.tenant_rate_per_s,
            max_queued: app.cfg.tenant_max_queued,
        },
        AuthMode::Keys => {
            let Some(key) = bearer(&req) else {
                return unauthorized(&rid, "send Authorization: Bearer <API key>");
            };
            match app.api_keys.lookup(key).await {
                Ok(Some(mut t)) => {
                    // A key without its own limits gets the gateway's.
                    if t.rate_per_s == 0 {
                        t.rate_per_s = app.cfg.tenant_rate_per_s;
                    }
                    if t.max_queued == 0 {
                        t.max_queued = app.cfg.tenant_max_queued;
                    }
                    t
                }
                Ok(None) => return unauthorized(&rid, "unknown or revoked API key"),
                Err(e) => return ApiError::queue_unavailable(&rid, &e).into_response(),
            }
        }
    };
    if tenant.rate_per_s > 0 {
        let second = routeq_shared::job::now_ms() / 1000;
        let mut conn = app.store.connection();
        let counted: redis::RedisResult<u64> =
            Script::new(include_str!("../../shared/src/lua/tenant_rate.lua"))
                .key(app.store.keys().tenant_rate(&tenant.id, second))
                .arg(2_000)
                .invoke_async(&mut conn)
                .await;
        match counted {
            Ok(n) if n > tenant.rate_per_s => {
                metrics::counter!(crate::metrics::RATE_LIMITED).increment(1);
                return ApiError::new(
                    Code::RateLimited,
                    &rid,
                    format!(
                        "this tenant may send {} requests per second",
                        tenant.rate_per_s
                    ),
                )
                .retry_after(1)
                .into_response();
            }
            Ok(_) => {}
            Err(e) => return ApiError::queue_unavailable(&rid, &e).into_response(),
        }
    }
    req.extensions_mut().insert(tenant);
    next.run(req).await
}

fn unauthorized(rid: &RequestId, detail: &str) -> Response {
    let mut res = ApiError::new(Code::Unauthorized, rid, detail).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"routeq\""),
    );
    res
}
