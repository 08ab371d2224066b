//! Fan-out: the webhook outbox `{p}:notify` → one due delivery per endpoint that wants the
//! event, the entry acknowledged and deleted in the same MULTI.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamReadOptions, StreamReadReply,
};
use routeq_notify::EventFilter;
use routeq_shared::metrics::webhooks as m;
use routeq_shared::redis::Keys;
use routeq_shared::redis::connect::Dedicated;
use routeq_shared::redis::record::entry_fields;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Engine, Resolved, now_ms};
use crate::task::Finished;

impl Engine {
    /// The fan-out loop of one partition.
    pub(super) async fn fan_out(
        self: Arc<Engine>,
        k: Keys,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
        beat: usize,
    ) {
        let stream = k.notify_stream();
        let block = Duration::from_millis(1000);
        let mut reader = Dedicated::for_reads(&self.conn, &stream, &self.settings, block);
        let mut group_ready = false;
        let mut pending_first = true;
        let mut last_reclaim = Instant::now();
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            self.heartbeat.beat(beat);
            let step = async {
                if !group_ready {
                    routeq_shared::redis::ensure_group(&self.conn, &stream, Keys::NOTIFIERS)
                        .await
                        .map_err(|e| anyhow::anyhow!("creating the notifiers group: {e}"))?;
                    group_ready = true;
                }
                let mut commands = self.conn.clone();
                let mut entries = Vec::new();
                if last_reclaim.elapsed() >= Duration::from_millis(self.reclaim_idle_ms / 2) {
                    last_reclaim = Instant::now();
                    let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                        &mut commands,
                        &stream,
                        Keys::NOTIFIERS,
                        &self.consumer,
                        self.reclaim_idle_ms,
                        "0-0",
                        StreamAutoClaimOptions::default().count(self.batch),
                    )
                    .await?;
                    entries = reply.claimed;
                }
                if entries.is_empty() {
                    let (id, blocking) = if pending_first {
                        ("0", false)
                    } else {
                        (">", true)
                    };
                    let mut opts = StreamReadOptions::default()
                        .group(Keys::NOTIFIERS, &self.consumer)
                        .count(self.batch);
                    if blocking {
                        opts = opts.block(block.as_millis() as usize);
                    }
                    let read = reader.get().await?;
                    let reply: StreamReadReply =
                        redis::AsyncCommands::xread_options(&mut *read, &[&stream], &[id], &opts)
                            .await?;
                    entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                    if pending_first && entries.is_empty() {
                        pending_first = false;
                    }
                }
                if entries.is_empty() {
                    return Ok::<(), anyhow::Error>(());
                }
                let now = now_ms();
                let mut pipe = redis::pipe();
                pipe.atomic();
                let mut added = 0usize;
                for e in &entries {
                    let fields = entry_fields(&e.map);
                    let Some(event) = Finished::decode(&fields) else {
                        tracing::error!(entry_id = %e.id, "unreadable webhook outbox entry skipped");
                        continue;
                    };
                    let targets = self.targets(&event).await?;
                    if targets.is_empty() {
                        metrics::counter!(m::EVENTS.name, "outcome" => "no_endpoint").increment(1);
                        continue;
                    }
                    metrics::counter!(m::EVENTS.name, "outcome" => "fanned_out").increment(1);
                    for ep in targets {
                        let task = event.task(&ep);
                        pipe.cmd("ZADD")
                            .arg(k.notify_due())
                            .arg("NX")
                            .arg(now)
                            .arg(task.member())
                            .ignore();
                        added += 1;
                    }
                }
                let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
                pipe.xack(&stream, Keys::NOTIFIERS, &ids)
                    .ignore()
                    .xdel(&stream, &ids)
                    .ignore();
                pipe.query_async::<()>(&mut commands).await?;
                if added > 0 {
                    wake.notify_one();
                }
                Ok(())
            };
            match step.await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    reader.reset();
                    if e.to_string().contains("NOGROUP") {
                        group_ready = false;
                    }
                    pending_first = true;
                    tracing::warn!(error = %e, "webhook fan-out failed; the events stay in the outbox and are retried");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The endpoints an event goes to: those it names that exist and whose filter wants it.
    async fn targets(&self, event: &Finished) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = if event.webhooks == "*" {
            self.endpoints.store.ids(&event.tenant).await?
        } else {
            event
                .webhooks
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(ep) = self
                .endpoints
                .get(&self.deliverer, &event.tenant, &id)
                .await?
            {
                let wants = match &ep {
                    Resolved::Ready(e) => e.filter().matches(event.event_type),
                    Resolved::Broken(r, _) => {
                        EventFilter::new(r.events.clone()).matches(event.event_type)
                    }
                };
                if wants {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
}
