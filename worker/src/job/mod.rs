//! A job's life in a worker: read from the stream ([`reader`]), started and computed ([`run`]),
//! and completed in batches ([`completer`]).

pub mod completer;
pub mod reader;
pub mod run;

use std::sync::Arc;

use routeq_shared::redis::JobStore;
use routeq_shared::redis::deadletters::DeadLetters;
use tokio::sync::Semaphore;

use crate::config::WorkerConfig;

/// Everything a job task needs.
pub struct Ctx {
    pub store: JobStore,
    /// Completes finished jobs, batching those that finish together.
    pub completer: completer::Completer,
    pub engine: crate::steps::Engine,
    pub dead_letters: DeadLetters,
    pub cfg: WorkerConfig,
    pub consumer: String,
    pub permits: Arc<Semaphore>,
    pub tracker: tokio_util::task::TaskTracker,
}
