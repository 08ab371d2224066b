//! `routeq-notifier`: drains the webhook outbox and delivers every finished job's event to the
//! endpoints that asked for it, signed (Standard Webhooks), at least once, through
//! routeq-notify's [`Deliverer`](routeq_notify::Deliverer).
//!
//! Its own binary rather than a part of the worker: it talks to customers' URLs, not to our
//! providers, so its failure modes (slow or dead receivers, hours of retries) and its blast
//! radius (outbound connections to the internet, the SSRF policy) stay apart from route jobs; it
//! scales on its own backlog; and a worker restart never interrupts deliveries (or the reverse).
//!
//! - [`engine`]: the fan-out and delivery loops; [`task`]: one delivery as stored;
//! - [`dead`]: dead letters (list, replay) and the backlog; [`config`]: the flags;
//! - [`health`]: the loops' heartbeat behind `/healthz`.

pub mod config;
pub mod dead;
pub mod engine;
pub mod health;
pub mod startup;
pub mod task;

pub use config::NotifierConfig;
