//! Delivery: claim due deliveries under a lease (`claim.lua`), hand each to the Deliverer,
//! settle it (`settle.lua`): done, retried later, or dead-lettered.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use routeq_notify::{Delivery, Event, Next, Outcome};
use routeq_shared::metrics::webhooks as m;
use routeq_shared::redis::Keys;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{CLAIM, Engine, Resolved, SETTLE, now_ms};
use crate::task::Task;

impl Engine {
    /// The delivery loop of one partition.
    pub(super) async fn deliver_loop(
        self: Arc<Engine>,
        k: Keys,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
        beat: usize,
    ) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            self.heartbeat.beat(beat);
            let free = self.slots.available_permits().min(self.batch);
            let taken = if free == 0 {
                Ok(Vec::new())
            } else {
                self.claim(&k, free).await
            };
            match taken {
                Ok(members) if !members.is_empty() => {
                    backoff = Duration::from_millis(100);
                    for member in members {
                        self.clone().start(&k, member).await;
                    }
                    continue;
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take due webhook deliveries; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.poll.max(backoff)) => {}
            }
        }
    }

    async fn claim(&self, k: &Keys, n: usize) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        CLAIM
            .key(k.notify_due())
            .arg(now_ms())
            .arg(self.lease.as_millis() as u64)
            .arg(n)
            .invoke_async(&mut conn)
            .await
    }

    /// Starts one taken delivery on a task of its own.
    async fn start(self: Arc<Engine>, k: &Keys, member: String) {
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            if !held.insert(member.clone()) {
                return; // Ours already, still in flight: its lease was only extended.
            }
        }
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let k = k.clone();
        tokio::spawn(async move {
            self.deliver_one(&k, &member).await;
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&member);
            drop(permit);
        });
    }

    async fn deliver_one(&self, k: &Keys, member: &str) {
        let Some(task) = Task::parse(member) else {
            tracing::error!("unreadable webhook delivery dropped");
            self.settle(k, member, Settle::Done).await;
            return;
        };
        let endpoint = match self
            .endpoints
            .get(&self.deliverer, &task.tenant, &task.endpoint)
            .await
        {
            Ok(Some(Resolved::Ready(e))) => e,
            Ok(Some(Resolved::Broken(_, why))) => {
                tracing::warn!(job_id = %task.job_id, webhook_id = %task.endpoint, error = %why, "webhook endpoint unusable; dead letter");
                self.settle(k, member, Settle::Dead(task.clone(), "invalid"))
                    .await;
                return;
            }
            Ok(None) => {
                // Deleted since: nothing to deliver.
                self.settle(k, member, Settle::Done).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook endpoint; the delivery comes back after its lease");
                return;
            }
        };
        let event = match Event::new(
            task.event_id.clone(),
            task.event_type.clone(),
            task.created_at(),
            task.body.clone(),
        ) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                tracing::error!(job_id = %task.job_id, error = %e, "invalid webhook event; dead letter");
                self.settle(k, member, Settle::Dead(task.clone(), "invalid"))
                    .await;
                return;
            }
        };
        let delivery = Delivery {
            event,
            endpoint,
            attempts_made: task.attempts,
        };
        let report = self.deliverer.deliver(&delivery).await;
        if let Some(change) = report.health {
            self.endpoints
                .persist(&task.tenant, &task.endpoint, change)
                .await;
        }
        let mut next = task.clone();
        next.attempts = report.attempts_made;
        let settle = match report.next {
            Next::Done => {
                if matches!(report.outcome, Outcome::Delivered { .. }) {
                    let lag = now_ms().saturating_sub(task.created_ms) as f64 / 1000.0;
                    metrics::histogram!(m::DELIVERY_LAG_SECONDS.name).record(lag);
                    tracing::debug!(job_id = %task.job_id, webhook_id = %task.endpoint, "webhook delivered");
                }
                Settle::Done
            }
            Next::RetryIn(d) => Settle::Retry(next, now_ms() + d.as_millis() as u64),
            Next::DeadLetter => {
                tracing::warn!(job_id = %task.job_id, webhook_id = %task.endpoint, class = report.outcome.class(), attempts = report.attempts_made, "webhook delivery is a dead letter");
                Settle::Dead(next, report.outcome.class())
            }
        };
        self.settle(k, member, settle).await;
    }

    async fn settle(&self, k: &Keys, member: &str, how: Settle) {
        let mut inv = SETTLE.prepare_invoke();
        inv.key(k.notify_due()).key(k.notify_dead()).arg(member);
        match &how {
            Settle::Done => {
                inv.arg("done");
            }
            Settle::Retry(next, due) => {
                inv.arg("retry").arg(next.member()).arg(*due);
            }
            Settle::Dead(task, class) => {
                inv.arg("dead").arg(task.member()).arg(*class).arg(now_ms());
            }
        }
        for attempt in 0..5u32 {
            let mut conn = self.conn.clone();
            match inv.invoke_async::<i64>(&mut conn).await {
                Ok(settled) => {
                    if settled == 1
                        && let Settle::Dead(_, class) = &how
                    {
                        metrics::counter!(m::DEAD_LETTERED.name, "class" => *class).increment(1);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "cannot settle a webhook delivery yet");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        // Unsettled: the delivery comes back when its lease passes (at least once).
    }
}

enum Settle {
    Done,
    Retry(Task, u64),
    Dead(Task, &'static str),
}
