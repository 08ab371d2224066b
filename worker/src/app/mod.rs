//! Building and running a worker: check the configuration, bind the metrics listener, assemble
//! the provider side ([`engine`]), then read, reclaim and work until shutdown; drain within the
//! grace.

pub mod engine;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::redis::{JobStore, Keys, store::Retention};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::WorkerConfig;
use crate::job::{self, Ctx};
use routeq_shared::redis::deadletters::DeadLetters;

/// A built, ready-to-run worker.
pub struct Worker {
    ctx: Arc<Ctx>,
    /// The durable record; the recorder runs in this process when it is set.
    pg: Option<sqlx::PgPool>,
    metrics_listener: TcpListener,
    /// Fed by the pause watcher ([`job::pause`]), read by the readers through `ctx.paused`.
    pause_tx: tokio::sync::watch::Sender<bool>,
}

impl Worker {
    pub async fn build(cfg: WorkerConfig) -> anyhow::Result<Worker> {
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let keys = cfg.redis.keys()?;
        let settings = cfg.redis.settings(Timeouts::WORKER);
        let store = JobStore::new(
            cfg.redis.connection(&settings, "commands")?,
            keys,
            Retention {
                result_ttl_ms: cfg.result_ttl_s * 1000,
                record: cfg.records == routeq_shared::redis::outbox::RecordsMode::On,
            },
        );
        let pg = cfg.db.pool().transpose().context("database URL")?;
        routeq_shared::telemetry::metrics_handle();
        metrics::register_worker_metrics(pg.is_some() && cfg.recorder);
        if cfg.migrate {
            let pool = pg.as_ref().context("--migrate needs --database-url")?;
            routeq_shared::db::migrate(pool)
                .await
                .context("applying migrations")?;
        }
        // Geocoding asks our durable store first (when there is one), then the Redis cache and
        // the provider chain.
        let geo_pool = pg.clone();
        let query_timeout = Duration::from_millis(cfg.db.query_timeout_ms.max(1));
        let mut engine = engine::engine(&cfg, store.connection(), store.keys(), |inner| {
            Arc::new(crate::steps::geocode::store::GeoStore::new(
                geo_pool,
                inner,
                query_timeout,
            ))
        })?;
        engine.stations = pg.clone().map(crate::steps::stations::StationLookup::new);
        let dead_letters = DeadLetters::new(
            store.connection(),
            store.keys().clone(),
            cfg.result_ttl_s * 1000,
            cfg.records != routeq_shared::redis::outbox::RecordsMode::Off,
        );
        let consumer = cfg.consumer.clone().unwrap_or_else(default_consumer_name);
        let metrics_listener = TcpListener::bind(cfg.metrics_listen)
            .await
            .with_context(|| format!("binding {}", cfg.metrics_listen))?;
        let readers = Arc::new(crate::job::heartbeat::ReaderHealth::new(
            store.keys().all().iter().map(|k| k.jobs_stream()),
            Duration::from_millis(cfg.reader_stale_ms),
        ));
        let (pause_tx, paused) = job::pause::switch();
        let ctx = Arc::new(Ctx {
            completer: crate::job::completer::Completer::spawn(store.clone()),
            store,
            engine,
            dead_letters,
            permits: Arc::new(Semaphore::new(cfg.concurrency)),
            cfg,
            consumer,
            tracker: tokio_util::task::TaskTracker::new(),
            settings,
            in_flight: Default::default(),
            readers,
            paused,
        });
        Ok(Worker {
            ctx,
            pause_tx,
            metrics_listener,
            pg,
        })
    }

    pub fn consumer_name(&self) -> &str {
        &self.ctx.consumer
    }

    pub fn metrics_addr(&self) -> std::io::Result<SocketAddr> {
        self.metrics_listener.local_addr()
    }

    /// Works until `shutdown`; then stops reading, lets in-flight jobs finish within the grace
    /// (what is left stays pending and is reclaimed by the other workers) and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = CancellationToken::new();
        let admin_task = tokio::spawn(crate::ops::admin::serve_with_health(
            self.metrics_listener,
            token.clone(),
            Some(self.ctx.readers.clone()),
        ));

