//! Delivering one event to one endpoint: what goes in ([`Event`], [`Endpoint`], [`Delivery`]),
//! what comes out ([`Report`]: the [`Outcome`] of this call and the [`Next`] step the caller
//! persists), and the [`Deliverer`] that runs deliveries concurrently with per-endpoint
//! isolation.
//!
//! The caller (the notifier loop) owns durability: it reads due deliveries from its outbox,
//! hands them to [`Deliverer::deliver`] (or [`Deliverer::run`]), and for each report either
//! acknowledges (`Done`), reschedules after the given delay (`RetryIn`, with the report's
//! `attempts_made`), or moves the event to its dead letters (`DeadLetter`). It persists health
//! changes (`Report::health`) and stops routing events to an endpoint reported disabled.

mod attempt;
mod breaker;
mod classify;
mod deliverer;
mod health;
mod schedule;
mod transport;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;

use crate::signature::Secret;
use crate::ssrf::{SsrfError, WebhookUrl};

pub use breaker::{BreakerPolicy, BreakerState};
pub use classify::Failure;
pub use deliverer::{Deliverer, DelivererConfig};
pub use health::{Health, HealthChange};
pub use schedule::{Schedule, ScheduleError};
pub use transport::HttpConfig;

/// Why an event or endpoint was refused at construction.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("{0} must be 1 to 256 visible ASCII characters without '.'")]
    Id(&'static str),
    #[error("the event type must not be empty")]
    EventType,
    #[error("an endpoint needs at least one signing secret")]
    NoSecret,
    #[error(transparent)]
    Url(#[from] SsrfError),
}

/// An id that can go in a header and in the signed content (`id.timestamp.body`: no dots).
fn valid_id(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
}

/// One notification: the same id on every attempt and to every endpoint (the receiver's
/// deduplication key, sent as `webhook-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: String,
    event_type: String,
    created_at: SystemTime,
    body: Bytes,
}

impl Event {
    /// `body` is sent as is (JSON); `created_at` starts the schedule's horizon.
    pub fn new(
        id: impl Into<String>,
        event_type: impl Into<String>,
        created_at: SystemTime,
        body: impl Into<Bytes>,
    ) -> Result<Event, InvalidInput> {
        let (id, event_type) = (id.into(), event_type.into());
        if !valid_id(&id) {
            return Err(InvalidInput::Id("the event id"));
        }
        if event_type.trim().is_empty() {
            return Err(InvalidInput::EventType);
        }
        Ok(Event {
            id,
            event_type,
            created_at,
            body: body.into(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn event_type(&self) -> &str {
        &self.event_type
    }
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Which event types an endpoint wants. Empty or `*`: all. `<ns>.finished` (e.g.
/// `route.finished`): every `<ns>.*` type (the outbox emits only terminal events). Otherwise an
/// exact type (`route.succeeded`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    types: Vec<String>,
}

impl EventFilter {
    pub fn all() -> EventFilter {
        EventFilter::default()
    }

    pub fn new<S: Into<String>>(types: impl IntoIterator<Item = S>) -> EventFilter {
        EventFilter {
            types: types.into_iter().map(Into::into).collect(),
        }
    }

    pub fn types(&self) -> &[String] {
        &self.types
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.types.is_empty()
            || self.types.iter().any(|t| {
                t == "*"
                    || t == event_type
                    || t.strip_suffix(".finished").is_some_and(|ns| {
                        event_type
                            .strip_prefix(ns)
                            .is_some_and(|rest| rest.starts_with('.'))
                    })
            })
    }
}

/// A registered endpoint: its URL (shape checked; addresses are checked at each delivery),
/// its active secrets (the current one first; during a rotation overlap the previous ones too:
/// each signs) and its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    id: String,
    url: WebhookUrl,
    secrets: Vec<Secret>,
    filter: EventFilter,
}

impl Endpoint {
    pub fn new(
        id: impl Into<String>,
        url: &str,
        secrets: Vec<Secret>,
        filter: EventFilter,
    ) -> Result<Endpoint, InvalidInput> {
        let id = id.into();
        if !valid_id(&id) {
            return Err(InvalidInput::Id("the endpoint id"));
        }
        if secrets.is_empty() {
            return Err(InvalidInput::NoSecret);
        }
        Ok(Endpoint {
            id,
            url: WebhookUrl::parse(url)?,
            secrets,
            filter,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn url(&self) -> &WebhookUrl {
        &self.url
    }
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }
}

/// One event for one endpoint, with the attempts already made (0 for a new one).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Arc<Event>,
    pub endpoint: Arc<Endpoint>,
    pub attempts_made: u32,
}

/// Why a delivery was not attempted now (no attempt is spent; retry after [`Next::RetryIn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deferral {
    /// The endpoint's circuit breaker is open (or its half-open trial is running).
    CircuitOpen,
    /// The endpoint already has as many deliveries in flight and waiting as it may.
    Busy,
}

/// Why a delivery was not attempted at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// The endpoint's filter does not want this event type.
    Filtered,
    /// The endpoint is disabled.
    Disabled,
}

/// What this call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { status: u16 },
    Failed(Failure),
    Deferred(Deferral),
    Skipped(Skip),
}

impl Outcome {
    /// A bounded label of the result (`2xx`, a [`Failure::class`], `circuit_open`, `busy`,
    /// `filtered`, `disabled`).
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Delivered { status } => classify::status_class(*status),
            Outcome::Failed(f) => f.class(),
            Outcome::Deferred(Deferral::CircuitOpen) => "circuit_open",
            Outcome::Deferred(Deferral::Busy) => "busy",
            Outcome::Skipped(Skip::Filtered) => "filtered",
            Outcome::Skipped(Skip::Disabled) => "disabled",
        }
    }
}

