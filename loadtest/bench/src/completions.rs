//! Watching job completions: one subscription to `{prefix}:done` (workers publish a job's id there
//! once, when it ends), opened before the first submission, stamping each message on arrival.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A live subscription; arrival times are taken by a task of its own, so they do not depend on
/// when the scenario gets round to reading them.
pub struct Completions {
    rx: mpsc::UnboundedReceiver<(Instant, String)>,
    task: JoinHandle<()>,
}

impl Drop for Completions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What arrived for the jobs of one run.
#[derive(Debug, Clone)]
pub struct CompletionLog {
    /// Arrival time of each expected job's first completion, in arrival order.
    pub times: Vec<Instant>,
    /// Completions of an expected job seen more than once (routeq publishes once per job).
    pub duplicates: usize,
    /// Completions of ids this run did not submit.
    pub strangers: usize,
}

impl Completions {
    /// Subscribes; returns once Redis has confirmed the subscription.
    pub async fn subscribe(client: &redis::Client, prefix: &str) -> anyhow::Result<Completions> {
        let channel = routeq_shared::redis::Keys::new(prefix)
            .map_err(anyhow::Error::msg)?
            .done_channel();
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .context("opening a pub/sub connection")?;
        pubsub
            .subscribe(&channel)
            .await
            .with_context(|| format!("SUBSCRIBE {channel}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                let at = Instant::now();
                // One message names every job a completion script stored (its first line).
                let payload = String::from_utf8_lossy(msg.get_payload_bytes()).into_owned();
                for id in routeq_shared::redis::record::DoneMessage::parse(&payload).ids() {
                    if tx.send((at, id.to_string())).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Completions { rx, task })
    }

    /// Waits until every id in `expected` has completed. Fails when no completion arrives for
    /// `stall`, or when the subscription ends.
    pub async fn wait_all(
        &mut self,
        expected: &HashSet<String>,
        stall: Duration,
    ) -> anyhow::Result<CompletionLog> {
        let mut seen = HashSet::with_capacity(expected.len());
        let mut log = CompletionLog {
            times: Vec::with_capacity(expected.len()),
            duplicates: 0,
            strangers: 0,
        };
        while seen.len() < expected.len() {
            match tokio::time::timeout(stall, self.rx.recv()).await {
                Ok(Some((at, id))) => {
                    if !expected.contains(&id) {
                        log.strangers += 1;
                    } else if seen.insert(id) {
                        log.times.push(at);
                    } else {
                        log.duplicates += 1;
                    }
                }
                Ok(None) => bail!(
                    "the completion subscription ended after {} of {} jobs",
                    seen.len(),
                    expected.len()
                ),
                Err(_) => bail!(
                    "only {} of {} jobs completed: no completion for {} s",
                    seen.len(),
                    expected.len(),
                    stall.as_secs()
                ),
            }
        }
        Ok(log)
    }
}
