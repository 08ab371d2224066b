//! Submissions that arrive together reach Redis together: one submit script call carries every
//! job of a partition that queued up while the previous calls were in flight.
//!
//! Adaptive, with no timer: a lane (one per partition) holds at most [`IN_FLIGHT`] calls at once;
//! a submission that finds a free slot goes at once, alone (nothing waits at low load), and the
//! ones that arrive while every slot is busy go together in the next call, up to [`MAX_BATCH`].
//! Each job in a call is taken as if submitted alone (`lua/submit.lua`), so its answer, its
//! idempotency and the caps are those of a single submit; a call that fails fails each of its
//! jobs the way a single submit would (`SUBMIT_UNCONFIRMED` or `QUEUE_UNAVAILABLE`, with the
//! job's id).

use std::sync::Arc;

use routeq_shared::metrics::http as m;
use routeq_shared::redis::scripts::Submitted;
use routeq_shared::redis::store::SubmitCall;
use routeq_shared::redis::{JobStore, StoreError};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Script calls one partition's lane holds in flight at once.
pub const IN_FLIGHT: usize = 2;
/// The most jobs in one script call.
pub const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<Submitted, StoreError>>;

/// The submit lanes of one gateway, one per partition.
#[derive(Clone)]
pub struct Batcher {
    lanes: Arc<Vec<mpsc::UnboundedSender<(SubmitCall, Reply)>>>,
}

impl Batcher {
    /// Starts one lane per partition of `store`; a lane ends when the last [`Batcher`] is dropped,
    /// after answering what it holds.
    pub fn start(store: JobStore, max_backlog: u64) -> Batcher {
        let lanes = (0..store.keys().partitions())
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(lane(store.clone(), max_backlog, rx));
                tx
            })
            .collect();
        Batcher {
            lanes: Arc::new(lanes),
        }
    }

    /// Submits one prepared job with whatever else its partition's lane is sending.
    pub async fn submit(&self, call: SubmitCall) -> Result<Submitted, StoreError> {
        let (tx, rx) = oneshot::channel();
        let lane = &self.lanes[usize::from(call.partition) % self.lanes.len()];
        lane.send((call, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The lane is gone (the gateway is stopping): nothing was sent.
fn stopped() -> StoreError {
    StoreError::Reply(routeq_shared::redis::scripts::ReplyError {
        script: "submit",
        reply: "the gateway is stopping".into(),
    })
}

async fn lane(
    store: JobStore,
    max_backlog: u64,
    mut rx: mpsc::UnboundedReceiver<(SubmitCall, Reply)>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // While every slot was busy, submissions queued up: they go together.
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            let calls: Vec<&SubmitCall> = batch.iter().map(|(c, _)| c).collect();
            let result = store.submit_calls(&calls, max_backlog).await;
            metrics::counter!(m::SUBMIT_CALLS.name).increment(1);
            metrics::counter!(m::SUBMIT_CALL_JOBS.name).increment(batch.len() as u64);
            match result {
                Ok(statuses) => {
                    for ((_, reply), status) in batch.into_iter().zip(statuses) {
                        let _ = reply.send(Ok(status));
                    }
                }
                Err(e) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}
