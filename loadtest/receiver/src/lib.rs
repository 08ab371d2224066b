//! A webhook receiver for tests and load tests.
//!
//! Every `POST` on a path other than `/_receiver/*` is a delivery: the receiver waits the mode's
//! delay, verifies the Standard Webhooks signature with its secrets (any of them may match; the
//! timestamp must be within the tolerance), answers (401 on a bad signature; otherwise 200 or
//! the mode's status), and counts it by `webhook-id`. A verified delivery answered 2xx whose id
//! was already accepted is a **duplicate** (what the application's dedup would drop).
//!
//! Admin API:
//! - `GET /_receiver/stats[?ids=true]`: [`Stats`] as JSON;
//! - `POST /_receiver/reset`: forget every delivery (the mode and secrets stay);
//! - `GET|POST /_receiver/mode`: [`Mode`], e.g. `{"status": 500, "delay_ms": 10000, "until_s": 60}`;
//!   `{}` is back to normal;
//! - `POST /_receiver/secrets`: `{"secrets": ["whsec_…"], "replace": false}` (a secret the
//!   gateway answered at registration);
//! - `GET /healthz`.

mod book;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use routeq_notify::Secret;
use routeq_notify::signature::DEFAULT_TOLERANCE;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use book::{IdRecord, MAX_LISTED_DUPLICATES, Mode, Rejections, Stats};
use server::Shared;

/// How the receiver verifies.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub secrets: Vec<Secret>,
    pub tolerance: Duration,
}

impl ReceiverConfig {
    pub fn new(secrets: Vec<Secret>) -> ReceiverConfig {
        ReceiverConfig {
            secrets,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// A bound receiver, not yet serving.
pub struct Receiver {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

/// A receiver serving on a background task; stops when dropped.
pub struct ReceiverHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Receiver {
    pub async fn bind(addr: SocketAddr, config: ReceiverConfig) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secrets: RwLock::new(config.secrets),
            tolerance: config.tolerance,
            book: Mutex::default(),
            shutdown: CancellationToken::new(),
        });
        Ok(Receiver {
            listener,
            local_addr,
            shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes; requests waiting out a delay are answered 503 at once.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shared.shutdown.clone();
        let watcher = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => token.cancel(),
                    () = token.cancelled() => {}
                }
            })
        };
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, server::router(self.shared))
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        watcher.abort();
        result
    }

    /// Serves on a new task of the current runtime.
    pub fn spawn(self) -> ReceiverHandle {
        let (local_addr, shared) = (self.local_addr, self.shared.clone());
        let task = tokio::spawn(self.run_until(std::future::pending()));
        ReceiverHandle {
            local_addr,
            shared,
            task: Some(task),
        }
    }
}

impl ReceiverHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.local_addr)
    }

    /// What the receiver saw (as `GET /_receiver/stats?ids=true` answers).
    pub fn stats(&self) -> Stats {
        self.shared.book().stats(true)
    }

    /// As `POST /_receiver/mode`.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.book().set_mode(mode, Instant::now());
    }

    /// As `POST /_receiver/reset`.
    pub fn reset(&self) {
        self.shared.book().reset();
    }

    /// Adds a secret to verify with.
    pub fn add_secret(&self, secret: Secret) {
        let mut secrets = self
            .shared
            .secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        secrets.push(secret);
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.shared.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for ReceiverHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
