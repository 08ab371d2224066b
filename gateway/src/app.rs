//! Building and running the gateway: check the configuration, bind first (port 0 in tests), then
//! serve until shutdown with the subscription, the queue sampler, the sweeper of overdue jobs and
//! the recorder watch beside it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use routeq_shared::redis::connect::{Settings, Timeouts};
use routeq_shared::redis::outbox::RecordsMode;
use routeq_shared::redis::store::Retention;
use routeq_shared::redis::{Conn, JobStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthMode, Authenticator};
use crate::config::GatewayConfig;
use crate::queue::QueueView;
use crate::router::{api_router, ops_router};
use crate::state::{AppState, Inner};
use crate::waiters::Waiters;

/// Connections of their own for replicated submissions (see `state::Inner::replicated`).
const REPLICATED_CONNECTIONS: usize = 4;

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    conn: Conn,
    settings: Settings,
    /// The admin listener (/metrics, /healthz, /readyz), when configured apart from the API.
    admin: Option<TcpListener>,
    /// The console's admin credential: with it the admin listener serves /console.
    console: Option<crate::console::Credential>,
}

impl Application {
    /// Checks the configuration, connects lazily to Redis and binds the listeners.
    pub async fn build(cfg: GatewayConfig) -> anyhow::Result<Application> {
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let keys = cfg.redis.keys()?;
        let settings = cfg.redis.settings(Timeouts::GATEWAY);
        let conn = cfg.redis.connection(&settings, "commands")?;
        // WAIT takes up to its timeout plus one server tick (100 ms): a replicated submit's
        // connection waits that long before it gives up.
        let mut replicated_settings = settings.clone();
        replicated_settings.response_timeout = settings
            .response_timeout
            .max(Duration::from_millis(cfg.submit_replicas_timeout_ms + 150));
        let replicated = if cfg.submit_replicas > 0 {
            (0..REPLICATED_CONNECTIONS)
                .map(|_| cfg.redis.connection(&replicated_settings, "replicated"))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let store = JobStore::new(
            conn.clone(),
            keys.clone(),
            Retention {
                record: cfg.records == RecordsMode::On,
                result_ttl_ms: cfg.result_ttl_s * 1000,
            },
        );
        if let Err(e) = store.ensure_group().await {
            tracing::warn!(error = %e, "could not create the consumer group yet (workers create it too)");
        }
        let db = cfg.db.pool().transpose().context("database URL")?;
        let webhooks = crate::api::webhooks::WebhookApi::from_config(&cfg, conn.clone(), &keys)?;
        let console = cfg
            .console_credential_file
            .as_deref()
            .map(crate::console::Credential::from_file)
            .transpose()?;
        let auth = Authenticator::from_config(&cfg, conn.clone(), keys);
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding {}", cfg.listen))?;
        let admin = match cfg.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
            ),
            None => None,
        };
        if cfg.auth == AuthMode::Open {
            tracing::warn!(
                tenant = %cfg.default_tenant,
                "AUTH IS OFF (--auth open): every request acts as the default tenant. Never expose this gateway; use --auth keys in production."
            );
        }
        let metrics = routeq_shared::telemetry::metrics_handle();
        crate::ops::metrics::register_gateway_metrics();
        let submits = crate::queue::batch::Batcher::start(store.clone(), cfg.max_backlog);
        let state = AppState::new(Inner {
            submits,
            store,
            db,
            waiters: Waiters::new(cfg.max_waiters),
            limits: cfg.limits(),
            cfg,
            metrics,
            shutdown: CancellationToken::new(),
            queue: std::sync::Arc::new(QueueView::default()),
            replicated,
            turn: std::sync::atomic::AtomicUsize::new(0),
            webhooks,
        });
        let router = api_router(state.clone(), auth, admin.is_none());
        Ok(Application {
            listener,
            router,
            state,
            conn,
            settings,
            admin,
            console,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when one is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting, lets waiting requests answer and
    /// in-flight requests finish within the configured grace.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let token = state.shutdown.clone();
        let subscriber = tokio::spawn(state.waiters.clone().run(
            self.conn.clone(),
            state.store.keys().clone(),
            self.settings.clone(),
            Duration::from_millis(state.cfg.subscription_heartbeat_ms),
            token.clone(),
        ));
        let console = self.console;
        let admin_task = self.admin.map(|listener| {
            let mut router = ops_router(state.clone());
            if let Some(credential) = console {
                tracing::info!("console served at /console on the admin listener");
                router = router.merge(crate::console::router(state.clone(), credential));
            }
            let t = token.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { t.cancelled().await })
                    .await;
            })
        });
        if state.cfg.records == RecordsMode::Auto {
            let (recording, t) = (state.store.recording().clone(), token.clone());
            tokio::spawn(async move { recording.watch(t.cancelled_owned()).await });
        }
        let sampler = tokio::spawn(crate::queue::sampler::run(
            state.store.clone(),
            state.queue.clone(),
            Duration::from_millis(state.cfg.sample_interval_ms),
            state.cfg.admission_capacity_per_s,
            token.clone(),
        ));
        let every = Duration::from_millis(state.cfg.sweep_interval_ms);
        let sweeper = routeq_shared::redis::sweep::Sweeper::new(
            state.store.clone(),
            state.cfg.sweep_grace_ms,
            every,
        );
        let sweeper = tokio::spawn(sweeper.run(every, token.clone().cancelled_owned()));
        let grace = Duration::from_millis(state.cfg.shutdown_grace_ms);
        tracing::info!(addr = %self.listener.local_addr()?, "gateway listening");
        let signal_token = token.clone();
        let limits = crate::http::serve::ConnLimits {
            header_read_timeout: Duration::from_millis(state.cfg.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(state.cfg.idle_timeout_ms),
            max_connections: state.cfg.max_client_connections,
        };
        let serve = crate::http::serve::serve(self.listener, self.router, limits, async move {
            shutdown.await;
            signal_token.cancel();
        });
        let mut serve = std::pin::pin!(serve);
        tokio::select! {
            () = &mut serve => {},
            () = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
            }
        }
        token.cancel();
        let _ = subscriber.await;
        let _ = sampler.await;
        let _ = sweeper.await;
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        tracing::info!("gateway stopped");
        Ok(())
    }
}