/// What the caller does next with this delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered, or nothing to deliver (filtered): acknowledge.
    Done,
    /// Try again after this delay, with [`Report::attempts_made`].
    RetryIn(Duration),
    /// Past the schedule, a permanent failure, or a disabled endpoint: a dead letter.
    DeadLetter,
}

/// The first bytes of what the receiver answered (for the delivery log; never logged here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    pub truncated: bool,
}

/// The result of one [`Deliverer::deliver`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub next: Next,
    /// Attempts made including this one (unchanged when nothing was attempted).
    pub attempts_made: u32,
    /// How long the attempt took (resolution, connection, request and answer).
    pub latency: Option<Duration>,
    pub response: Option<Response>,
    /// A change of the endpoint's health caused by this attempt: persist it.
    pub health: Option<HealthChange>,
    /// A transition of the endpoint's breaker caused by this attempt.
    pub breaker: Option<BreakerState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = EventFilter::new(["route.finished", "job.succeeded"]);
        assert!(f.matches("route.succeeded"));
        assert!(f.matches("route.failed"));
        assert!(!f.matches("routes.failed"));
        assert!(!f.matches("route"));
        assert!(f.matches("job.succeeded"));
        assert!(!f.matches("job.failed"));
        assert!(EventFilter::all().matches("anything"));
        assert!(EventFilter::new(["*"]).matches("x.y"));
        assert!(!EventFilter::new(["route.succeeded"]).matches("route.failed"));
    }

    #[test]
    fn construction_errors() {
        let secret = Secret::generate().unwrap();
        let ok = |u: &str| Endpoint::new("ep_1", u, vec![secret.clone()], EventFilter::all());
        assert!(ok("https://example.com/hook").is_ok());
        assert_eq!(
            ok("ftp://x/").unwrap_err().to_string(),
            "scheme \"ftp\" is not allowed (only http and https)"
        );
        assert_eq!(
            Endpoint::new("ep", "https://example.com/", vec![], EventFilter::all()),
            Err(InvalidInput::NoSecret)
        );
        assert!(
            Endpoint::new(
                "a.b",
                "https://example.com/",
                vec![secret],
                EventFilter::all()
            )
            .is_err()
        );
        let now = SystemTime::now();
        assert!(Event::new("msg_1", "route.succeeded", now, "{}").is_ok());
        assert_eq!(
            Event::new("msg 1", "t", now, "{}"),
            Err(InvalidInput::Id("the event id"))
        );
        assert_eq!(
            Event::new("msg.1", "t", now, "{}"),
            Err(InvalidInput::Id("the event id"))
        );
        assert_eq!(
            Event::new("msg_1", " ", now, "{}"),
            Err(InvalidInput::EventType)
        );
    }
}
