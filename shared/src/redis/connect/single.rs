//! One healing connection to one server — the standalone server, or the master a Sentinel
//! majority names — shared by every task of a process (a multiplexed connection, cloned freely).
//!
//! redis-rs's own connection manager keeps a connection after a response timeout and never
//! follows a failover (measured: `ConnectionManager` over a Sentinel client hangs re-dialling the
//! old address, and keeps a demoted master answering `READONLY` forever). This one:
//! - replaces the connection after any error that says it is no longer usable — an I/O error, a
//!   response timeout, a dropped connection, `READONLY`, `NOREPLICAS` — so the next command dials
//!   again (re-resolving the master through Sentinel);
//! - dials at most once at a time: callers that queued behind a failed dial share its answer
//!   instead of dialling one after another, so a hung Redis costs each request one timeout;
//! - with Sentinel, checks five times a second that the sentinels' newest configuration still
//!   names the master it is connected to, moves at once when it names another, and stops
//!   writing while a sentinel reports a failover under way (a failover with the old master still alive would otherwise
//!   keep writing to it, and losing those writes, until Sentinel demotes it seconds later);
//! - marks a command that could not be sent because there is no connection as a refused
//!   connection, so callers can tell "nothing ran" from "nobody knows";
//! - logs each outage once, and each recovery once, and counts recoveries.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, ErrorKind, Pipeline, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};

use super::sentinel::Sentinels;
use super::url::node_info;
use super::{Settings, recovered};

/// Where a [`Single`] connects.
#[derive(Clone)]
pub enum Target {
    Fixed(ConnectionInfo),
    Sentinel(Arc<Sentinels>),
}

#[derive(Clone)]
struct Slot {
    generation: u64,
    conn: MultiplexedConnection,
    /// The server it is connected to (for the Sentinel check).
    addr: Option<(String, u16)>,
}

struct Inner {
    target: Target,
    settings: Settings,
    /// What the connection is for, in logs and metrics (`commands`, …).
    label: &'static str,
    db: i64,
    current: Mutex<Option<Slot>>,
    dialing: tokio::sync::Mutex<()>,
    /// The latest dial's failure (callers that waited for that dial share it).
    last_failure: Mutex<Option<(Instant, RedisError)>>,
    /// Since when the connection is down (to log an outage once).
    down_since: Mutex<Option<Instant>>,
    generations: std::sync::atomic::AtomicU64,
    watching: std::sync::atomic::AtomicBool,
}

/// A healing connection (see the module docs). Cheap to clone; every clone shares it.
#[derive(Clone)]
pub struct Single {
    inner: Arc<Inner>,
}

/// Whether an error means the connection it came on should not be used again.
pub fn needs_new_connection(e: &RedisError) -> bool {
    if e.is_io_error() || e.is_unrecoverable_error() {
        return true;
    }
    if matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly)
            | ErrorKind::Server(ServerErrorKind::MasterDown)
    ) {
        return true;
    }
    let is_fatal = |code: &str| matches!(code, "READONLY" | "NOREPLICAS" | "MASTERDOWN");
    e.code().is_some_and(is_fatal)
        || e.clone()
            .into_server_errors()
            .is_some_and(|v| v.iter().any(|(_, s)| is_fatal(s.code())))
}

