//! A Redis Cluster of a test's own: three masters with one replica each, from the machine's
//! `redis-server` on free loopback ports (each port's bus port, +10000, free too), no persistence,
//! `cluster-node-timeout 1000` so a shard fails over within a test. Created with
//! `redis-cli --cluster create`; every process is killed by PID on drop.
//!
//! The topology (who is master, who owns a key) is always read from the nodes themselves
//! (`CLUSTER NODES`, `CLUSTER SLOTS`), so it stays right after a failover.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::node::Node;
use crate::proc::{TempDir, free_ports_with_peer, tool};
use crate::redis::{info_field, node_client, node_query};

/// How long `start` waits for the created cluster to be ready.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Three masters and three replicas; see the module documentation.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: TempDir,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug)]
struct NodeLine {
    id: String,
    port: u16,
    flags: Vec<String>,
    /// The master's id, for a replica.
    master_id: Option<String>,
    has_slots: bool,
}

impl NodeLine {
    fn is(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster, and waits (bounded) until every node says
    /// `cluster_state:ok` and every replica is attached and in sync.
    pub async fn start() -> RedisCluster {
        let dir = TempDir::new("cluster");
        let mut nodes = Vec::new();
        for port in free_ports_with_peer(6, 10000) {
            let mut args = Node::data_args(port, &dir.0);
            let conf = dir
                .path(&format!("nodes-{port}.conf"))
                .display()
                .to_string();
            args.extend(
                ["--cluster-enabled", "yes", "--cluster-config-file", &conf].map(str::to_string),
            );
            args.extend(["--cluster-node-timeout", "1000"].map(str::to_string));
            nodes.push(Node::start(port, args, Node::data_log(port, &dir.0)));
        }
        let cluster = RedisCluster { nodes, dir };
        cluster.create().await;
        cluster.wait_ready(READY_WITHIN).await;
        cluster
    }

    /// `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`; its output is shown
    /// only if it fails.
    async fn create(&self) {
        let out = tokio::process::Command::new(tool("redis-cli"))
            .args(["--cluster", "create"])
            .args(self.seeds())
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(30), out)
            .await
            .expect("redis-cli --cluster create did not finish within 30 s")
            .expect("run redis-cli");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("All 16384 slots covered"),
            "redis-cli --cluster create failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every node as `127.0.0.1:port`.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (three of the nodes as seeds),
    /// the form routeq accepts.
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.seeds()[..3].join(","))
    }

    /// Every node's port (killed ones too).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Where the nodes' logs (`redis-<port>.log`) and cluster configs are.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir.0
    }

    /// A client for the node on `port`.
    pub fn client(&self, port: u16) -> redis::Client {
        node_client(port, None)
    }

    /// The masters that serve slots, as a node that answers sees them, sorted.
    pub async fn masters(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .view()
            .await
            .iter()
            .filter(|n| n.is("master") && !n.is("fail") && n.has_slots)
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The replicas not marked failed, as a node that answers sees them, sorted.
    pub async fn replicas(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .view()
            .await
            .iter()
            .filter(|n| n.is("slave") && !n.is("fail"))
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The replica of the master on `master`, if it has one.
    pub async fn replica_of(&self, master: u16) -> Option<u16> {
        let view = self.view().await;
        let id = &view.iter().find(|n| n.port == master)?.id;
        view.iter()
            .find(|n| n.master_id.as_ref() == Some(id) && !n.is("fail"))
            .map(|n| n.port)
    }

    /// The port of the master that owns `key`'s slot (`CLUSTER KEYSLOT` + `CLUSTER SLOTS`).
    pub async fn owner_of(&self, key: &str) -> u16 {
        let port = self.answering_port();
        let slot: u16 = node_query(port, None, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
            .await
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT on {port}: {e}"));
        slot_owners(port)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find(|(from, to, _)| (*from..=*to).contains(&slot))
            .map(|(_, _, owner)| owner)
            .unwrap_or_else(|| panic!("no owner of slot {slot} (key {key})"))
    }

    /// SIGKILL the node on `port`.
    pub fn kill(&mut self, port: u16) {
        self.node_mut(port).kill();
    }

    /// SIGSTOP the node on `port`: connections stay open, nothing answers.
    pub fn stop(&self, port: u16) {
        self.node(port).stop();
    }

    /// SIGCONT after [`RedisCluster::stop`].
    pub fn resume(&self, port: u16) {
        self.node(port).resume();
    }

    /// Waits until every running node says `cluster_state:ok` and maps every slot to a master
    /// that runs (so after [`RedisCluster::kill`] of a master this waits for its replica to take
    /// over, not just for the nodes to notice). Fails the test after `within`.
    pub async fn wait_ok(&self, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let Err(why) = self.check_ok().await else {
                return;
            };
            assert!(
                Instant::now() < until,
                "cluster not ok after {within:?}: {why}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU seconds (`used_cpu_sys` + `used_cpu_user` of `INFO cpu`) the node on `port` has used.
    pub async fn node_cpu_seconds(&self, port: u16) -> f64 {
        let info: String = node_query(port, None, redis::cmd("INFO").arg("cpu"))
            .await
            .unwrap_or_else(|e| panic!("INFO cpu on {port}: {e}"));
        let seconds = |f| info_field(&info, f).and_then(|v| v.parse::<f64>().ok());
        match (seconds("used_cpu_sys"), seconds("used_cpu_user")) {
            (Some(sys), Some(user)) => sys + user,
            _ => panic!("no used_cpu_sys/used_cpu_user in INFO cpu of {port}:\n{info}"),
        }
    }

    async fn check_ok(&self) -> Result<(), String> {
        let up: HashSet<u16> = self
            .nodes
            .iter()
            .filter(|n| n.is_up())
            .map(|n| n.port)
            .collect();
        if up.is_empty() {
            return Err("no node runs".to_string());
        }
        for &port in &up {
            let info: String = node_query(port, None, redis::cmd("CLUSTER").arg("INFO"))
                .await
                .map_err(|e| format!("{port}: {e}"))?;
            let state = info_field(&info, "cluster_state");
            if state != Some("ok") {
                return Err(format!("{port}: cluster_state {state:?}"));
            }
            if let Some((_, _, owner)) = slot_owners(port)
                .await?
                .into_iter()
                .find(|(_, _, owner)| !up.contains(owner))
            {
                return Err(format!(
                    "{port} maps slots to {owner}, which does not answer"
                ));
            }
        }
        Ok(())
    }

    /// Until `wait_ok` holds and, on every node, 3 masters serve slots, 3 replicas follow them
    /// and each replica's link to its master is up.
    async fn wait_ready(&self, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let why = match self.check_ok().await {
                Ok(()) => self.check_attached().await,
                Err(e) => Err(e),
            };
            let Err(why) = why else {
                return;
            };
            assert!(
                Instant::now() < until,
                "cluster not ready after {within:?}: {why}\n{}",
                self.nodes[0].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn check_attached(&self) -> Result<(), String> {
        for node in &self.nodes {
            let view = nodes_of(node.port).await?;
            let masters: Vec<&NodeLine> = view
                .iter()
                .filter(|n| n.is("master") && n.has_slots)
                .collect();
            let attached = view
                .iter()
                .filter(|n| n.is("slave"))
                .filter(|r| masters.iter().any(|m| r.master_id.as_ref() == Some(&m.id)))
                .count();
            if masters.len() != 3 || attached != 3 {
                return Err(format!(
                    "{}: {} masters, {attached} replicas attached",
                    node.port,
                    masters.len()
                ));
            }
            if view.iter().any(|n| n.port == node.port && n.is("slave")) {
                let info: String =
                    node_query(node.port, None, redis::cmd("INFO").arg("replication"))
                        .await
                        .map_err(|e| format!("{}: {e}", node.port))?;
                if info_field(&info, "master_link_status") != Some("up") {
                    return Err(format!("{}: replica link not up", node.port));
                }
            }
        }
        Ok(())
    }

    /// `CLUSTER NODES` from the first node that answers.
    async fn view(&self) -> Vec<NodeLine> {
        let port = self.answering_port();
        nodes_of(port)
            .await
            .unwrap_or_else(|e| panic!("CLUSTER NODES: {e}"))
    }

    fn answering_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.is_up())
            .map(|n| n.port)
            .expect("a node that runs")
    }

    fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("{port} is not a node of this cluster"))
    }

    fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("{port} is not a node of this cluster"))
    }
}

