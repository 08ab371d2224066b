//! A Redis Cluster connection: redis-rs's `ClusterConnection` (it follows MOVED/ASK, refreshes
//! slots and reconnects nodes itself), created lazily so a process starts while the cluster is
//! down, with the timeouts and TCP settings redis-rs leaves off by default (a cluster connection
//! has no response timeout unless one is set), and few, short retries: a retried script is safe
//! because every state-changing script is idempotent (submit by job id, complete by state).

use std::sync::{Arc, Mutex};

use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::url::node_info;
use super::{Settings, recovered};

struct Inner {
    client: ClusterClient,
    node: redis::RedisConnectionInfo,
    current: Mutex<Option<ClusterConnection>>,
    dialing: tokio::sync::Mutex<()>,
    label: &'static str,
    down_since: Mutex<Option<std::time::Instant>>,
}

/// A lazily created cluster connection; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Cluster {
    pub fn new(
        seeds: &[(String, u16)],
        node: &redis::RedisConnectionInfo,
        settings: &Settings,
        label: &'static str,
    ) -> RedisResult<Cluster> {
        let infos: Vec<ConnectionInfo> = seeds
            .iter()
            .map(|(h, p)| node_info(h, *p, node))
            .collect::<RedisResult<_>>()?;
        let mut builder = ClusterClientBuilder::new(infos)
            .connection_timeout(settings.connect_timeout)
            .response_timeout(settings.response_timeout)
            .overall_response_timeout(Some(settings.response_timeout * 3))
            .retries(3)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .tcp_settings(settings.tcp.clone());
        if let Some(user) = node.username() {
            builder = builder.username(user);
        }
        if let Some(password) = node.password() {
            builder = builder.password(password);
        }
        Ok(Cluster {
            inner: Arc::new(Inner {
                client: builder.build()?,
                node: node.clone(),
                current: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                label,
                down_since: Mutex::new(None),
            }),
        })
    }

    async fn connection(&self) -> RedisResult<ClusterConnection> {
        if let Some(c) = lock(&self.inner.current).clone() {
            return Ok(c);
        }
        let _dialing = self.inner.dialing.lock().await;
        if let Some(c) = lock(&self.inner.current).clone() {
            return Ok(c);
        }
        match self.inner.client.get_async_connection().await {
            Ok(c) => {
                *lock(&self.inner.current) = Some(c.clone());
                if let Some(since) = lock(&self.inner.down_since).take() {
                    recovered(self.inner.label, "reconnected", since.elapsed());
                }
                Ok(c)
            }
            Err(e) => {
                let mut since = lock(&self.inner.down_since);
                if since.is_none() {
                    *since = Some(std::time::Instant::now());
                    tracing::warn!(connection = self.inner.label, error = %e, "cannot reach the Redis Cluster");
                }
                Err(e)
            }
        }
    }

    /// The address of the master that owns `key`'s slot now (for connections of its own).
    pub async fn owner_of(&self, key: &str) -> RedisResult<ConnectionInfo> {
        let mut conn = self.connection().await?;
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await?;
        let (host, port) = owner_in(&slots, slot).ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::ClusterConnectionNotFound,
                "no node owns the slot",
                format!("slot {slot}"),
            ))
        })?;
        node_info(&host, port, &self.inner.node)
    }
}

/// The master of `slot` in a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id, …], replica…], …]`.
fn owner_in(slots: &Value, slot: i64) -> Option<(String, u16)> {
    let Value::Array(ranges) = slots else {
        return None;
    };
    ranges.iter().find_map(|r| {
        let Value::Array(r) = r else { return None };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (r.first(), r.get(1), r.get(2))
        else {
            return None;
        };
        if !(*start..=*end).contains(&slot) {
            return None;
        }
        let host = match master.first()? {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let Value::Int(port) = master.get(1)? else {
            return None;
        };
        (!host.is_empty() && host != "?").then(|| (host, u16::try_from(*port).unwrap_or(0)))
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConnectionLike for Cluster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.connection().await?.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.connection()
                .await?
                .req_packed_commands(cmd, offset, count)
                .await
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::owner_in;
    use redis::Value;

    #[test]
    fn the_owner_of_a_slot_is_found_in_cluster_slots() {
        let node = |port: i64| {
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let slots = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node(7000),
                node(7003),
            ]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(7001)]),
        ]);
        assert_eq!(owner_in(&slots, 6000), Some(("127.0.0.1".into(), 7001)));
        assert_eq!(owner_in(&slots, 0), Some(("127.0.0.1".into(), 7000)));
        assert_eq!(owner_in(&slots, 16000), None);
    }
}
