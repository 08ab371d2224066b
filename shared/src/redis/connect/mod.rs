//! Redis connections, for every topology ([`url`]: one server, Sentinel, Redis Cluster), and the
//! settings every binary shares ([`RedisArgs`]).
//!
//! Two kinds of connection, for measured reasons (a blocking command on a multiplexed connection
//! stalls every command queued behind it; a blocking read the client gave up on still delivers
//! entries into a pending list nobody reads):
//! - **the command path** — one [`Conn`] per process, shared by every task: a healing multiplexed
//!   connection ([`single`]) for a server or a Sentinel master, or a cluster connection
//!   ([`cluster`]), with short connect and response timeouts so a dead or hung Redis fails a
//!   request fast instead of hanging it, and TCP keepalive so a silently dead socket is noticed;
//! - **connections of their own** ([`Dedicated`]) for blocking reads and subscriptions, one
//!   command at a time, to the node that owns the key they read, re-resolved after any error.

mod args;
pub mod cluster;
pub mod sentinel;
pub mod single;
pub mod url;

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    RedisFuture, RedisResult, Value,
};

pub use args::{ConnectError, RedisArgs, Timeouts};
pub use url::{RedisUrl, Topology};

/// How a process talks to Redis: timeouts and TCP settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub tcp: TcpSettings,
    /// With Sentinel: how often to check that the majority still names our master (over
    /// connections kept to the sentinels).
    pub sentinel_check: Duration,
}

impl Settings {
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Settings {
        // Keepalive probes after 10 s idle, every 5 s, 3 of them: a silently dead socket is
        // closed within about 25 s even when nothing is sent; unacknowledged data gives up
        // after 10 s (TCP_USER_TIMEOUT).
        let keepalive = TcpKeepalive::new()
            .with_time(Duration::from_secs(10))
            .with_interval(Duration::from_secs(5))
            .with_retries(3);
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive)
            .set_user_timeout(Duration::from_secs(10));
        Settings {
            connect_timeout,
            response_timeout,
            tcp,
            // Often enough that a failover with the old master alive moves the fleet within
            // a fifth of a second of Sentinel's majority naming the new one.
            sentinel_check: Duration::from_millis(200),
        }
    }
}

/// Logs a recovery once and counts it.
pub(crate) fn recovered(connection: &'static str, what: &'static str, downtime: Duration) {
    tracing::info!(
        connection,
        what,
        down_ms = downtime.as_millis() as u64,
        "Redis recovered"
    );
    metrics::counter!(crate::metrics::redis::RECOVERIES.name, "connection" => connection, "what" => what)
        .increment(1);
}

/// The command connection every Redis operation goes through. Cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Single(single::Single),
    Cluster(cluster::Cluster),
}

impl Conn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// The node that owns `key` now: the server, Sentinel's master, or the slot's master.
    pub async fn owner_of(&self, key: &str) -> RedisResult<ConnectionInfo> {
        match self {
            Conn::Single(s) => s.target_info().await,
            Conn::Cluster(c) => c.owner_of(key).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(s) => s.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(s) => s.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(s) => s.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A connection of its own to the node that owns `key`, for blocking reads (a response timeout
/// longer than the block) and subscriptions (RESP3 pushes to `push`). After any error call
/// [`Dedicated::reset`]: the next use connects again, to whichever node owns the key then.
pub struct Dedicated {
    conn: Conn,
    key: String,
    settings: Settings,
    response_timeout: Option<Duration>,
    push: Option<tokio::sync::mpsc::UnboundedSender<PushInfo>>,
    current: Option<MultiplexedConnection>,
}

impl Dedicated {
    /// For blocking reads of up to `block` on `key`.
    pub fn for_reads(conn: &Conn, key: &str, settings: &Settings, block: Duration) -> Dedicated {
        Dedicated {
            conn: conn.clone(),
            key: key.to_string(),
            settings: settings.clone(),
            response_timeout: Some(block + Duration::from_secs(1)),
            push: None,
            current: None,
        }
    }

    /// For a subscription on the node that owns `key`: pushes go to `push`.
    pub fn for_pushes(
        conn: &Conn,
        key: &str,
        settings: &Settings,
        push: tokio::sync::mpsc::UnboundedSender<PushInfo>,
    ) -> Dedicated {
        Dedicated {
            conn: conn.clone(),
            key: key.to_string(),
            settings: settings.clone(),
            response_timeout: Some(settings.response_timeout.max(Duration::from_secs(1))),
            push: Some(push),
            current: None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.current.is_some()
    }

    /// The connection, connecting first when there is none.
    pub async fn get(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        if self.current.is_none() {
            let info = self.conn.owner_of(&self.key).await?;
            let mut redis_settings = info.redis_settings().clone();
            if self.push.is_some() {
                redis_settings = redis_settings.set_protocol(ProtocolVersion::RESP3);
            }
            let info = info
                .set_redis_settings(redis_settings)
                .set_tcp_settings(self.settings.tcp.clone());
            let mut cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.settings.connect_timeout))
                .set_response_timeout(self.response_timeout);
            if let Some(tx) = &self.push {
                cfg = cfg.set_push_sender(tx.clone());
            }
            let client = Client::open(info)?;
            let connect = client.get_multiplexed_async_connection_with_config(&cfg);
            let conn = tokio::time::timeout(
                self.settings.connect_timeout + self.settings.response_timeout,
                connect,
            )
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting to Redis timed out",
                ))
            })??;
            self.current = Some(conn);
        }
        // Just set when it was empty.
        self.current
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Client, "no connection")))
    }

    /// Drops the connection (after an error); the next [`Dedicated::get`] connects again.
    pub fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_never_prints() {
        let url: RedisUrl = "redis://:hunter2-secret@127.0.0.1:6379/0"
            .parse()
            .expect("url");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!format!("{url}").contains("hunter2"));
        assert_eq!(url.redacted(), "redis://***@127.0.0.1:6379/0");
        assert!("not a url".parse::<RedisUrl>().is_err());
    }
}
