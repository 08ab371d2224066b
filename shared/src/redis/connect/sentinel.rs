//! The sentinels that watch one master, asked together: which master is safe to write to now
//! (a majority answering, the newest configuration winning, nothing written while a failover is
//! under way). Used by [`super::single`] to find the master and to check, five times a second,
//! that it still is one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionInfo, ErrorKind, RedisError, RedisResult};

use super::single::lock;

/// The sentinels that watch one master, with a connection kept to each.
pub struct Sentinels {
    pub sentinels: Vec<ConnectionInfo>,
    pub master: String,
    pub node: redis::RedisConnectionInfo,
    connections: Mutex<Vec<Option<MultiplexedConnection>>>,
}

impl Sentinels {
    pub fn new(
        sentinels: Vec<ConnectionInfo>,
        master: String,
        node: redis::RedisConnectionInfo,
    ) -> Sentinels {
        let connections = Mutex::new(vec![None; sentinels.len()]);
        Sentinels {
            sentinels,
            master,
            node,
            connections,
        }
    }

    /// What sentinel `i` says of the master now (its connection is kept, dropped on error).
    async fn ask(&self, i: usize, timeout: Duration) -> Option<Named> {
        let kept = lock(&self.connections).get(i).cloned().flatten();
        let ask = async {
            let mut c = match kept {
                Some(c) => c,
                None => {
                    let client = Client::open(self.sentinels[i].clone())?;
                    let cfg = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout));
                    let c = client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?;
                    if let Some(slot) = lock(&self.connections).get_mut(i) {
                        *slot = Some(c.clone());
                    }
                    c
                }
            };
            redis::pipe()
                .cmd("SENTINEL")
                .arg("MASTER")
                .arg(&self.master)
                .cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.master)
                .query_async::<(HashMap<String, String>, Option<(String, u16)>)>(&mut c)
                .await
        };
        match tokio::time::timeout(timeout * 2, ask).await {
            Ok(Ok((fields, named))) => Named::from_fields(&fields, named),
            _ => {
                if let Some(slot) = lock(&self.connections).get_mut(i) {
                    *slot = None;
                }
                None
            }
        }
    }

    /// The master the sentinels name now, when it is safe to write to it. A majority of the
    /// configured sentinels must answer; the newest configuration among them wins (the highest
    /// `config-epoch`: a failover's leader was elected by a majority, and the others adopt its
    /// configuration from its hello messages a second or two later, so a plain majority vote
    /// would keep naming the old master meanwhile); and while any of them reports the master
    /// `failover_in_progress`, nothing may be written at all. A failover with the old master
    /// alive (a partition, or `SENTINEL FAILOVER`) leaves the old master accepting writes that
    /// the promoted replica never sees; every one made then would be lost, so the fleet refuses
    /// them (`QUEUE_UNAVAILABLE`) instead.
    pub async fn master(&self, timeout: Duration) -> RedisResult<(String, u16)> {
        let asks = (0..self.sentinels.len()).map(|i| self.ask(i, timeout));
        let answers: Vec<Named> = futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect();
        if answers.len() < self.sentinels.len() / 2 + 1 {
            return Err(RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "no majority of sentinels answers for the master",
                self.master.clone(),
            )));
        }
        if answers.iter().any(|a| a.failing_over) {
            return Err(fenced(
                "a Sentinel failover of the master is in progress, no replica promoted yet",
            ));
        }
        let newest = answers.iter().map(|a| a.epoch).max().unwrap_or_default();
        let mut votes: HashMap<&(String, u16), usize> = HashMap::new();
        for a in answers.iter().filter(|a| a.epoch == newest) {
            *votes.entry(&a.addr).or_default() += 1;
        }
        let mut votes: Vec<_> = votes.into_iter().collect();
        votes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        match votes.as_slice() {
            [(addr, _)] => Ok((*addr).clone()),
            _ => Err(fenced("sentinels of the same epoch name different masters")),
        }
    }
}

/// One sentinel's view of the master.
struct Named {
    addr: (String, u16),
    epoch: u64,
    failing_over: bool,
}

impl Named {
    /// From `SENTINEL MASTER` and `SENTINEL get-master-addr-by-name`. During a failover the
    /// leader names the promoted replica by the second once the replica has become a master
    /// (while it reconfigures the other replicas, before its configuration changes): from then
    /// on that replica is the newest master, and safe to write to.
    fn from_fields(
        fields: &HashMap<String, String>,
        named: Option<(String, u16)>,
    ) -> Option<Named> {
        let ip = fields.get("ip")?.clone();
        let port: u16 = fields.get("port")?.parse().ok()?;
        let epoch = fields.get("config-epoch")?.parse().ok()?;
        let failing_over = fields
            .get("flags")
            .is_some_and(|f| f.split(',').any(|flag| flag == "failover_in_progress"));
        let addr = (ip, port);
        Some(match named {
            Some(promoted) if failing_over && promoted != addr => Named {
                addr: promoted,
                epoch: u64::MAX,
                failing_over: false,
            },
            _ => Named {
                addr,
                epoch,
                failing_over,
            },
        })
    }
}

/// Sentinel says the master is changing: nothing may be written now. Shaped as a refused
/// connection, so callers know nothing was sent.
fn fenced(why: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        why,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(ip: &str, port: u16, epoch: u64, flags: &str) -> HashMap<String, String> {
        [
            ("ip", ip.to_string()),
            ("port", port.to_string()),
            ("config-epoch", epoch.to_string()),
            ("flags", flags.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn a_sentinel_failing_over_fences_until_its_replica_is_promoted() {
        let old = ("10.0.0.1".to_string(), 6379);
        let promoted = ("10.0.0.2".to_string(), 6379);
        let steady = Named::from_fields(&fields("10.0.0.1", 6379, 3, "master"), Some(old.clone()));
        let steady = steady.expect("parsed");
        assert!(!steady.failing_over);
        assert_eq!((steady.addr, steady.epoch), (old.clone(), 3));

        let flags = "master,failover_in_progress";
        let starting = Named::from_fields(&fields("10.0.0.1", 6379, 3, flags), Some(old.clone()));
        assert!(starting.expect("parsed").failing_over);

        let reconf =
            Named::from_fields(&fields("10.0.0.1", 6379, 3, flags), Some(promoted.clone()));
        let reconf = reconf.expect("parsed");
        assert!(!reconf.failing_over);
        assert_eq!((reconf.addr, reconf.epoch), (promoted, u64::MAX));

        assert!(Named::from_fields(&HashMap::new(), None).is_none());
    }
}
