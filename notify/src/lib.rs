//! routeq's webhook delivery core: what the notifier uses to push a finished job's event to the
//! endpoints that asked for it.
//!
//! - [`signature`]: Standard Webhooks signatures (`whsec_` secrets, `v1,` HMAC-SHA256 over
//!   `id.timestamp.body`, several signatures during a secret rotation), signing and verifying.
//! - [`ssrf`]: which URLs and addresses a webhook may reach; the host is resolved and checked
//!   at registration and at every delivery, and the connection goes to the checked address.
//! - [`delivery`]: one delivery attempt with the Standard Webhooks headers, the classification
//!   of its result, the retry schedule, and the [`Deliverer`] with per-endpoint concurrency
//!   limits, circuit breakers and disabling.
//! - [`metrics`]: the metric names (`routeq_webhook_*`).
//!
//! Durability is the caller's: the outbox, the schedule's persisted due times, dead letters.

pub mod delivery;
pub mod metrics;
pub mod signature;
pub mod ssrf;

pub use delivery::{
    BreakerPolicy, BreakerState, Deferral, Deliverer, DelivererConfig, Delivery, Endpoint, Event,
    EventFilter, Failure, Health, HealthChange, HttpConfig, InvalidInput, Next, Outcome, Report,
    Response, Schedule, ScheduleError, Skip,
};
pub use signature::{Secret, SecretError, VerifyError};
pub use ssrf::{
    AddrClass, AllowList, MapResolver, OverrideResolver, Resolve, SsrfError, SystemResolver,
    Target, UrlPolicy, WebhookUrl,
};
