//! A job's life in a worker: read from the stream ([`reader`]), started and computed ([`run`]),
//! and completed in batches ([`completer`]).

pub mod completer;
pub mod heartbeat;
pub mod pause;
pub mod reader;
pub mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use routeq_shared::redis::JobStore;
use routeq_shared::redis::connect::Settings;
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
    /// Timeouts and TCP settings of this process's Redis connections.
    pub settings: Settings,
    /// The stream entries this process works on now, with their partition (touched so they
    /// are not reclaimed; skipped when our own pending entries are read again).
    pub in_flight: Arc<Mutex<HashMap<String, u16>>>,
    /// The readers' last beats (what `/healthz` checks).
    pub readers: Arc<heartbeat::ReaderHealth>,
    /// Whether the fleet is paused ([`pause`]): readers take no new jobs while it is.
    pub paused: tokio::sync::watch::Receiver<bool>,
}

/// Removes an entry from the in-flight set when dropped.
pub struct InFlight {
    set: Arc<Mutex<HashMap<String, u16>>>,
    entry: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.entry);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ctx {
    /// Marks `entry` (of `partition`) in flight until the guard drops.
    pub fn track(&self, entry: &str, partition: u16) -> InFlight {
        lock(&self.in_flight).insert(entry.to_string(), partition);
        InFlight {
            set: self.in_flight.clone(),
            entry: entry.to_string(),
        }
    }

    pub fn is_in_flight(&self, entry: &str) -> bool {
        lock(&self.in_flight).contains_key(entry)
    }

    /// The entries in flight, by partition.
    pub fn in_flight_by_partition(&self) -> Vec<(u16, Vec<String>)> {
        let mut by: HashMap<u16, Vec<String>> = HashMap::new();
        for (entry, p) in lock(&self.in_flight).iter() {
            by.entry(*p).or_default().push(entry.clone());
        }
        by.into_iter().collect()
    }
}
