//! Redis for tests: a key prefix of a test's own on the shared Redis, deleted when dropped (the
//! shared Redis is never flushed), and private `redis-server`s on free loopback ports for the
//! tests that kill, stop or restart Redis.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{Proc, free_port, wait_port};

/// A key prefix (with its hash tag) of one test; every key under it is deleted on drop.
pub struct Prefix {
    pub prefix: String,
    redis_url: String,
}

impl Prefix {
    /// `{<tag>-<random>}` on the shared Redis.
    pub fn new(tag: &str) -> Prefix {
        Prefix::on(crate::REDIS, tag)
    }

    /// `{<tag>-<random>}` on the Redis at `url`.
    pub fn on(url: &str, tag: &str) -> Prefix {
        Prefix {
            prefix: format!(
                "{{{tag}-{}}}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            redis_url: url.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.prefix
    }
}

impl std::ops::Deref for Prefix {
    type Target = str;
    fn deref(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = routeq_shared::redis::purge::purge_blocking(&self.redis_url, &self.prefix);
    }
}

/// A `redis-server` of a test's own on a free port (no persistence), stopped by PID on drop.
pub struct PrivateRedis {
    pub port: u16,
    extra: Vec<String>,
    proc: Option<Proc>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        PrivateRedis::start_with(&[])
    }

    /// With extra `redis-server` arguments (`--requirepass x`, …).
    pub fn start_with(extra: &[&str]) -> PrivateRedis {
        let mut r = PrivateRedis {
            port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            proc: None,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, with an empty dataset.
    pub fn restart(&mut self) {
        self.kill();
        let proc = Proc::spawn(
            Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(&self.extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        self.proc = Some(proc);
        wait_port(self.port, Duration::from_secs(5));
    }

    /// SIGKILL: gone at once, its data with it.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGSTOP: hung, connections open, nothing answered, until [`PrivateRedis::resume`].
    pub fn stop(&self) {
        if let Some(p) = &self.proc {
            p.signal(libc::SIGSTOP);
        }
    }

    /// SIGCONT after [`PrivateRedis::stop`].
    pub fn resume(&self) {
        if let Some(p) = &self.proc {
            p.signal(libc::SIGCONT);
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// A multiplexed connection to `url`.
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis at {url}: {e}"))
}

/// How long one harness call to a private node may take (connect, then reply): a SIGSTOPped node
/// fails the call after this, it never hangs a test.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// A client for the `redis-server` (or sentinel) on 127.0.0.1:`port`, authenticating with
/// `password` when given (any characters: no URL is built).
pub fn node_client(port: u16, password: Option<&str>) -> redis::Client {
    let mut settings = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(p) = password {
        settings = settings.set_password(p);
    }
    let info = redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp(
        "127.0.0.1".into(),
        port,
    ))
    .expect("a loopback address")
    .set_redis_settings(settings);
    redis::Client::open(info).expect("client")
}

/// One command to the node on `port`, on a connection of its own, bounded by [`NODE_TIMEOUT`]
/// for the connect and again for the reply.
pub async fn node_query<T: redis::FromRedisValue>(
    port: u16,
    password: Option<&str>,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(NODE_TIMEOUT))
        .set_response_timeout(Some(NODE_TIMEOUT));
    let call = async {
        let mut conn = node_client(port, password)
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        cmd.query_async(&mut conn).await
    };
    match tokio::time::timeout(3 * NODE_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("127.0.0.1:{port} did not answer"),
        )
        .into()),
    }
}

/// The value of `field` in an `INFO` reply (`role:master` → `Some("master")`).
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}
