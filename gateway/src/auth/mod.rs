//! Who may do what: tenants, API keys ([`keys`]) and per-tenant request rates.
//!
//! Clients authenticate with `Authorization: Bearer <key>`. Every job belongs to the tenant of
//! the key that submitted it. With `--auth open` (local development) every request is the default
//! tenant, and the gateway says so loudly at start.

pub mod keys;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::redis::scripts::scripts;
use routeq_shared::redis::{Conn, Keys};

pub use crate::config::AuthMode;
use crate::http::{ApiError, RequestId};
pub use keys::{ApiKeys, KeyInfo, valid_tenant};

/// The tenant a request acts for, with its limits (0 = unlimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub rate_per_s: u64,
    pub max_queued: u64,
}

/// The authentication middleware's state (cheap to clone: axum clones it for every request).
#[derive(Clone)]
pub struct Authenticator(std::sync::Arc<AuthInner>);

impl std::ops::Deref for Authenticator {
    type Target = AuthInner;
    fn deref(&self) -> &AuthInner {
        &self.0
    }
}

pub struct AuthInner {
    pub mode: AuthMode,
    /// The tenant of `--auth open`, and the limits of keys that carry none of their own.
    pub default: Tenant,
    pub keys: ApiKeys,
    conn: Conn,
    space: Keys,
}

impl Authenticator {
    /// The gateway's authenticator: its mode, and the default tenant and limits of its flags.
    pub fn from_config(
        cfg: &crate::config::GatewayConfig,
        conn: Conn,
        space: Keys,
    ) -> Authenticator {
        let default = Tenant {
            id: cfg.default_tenant.clone(),
            rate_per_s: cfg.tenant_rate_per_s,
            max_queued: cfg.tenant_max_queued,
        };
        Authenticator::new(cfg.auth, default, conn, space)
    }

    pub fn new(mode: AuthMode, default: Tenant, conn: Conn, space: Keys) -> Authenticator {
        Authenticator(std::sync::Arc::new(AuthInner {
            mode,
            default,
            keys: ApiKeys::new(conn.clone(), space.clone()),
            conn,
            space,
        }))
    }

    /// The tenant a request acts for, or the answer that refuses it.
    async fn tenant(&self, bearer: Option<String>, rid: &RequestId) -> Result<Tenant, Response> {
        if self.mode == AuthMode::Open {
            return Ok(self.default.clone());
        }
        let Some(key) = bearer else {
            return Err(unauthorized(rid, "send Authorization: Bearer <API key>"));
        };
        match self.keys.lookup(&key).await {
            Ok(Some(mut t)) => {
                // A key without its own limits gets the gateway's.
                if t.rate_per_s == 0 {
                    t.rate_per_s = self.default.rate_per_s;
                }
                if t.max_queued == 0 {
                    t.max_queued = self.default.max_queued;
                }
                Ok(t)
            }
            Ok(None) => Err(unauthorized(rid, "unknown or revoked API key")),
            Err(e) => Err(ApiError::queue_unavailable(rid, &e).into_response()),
        }
    }

    /// Counts the request in its tenant's one-second window; the answer that refuses it when the
    /// tenant is over its rate.
    async fn count(&self, tenant: &Tenant, rid: &RequestId) -> Result<(), Response> {
        if tenant.rate_per_s == 0 {
            return Ok(());
        }
        let second = routeq_shared::job::now_ms() / 1000;
        let mut conn = self.conn.clone();
        let counted: redis::RedisResult<u64> = scripts()
            .tenant_rate
            .key(self.space.tenant_rate(&tenant.id, second))
            .arg(2_000)
            .invoke_async(&mut conn)
            .await;
        match counted {
            Ok(n) if n > tenant.rate_per_s => {
                metrics::counter!(routeq_shared::metrics::http::RATE_LIMITED.name).increment(1);
                Err(ApiError::new(
                    Code::RateLimited,
                    rid,
                    format!(
                        "this tenant may send {} requests per second",
                        tenant.rate_per_s
                    ),
                )
                .retry_after(1)
                .into_response())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::queue_unavailable(rid, &e).into_response()),
        }
    }
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
pub async fn authenticate(
    State(auth): State<Authenticator>,
    mut req: Request,
    next: Next,
) -> Response {
    let rid = RequestId::of(req.extensions());
    let key = bearer(&req).map(str::to_string);
    let tenant = match auth.tenant(key, &rid).await {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    if let Err(refused) = auth.count(&tenant, &rid).await {
        return refused;
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
