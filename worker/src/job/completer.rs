//! Completes jobs in batches: the jobs that finish while a completion round trip is in flight are
//! completed together by the next one (one script call, each job still written exactly once).
//! A lone job waits for nothing: when the completer is idle its job goes out at once.

use routeq_shared::Code;
use routeq_shared::job::{JobState, Outcome, now_ms};
use routeq_shared::redis::JobStore;
use routeq_shared::redis::scripts::Completed;
use routeq_shared::redis::store::{Completion, Delivered};
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one completion script (bounds the script's run time inside Redis).
const MAX_BATCH: usize = 128;

struct Request {
    tenant: String,
    job_id: String,
    entry_id: String,
    state: JobState,
    code: Code,
    outcome: String,
    reply: oneshot::Sender<Result<Completed, String>>,
}

/// A handle to this process's completer task.
#[derive(Clone)]
pub struct Completer {
    tx: mpsc::UnboundedSender<Request>,
}

impl Completer {
    /// Starts the completer; it stops when every handle is dropped.
    pub fn spawn(store: JobStore) -> Completer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, rx));
        Completer { tx }
    }

    /// Completes one job (batched with whatever else is ready). An error means Redis did not
    /// answer; the caller retries, and the entry stays pending until someone succeeds.
    pub async fn complete(
        &self,
        job: Delivered<'_>,
        state: JobState,
        code: Code,
        outcome: &Outcome,
    ) -> Result<Completed, String> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            tenant: job.tenant.to_string(),
            job_id: job.job_id.to_string(),
            entry_id: job.entry_id.to_string(),
            state,
            code,
            outcome: serde_json::to_string(outcome).unwrap_or_default(),
            reply,
        };
        self.tx
            .send(request)
            .map_err(|_| "the completer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the completer dropped the request".to_string())?
    }
}

async fn run(store: JobStore, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let completions: Vec<Completion<'_>> = batch
            .iter()
            .map(|r| Completion {
                job: Delivered {
                    tenant: &r.tenant,
                    job_id: &r.job_id,
                    entry_id: &r.entry_id,
                },
                state: r.state,
                code: r.code,
                outcome: &r.outcome,
            })
            .collect();
        metrics::histogram!(routeq_shared::metrics::jobs::COMPLETION_BATCH.name)
            .record(batch.len() as f64);
        let result = store.complete_many(&completions, now_ms()).await;
        drop(completions);
        match result {
            Ok(done) => {
                for (r, d) in batch.into_iter().zip(done) {
                    let _ = r.reply.send(Ok(d));
                }
            }
            Err(e) => {
                let why = e.to_string();
                for r in batch {
                    let _ = r.reply.send(Err(why.clone()));
                }
            }
        }
    }
}
