//! The queue as this gateway sees it: sampled off the request path ([`sampler`]) for the metrics
//! SREs and autoscalers scale on, and judged on the request path by admission control
//! ([`admission`]) from the last sample only.

pub mod admission;
pub mod batch;
pub mod sampler;

use std::sync::atomic::{AtomicBool, AtomicU64};

/// The queue as last sampled (written by the sampler, read by admission control).
#[derive(Debug, Default)]
pub struct QueueView {
    /// Jobs in the stream at the last sample.
    pub length: AtomicU64,
    /// Backlog ÷ the rate admission judges by ([`sampler::judged_rate`]) at the last sample, in
    /// ms; meaningful only while `rate_known`.
    pub predicted_wait_ms: AtomicU64,
    /// Whether there is a rate to judge by (one measured, or the configured capacity); until
    /// there is, admission control refuses nothing.
    pub rate_known: AtomicBool,
    /// Whether any sample has been taken yet.
    pub sampled: AtomicBool,
}