        let keys = self.ctx.store.keys().clone();
        // The pause is read before the readers start, so a worker started while the fleet is
        // paused takes nothing.
        if let Ok(p) = routeq_shared::admin::pause::get(&self.ctx.store.connection(), &keys).await {
            self.pause_tx.send_replace(p.is_some());
        }
        tokio::spawn(job::pause::watch_loop(
            self.ctx.store.connection(),
            keys.clone(),
            self.pause_tx,
            token.clone(),
        ));
        tokio::spawn(crate::ops::breakers::publish_loop(
            self.ctx.store.connection(),
            keys.clone(),
            self.ctx.consumer.clone(),
            self.ctx.engine.breakers.clone(),
            token.clone(),
        ));
        tracing::info!(consumer = %self.ctx.consumer, concurrency = self.ctx.cfg.concurrency, partitions = keys.partitions(), "worker started");
        let readers: Vec<_> = keys
            .all()
            .into_iter()
            .map(|p| tokio::spawn(job::reader::read_loop(self.ctx.clone(), p, token.clone())))
            .collect();
        // Touching lasts until the jobs in flight are done, after the readers stop.
        let touching = CancellationToken::new();
        let toucher = tokio::spawn(job::reader::touch_loop(
            self.ctx.clone(),
            Duration::from_millis(self.ctx.cfg.reclaim_idle_ms / 4),
            touching.clone(),
        ));

        let runs_recorder = self.pg.is_some() && self.ctx.cfg.recorder;
        if self.ctx.cfg.records == routeq_shared::redis::outbox::RecordsMode::Auto {
            if runs_recorder {
                // Record from the first job: the group this process's recorder drains exists now.
                if let Err(e) = self.ctx.store.recording().ensure_recorders_group().await {
                    tracing::warn!(error = %e, "cannot create the recorders group yet");
                }
            }
            let (recording, t) = (self.ctx.store.recording().clone(), token.clone());
            tokio::spawn(async move { recording.watch(t.cancelled_owned()).await });
        }
        let recorder = match (&self.pg, self.ctx.cfg.recorder) {
            (Some(pg), true) => {
                let cfg = crate::ops::recorder::RecorderConfig {
                    batch: self.ctx.cfg.recorder_batch,
                    block_ms: self.ctx.cfg.block_ms,
                    reclaim_idle_ms: 30_000,
                    consumer: self.ctx.consumer.clone(),
                };
                let tasks: Vec<_> = keys
                    .all()
                    .into_iter()
                    .map(|p| {
                        tokio::spawn(crate::ops::recorder::run(
                            self.ctx.store.connection(),
                            p,
                            self.ctx.settings.clone(),
                            pg.clone(),
                            cfg.clone(),
                            token.clone(),
                        ))
                    })
                    .collect();
                Some(tasks)
            }
            _ => None,
        };

        shutdown.await;
        tracing::info!("draining: no new reads; finishing jobs in flight");
        token.cancel();
        for r in readers {
            let _ = r.await;
        }
        self.ctx.tracker.close();
        let grace = Duration::from_millis(self.ctx.cfg.shutdown_grace_ms);
        if tokio::time::timeout(grace, self.ctx.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.ctx.tracker.len(),
                "shutdown grace elapsed; unfinished jobs stay pending for other workers"
            );
        }
        touching.cancel();
        let _ = toucher.await;
        if let Some(tasks) = recorder {
            for r in tasks {
                let _ = r.await;
            }
        }
        leave_groups(&self.ctx).await;
        let _ = admin_task.await;
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// On a clean exit, removes this process's consumer from the groups where it holds nothing (a
/// consumer with pending entries stays, so they can be reclaimed), so group listings do not
/// grow with every restart.
async fn leave_groups(ctx: &Ctx) {
    {
        let mut conn = ctx.store.connection();
        for k in ctx.store.keys().all() {
            for (stream, group) in [
                (k.jobs_stream(), Keys::GROUP),
                (k.records_stream(), Keys::RECORDERS),
            ] {
                let pending: redis::RedisResult<redis::streams::StreamPendingCountReply> =
                    redis::AsyncCommands::xpending_consumer_count(
                        &mut conn,
                        &stream,
                        group,
                        "-",
                        "+",
                        1,
                        &ctx.consumer,
                    )
                    .await;
                if matches!(&pending, Ok(p) if p.ids.is_empty()) {
                    let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
                        .arg("DELCONSUMER")
                        .arg(&stream)
                        .arg(group)
                        .arg(&ctx.consumer)
                        .query_async(&mut conn)
                        .await;
                }
            }
        }
    }
}

fn default_consumer_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_string());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}-{}-{suffix}", std::process::id())
}
