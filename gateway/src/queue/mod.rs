//! The queue as this gateway sees it: sampled off the request path ([`sampler`]) for the metrics
//! SREs and autoscalers scale on, and judged on the request path by admission control
//! ([`admission`]) from the last sample only.

pub mod admission;
pub mod sampler;

use std::sync::atomic::{AtomicBool, AtomicU64};

/// The queue as last sampled (written by the sampler, read by admission control).
#[derive(Debug, Default)]
pub struct QueueView {
    /// Jobs in the stream at the last sample.
    pub length: AtomicU64,
    /// Backlog ÷ completion rate at the last sample, in ms.
    pub predicted_wait_ms: AtomicU64,
    /// Whether any sample has been taken yet.
    pub sampled: AtomicBool,
}