impl Single {
    pub fn new(target: Target, settings: Settings, label: &'static str, db: i64) -> Single {
        Single {
            inner: Arc::new(Inner {
                target,
                settings,
                label,
                db,
                current: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                last_failure: Mutex::new(None),
                down_since: Mutex::new(None),
                generations: std::sync::atomic::AtomicU64::new(0),
                watching: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    fn current(&self) -> Option<Slot> {
        lock(&self.inner.current).clone()
    }

    /// The server this connection goes to now (resolved through Sentinel when it has to be).
    pub async fn target_info(&self) -> RedisResult<ConnectionInfo> {
        match &self.inner.target {
            Target::Fixed(info) => Ok(info.clone()),
            Target::Sentinel(s) => {
                let (host, port) = s.master(self.inner.settings.connect_timeout).await?;
                node_info(&host, port, &s.node)
            }
        }
    }

    async fn connection(&self) -> RedisResult<Slot> {
        if let Some(slot) = self.current() {
            return Ok(slot);
        }
        let asked = Instant::now();
        let _dialing = self.inner.dialing.lock().await;
        if let Some(slot) = self.current() {
            return Ok(slot);
        }
        if let Some((at, e)) = lock(&self.inner.last_failure).clone()
            && at >= asked
        {
            return Err(e);
        }
        match self.dial().await {
            Ok((conn, addr)) => {
                let generation = self
                    .inner
                    .generations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                let slot = Slot {
                    generation,
                    conn,
                    addr,
                };
                *lock(&self.inner.current) = Some(slot.clone());
                *lock(&self.inner.last_failure) = None;
                if let Some(since) = lock(&self.inner.down_since).take() {
                    recovered(self.inner.label, "reconnected", since.elapsed());
                }
                self.watch();
                Ok(slot)
            }
            Err(e) => {
                *lock(&self.inner.last_failure) = Some((Instant::now(), e.clone()));
                self.down(&e);
                Err(e)
            }
        }
    }

    async fn dial(&self) -> RedisResult<(MultiplexedConnection, Option<(String, u16)>)> {
        let s = &self.inner.settings;
        let (info, addr) = match &self.inner.target {
            Target::Fixed(info) => (info.clone(), None),
            Target::Sentinel(sentinels) => {
                let (host, port) = sentinels.master(s.connect_timeout).await?;
                (node_info(&host, port, &sentinels.node)?, Some((host, port)))
            }
        };
        let info = info.set_tcp_settings(s.tcp.clone());
        let client = Client::open(info)?;
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(s.connect_timeout))
            .set_response_timeout(Some(s.response_timeout));
        let mut conn = tokio::time::timeout(
            s.connect_timeout + s.response_timeout,
            client.get_multiplexed_async_connection_with_config(&cfg),
        )
        .await
        .map_err(|_| timed_out("connecting to Redis timed out"))??;
        if addr.is_some() {
            // A live old master still answers: make sure this one is the master now.
            let role: redis::Role = redis::cmd("ROLE").query_async(&mut conn).await?;
            if !matches!(role, redis::Role::Primary { .. }) {
                return Err(RedisError::from((
                    ErrorKind::Server(ServerErrorKind::ReadOnly),
                    "the server Sentinel named is not a master (yet)",
                )));
            }
        }
        Ok((conn, addr))
    }

    /// After an error on the connection of `generation`: drop it when it is no longer usable.
    fn failed(&self, generation: u64, e: &RedisError) {
        if !needs_new_connection(e) {
            return;
        }
        let mut current = lock(&self.inner.current);
        if current.as_ref().is_some_and(|s| s.generation == generation) {
            *current = None;
            drop(current);
            self.down(e);
        }
    }

    fn down(&self, e: &RedisError) {
        let mut since = lock(&self.inner.down_since);
        if since.is_none() {
            *since = Some(Instant::now());
            tracing::warn!(connection = self.inner.label, error = %e, "Redis connection lost; the next command connects again");
        }
    }

    /// With Sentinel: once per process connection, a task that moves the connection when a
    /// majority of sentinels names another master.
    fn watch(&self) {
        let Target::Sentinel(sentinels) = &self.inner.target else {
            return;
        };
        if self
            .inner
            .watching
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let sentinels = sentinels.clone();
        let every = self.inner.settings.sentinel_check;
        let timeout = self.inner.settings.connect_timeout;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let named = sentinels.master(timeout).await;
                let Some(inner) = weak.upgrade() else { return };
                let named = match named {
                    Ok(named) => named,
                    Err(e) if e.is_connection_refusal() => {
                        // Fenced: a failover is under way; stop writing to the old master.
                        let mut current = lock(&inner.current);
                        if current.take().is_some() {
                            drop(current);
                            Single {
                                inner: inner.clone(),
                            }
                            .down(&e);
                        }
                        continue;
                    }
                    // No majority answers: the sentinels are down, not necessarily the master.
                    Err(_) => continue,
                };
                let mut current = lock(&inner.current);
                if let Some(slot) = current.as_ref()
                    && slot.addr.as_ref().is_some_and(|a| *a != named)
                {
                    tracing::warn!(connection = inner.label, master = %format!("{}:{}", named.0, named.1), "Sentinel names a new master; moving to it");
                    *current = None;
                    drop(current);
                    recovered(inner.label, "master_changed", Duration::ZERO);
                }
            }
        });
    }
}

/// A command that never left because there was no connection to send it on: shaped as a
/// refused connection ([`RedisError::is_connection_refusal`]), which callers read as "nothing
/// ran" (a submit is then `QUEUE_UNAVAILABLE`, not `SUBMIT_UNCONFIRMED`).
fn not_sent(e: RedisError) -> RedisError {
    if e.is_connection_refusal() {
        return e;
    }
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        format!("not sent, no connection to Redis: {e}"),
    ))
}

fn timed_out(what: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConnectionLike for Single {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut slot = self.connection().await.map_err(not_sent)?;
            let result = slot.conn.req_packed_command(cmd).await;
            if let Err(e) = &result {
                self.failed(slot.generation, e);
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut slot = self.connection().await.map_err(not_sent)?;
            let result = slot.conn.req_packed_commands(cmd, offset, count).await;
            if let Err(e) = &result {
                self.failed(slot.generation, e);
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}
