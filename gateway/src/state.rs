//! What every handler shares: the job store, the durable record, the waiters, the sampled queue,
//! the configuration, and the shutdown token.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use routeq_shared::redis::{Conn, JobStore};
use tokio_util::sync::CancellationToken;

use crate::config::{GatewayConfig, Limits};
use crate::queue::QueueView;
use crate::waiters::Waiters;

/// The handlers' state (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: JobStore,
    /// Submissions of a partition that arrive together go in one script call (queue/batch.rs).
    pub submits: crate::queue::batch::Batcher,
    /// The durable record, read when a job has left Redis (its TTL passed). `None` when unset.
    pub db: Option<sqlx::PgPool>,
    pub waiters: Waiters,
    pub cfg: GatewayConfig,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    /// Cancelled at shutdown: waiting requests answer with what they have.
    pub shutdown: CancellationToken,
    /// The queue as last sampled (admission control reads it; the request path never samples).
    pub queue: Arc<QueueView>,
    /// Connections of their own for submissions that wait for replicas (`WAIT` holds its
    /// connection while it waits); empty without --submit-replicas.
    pub replicated: Vec<Conn>,
    /// Round-robin over them and over the partitions of unkeyed submissions.
    pub turn: std::sync::atomic::AtomicUsize,
    /// Webhook endpoints, their address policy and resolver (api/webhooks/).
    pub webhooks: crate::api::webhooks::WebhookApi,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
