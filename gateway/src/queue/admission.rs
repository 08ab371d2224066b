//! Admission control: refuse (503 `QUEUE_SATURATED` + `Retry-After`) a job the measured backlog
//! predicts cannot start before its deadline, instead of accepting it to expire.

use std::sync::atomic::Ordering::Relaxed;

use routeq_shared::Code;

use super::QueueView;
use crate::http::{ApiError, RequestId};

/// Admission settings (from the gateway's flags).
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub enabled: bool,
    /// Backlog below which nothing is refused (the prediction needs a backlog).
    pub min_backlog: u64,
}

impl Admission {
    pub fn new(cfg: &crate::config::GatewayConfig) -> Admission {
        Admission {
            enabled: cfg.admission,
            min_backlog: cfg.admission_min_backlog,
        }
    }

    /// Admits a job with `deadline_ms` of patience, or refuses it.
    pub fn admit(
        &self,
        view: &QueueView,
        deadline_ms: u64,
        rid: &RequestId,
    ) -> Result<(), ApiError> {
        if !self.enabled || !view.sampled.load(Relaxed) || !view.rate_known.load(Relaxed) {
            return Ok(());
        }
        let backlog = view.length.load(Relaxed);
        let wait_ms = view.predicted_wait_ms.load(Relaxed);
        if backlog < self.min_backlog || wait_ms <= deadline_ms {
            return Ok(());
        }
        tracing::warn!(request_id = %rid.0, backlog, predicted_wait_ms = wait_ms, "job refused by admission control");
        Err(ApiError::new(
            Code::QueueSaturated,
            rid,
            format!(
                "{backlog} jobs are queued and the predicted wait ({} s) exceeds this job's deadline ({} s)",
                wait_ms / 1000,
                deadline_ms / 1000
            ),
        )
        .retry_after((wait_ms / 1000).clamp(1, 60)))
    }
}