/// `CLUSTER NODES` of the node on `port`, parsed.
async fn nodes_of(port: u16) -> Result<Vec<NodeLine>, String> {
    let text: String = node_query(port, None, redis::cmd("CLUSTER").arg("NODES"))
        .await
        .map_err(|e| format!("CLUSTER NODES on {port}: {e}"))?;
    Ok(text.lines().filter_map(parse_node_line).collect())
}

/// `<id> <ip:port@bus[,host]> <flags> <master|-> <ping> <pong> <epoch> <link> [slots…]`.
fn parse_node_line(line: &str) -> Option<NodeLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let addr = fields.get(1)?.split('@').next()?;
    let port = addr.rsplit(':').next()?.parse().ok()?;
    let master = *fields.get(3)?;
    Some(NodeLine {
        id: fields.first()?.to_string(),
        port,
        flags: fields.get(2)?.split(',').map(str::to_string).collect(),
        master_id: (master != "-").then(|| master.to_string()),
        has_slots: fields.len() > 8,
    })
}

/// `CLUSTER SLOTS` of the node on `port` as `(first slot, last slot, master port)`.
async fn slot_owners(port: u16) -> Result<Vec<(u16, u16, u16)>, String> {
    let reply: redis::Value = node_query(port, None, redis::cmd("CLUSTER").arg("SLOTS"))
        .await
        .map_err(|e| format!("CLUSTER SLOTS on {port}: {e}"))?;
    let redis::Value::Array(ranges) = reply else {
        return Err(format!("CLUSTER SLOTS on {port}: {reply:?}"));
    };
    Ok(ranges
        .into_iter()
        .filter_map(|range| {
            let redis::Value::Array(range) = range else {
                return None;
            };
            let int = |v: Option<&redis::Value>| match v {
                Some(redis::Value::Int(i)) => u16::try_from(*i).ok(),
                _ => None,
            };
            let redis::Value::Array(master) = range.get(2)? else {
                return None;
            };
            Some((int(range.first())?, int(range.get(1))?, int(master.get(1))?))
        })
        .collect())
}
