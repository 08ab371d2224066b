//! A Redis Sentinel deployment of a test's own: one master, two replicas and three sentinels
//! (quorum 2) from the machine's `redis-server`, on free loopback ports, with no persistence, so a
//! test can kill, stop or demote the master and watch what routeq does through the failover.
//!
//! Timings are short so a failover fits in a test: `down-after-milliseconds 1000`,
//! `failover-timeout 3000`, `parallel-syncs 1`. "The master" is always what a majority of the
//! sentinels answer to `SENTINEL get-master-addr-by-name` (not the first sentinel's answer: during
//! a failover the sentinels disagree for a while). Every process is killed by PID on drop.

mod converge;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::node::Node;
use crate::proc::{TempDir, free_ports};
use crate::redis::{node_client, node_query};

/// Options of a [`SentinelGroup`]; [`SentinelBuilder::start`] starts it.
pub struct SentinelBuilder {
    master_name: String,
    password: Option<String>,
    converge_within: Duration,
}

impl SentinelBuilder {
    /// The name the sentinels monitor the master under (default `routeq-master`).
    pub fn master_name(mut self, name: &str) -> Self {
        self.master_name = name.to_string();
        self
    }

    /// Data nodes require `password` (`requirepass`, and `masterauth` so replicas sync); the
    /// sentinels get it as `sentinel auth-pass`. The sentinels themselves need none.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// How long [`SentinelBuilder::start`] waits for the sentinels to agree (default 20 s).
    pub fn converge_within(mut self, within: Duration) -> Self {
        self.converge_within = within;
        self
    }

    /// Starts the data nodes, waits until both replicas are in sync, starts the sentinels, and
    /// returns once every sentinel sees the master, both replicas and the two other sentinels.
    pub async fn start(self) -> SentinelGroup {
        let dir = TempDir::new("sentinel");
        let ports = free_ports(6);
        let mut group = SentinelGroup {
            sentinels: Vec::new(),
            data: Vec::new(),
            name: self.master_name,
            password: self.password,
            dir,
        };
        let master = ports[0];
        for (i, &port) in ports[..3].iter().enumerate() {
            let args = group.data_args(port, (i > 0).then_some(master));
            let log = Node::data_log(port, &group.dir.0);
            group.data.push(Node::start(port, args, log));
        }
        group
            .wait_replicas_synced(master, 2, Duration::from_secs(10))
            .await;
        for &port in &ports[3..] {
            let conf = group.dir.path(&format!("sentinel-{port}.conf"));
            let log = group.dir.path(&format!("sentinel-{port}.log"));
            std::fs::write(&conf, group.sentinel_conf(port, master, &log)).expect("sentinel.conf");
            let args = vec![conf.display().to_string(), "--sentinel".to_string()];
            group.sentinels.push(Node::start(port, args, log));
        }
        group.wait_converged(self.converge_within).await;
        group
    }
}

/// One master, two replicas and three sentinels on loopback; see the module documentation.
pub struct SentinelGroup {
    // Fields drop in this order, each node SIGCONT (if stopped) then SIGKILL: the sentinels go
    // first (so they fail nothing over while the data nodes die), the temp dir last.
    sentinels: Vec<Node>,
    data: Vec<Node>,
    name: String,
    password: Option<String>,
    dir: TempDir,
}

impl SentinelGroup {
    /// Options (a password, a master name) before starting.
    pub fn builder() -> SentinelBuilder {
        SentinelBuilder {
            master_name: "routeq-master".to_string(),
            password: None,
            converge_within: Duration::from_secs(20),
        }
    }

    /// The default group: no password, master name `routeq-master`.
    pub async fn start() -> SentinelGroup {
        SentinelGroup::builder().start().await
    }

    pub fn master_name(&self) -> &str {
        &self.name
    }

    /// The data nodes' password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The sentinels, as `("127.0.0.1", port)`.
    pub fn sentinel_addrs(&self) -> Vec<(String, u16)> {
        self.sentinels
            .iter()
            .map(|s| ("127.0.0.1".to_string(), s.port))
            .collect()
    }

    /// `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<master-name>`, the form routeq
    /// accepts (the data nodes' password is not in it: see [`SentinelGroup::password`]).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), self.name)
    }

    /// Every data node's port (killed ones too), the first master first.
    pub fn data_ports(&self) -> Vec<u16> {
        self.data.iter().map(|n| n.port).collect()
    }

    /// A client for the data node on `port` (with the password, if any).
    pub fn client(&self, port: u16) -> redis::Client {
        node_client(port, self.password())
    }

    /// What each sentinel names as the master (`None`: no answer, e.g. stopped).
    pub async fn master_votes(&self) -> Vec<Option<u16>> {
        let cmd = sentinel_cmd("get-master-addr-by-name", &self.name);
        let answers = join_all(
            self.sentinels
                .iter()
                .map(|s| node_query::<Option<(String, u16)>>(s.port, None, &cmd)),
        )
        .await;
        answers
            .into_iter()
            .map(|a| a.ok().flatten().map(|(_, port)| port))
            .collect()
    }

    /// The master a majority of the sentinels name, if they agree.
    pub async fn try_master_port(&self) -> Option<u16> {
        majority(&self.master_votes().await)
    }

    /// The current master as a majority of the sentinels says; fails the test if they do not
    /// agree within 5 s.
    pub async fn master_port(&self) -> u16 {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let votes = self.master_votes().await;
            if let Some(port) = majority(&votes) {
                return port;
            }
            assert!(
                Instant::now() < until,
                "no majority for a master: {votes:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running data nodes other than the current master.
    pub async fn replica_ports(&self) -> Vec<u16> {
        let master = self.master_port().await;
        self.data
            .iter()
            .filter(|n| !n.is_killed() && n.port != master)
            .map(|n| n.port)
            .collect()
    }

    /// SIGKILL the current master; returns its port.
    pub async fn kill_master(&mut self) -> u16 {
        let port = self.master_port().await;
        self.kill(port);
        port
    }

    /// SIGKILL the data node or sentinel on `port`.
    pub fn kill(&mut self, port: u16) {
        self.node_mut(port).kill();
    }

    /// SIGSTOP the data node or sentinel on `port`: connections stay open, nothing answers.
    pub fn stop(&self, port: u16) {
        self.node(port).stop();
    }

    /// SIGCONT after [`SentinelGroup::stop`].
    pub fn resume(&self, port: u16) {
        self.node(port).resume();
    }

    /// `SENTINEL FAILOVER`: a replica is promoted while the old master stays alive (it keeps
    /// accepting writes until the sentinels demote it, as in a partition). Fails the test if no
    /// sentinel accepts.
    pub async fn failover(&self) {
        let cmd = sentinel_cmd("failover", &self.name);
        let mut refusals = Vec::new();
        for s in &self.sentinels {
            match node_query::<String>(s.port, None, &cmd).await {
                Ok(_) => return,
                Err(e) => refusals.push(format!("{}: {e}", s.port)),
            }
        }
        panic!("no sentinel started a failover: {refusals:?}");
    }

    /// Waits until a majority of the sentinels names a master other than `old_port` and that
    /// node says it is a master; returns its port. Fails the test after `within`.
    pub async fn wait_for_new_master(&self, old_port: u16, within: Duration) -> u16 {
        let until = Instant::now() + within;
        loop {
            let votes = self.master_votes().await;
            if let Some(port) = majority(&votes).filter(|p| *p != old_port)
                && self.role(port).await.as_deref() == Some("master")
            {
                return port;
            }
            assert!(
                Instant::now() < until,
                "no new master within {within:?} (old {old_port}, votes {votes:?})\n{}",
                self.sentinels[0].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a killed data node again on its port, empty, as a replica of the current master,
    /// and waits until it is in sync. Call it after the sentinels have moved on
    /// ([`SentinelGroup::wait_for_new_master`]).
    pub async fn restart(&mut self, port: u16) {
        let master = self.master_port().await;
        assert_ne!(
            master, port,
            "the sentinels still name {port} the master: wait_for_new_master first"
        );
        let args = self.data_args(port, Some(master));
        self.node_mut(port).restart(args);
        self.wait_in_sync(port, Duration::from_secs(10)).await;
    }

    /// `CONFIG SET key value` on the data node on `port` (`min-replicas-to-write`, …).
    pub async fn set(&self, port: u16, key: &str, value: &str) {
        let cmd = redis::cmd("CONFIG").arg("SET").arg(key).arg(value).clone();
        if let Err(e) = node_query::<()>(port, self.password(), &cmd).await {
            panic!("CONFIG SET {key} {value} on {port}: {e}");
        }
    }

    /// `ROLE`'s first element on `port` (`master`, `slave`), if it answers.
    pub async fn role(&self, port: u16) -> Option<String> {
        let cmd = redis::cmd("ROLE");
        let role: Vec<redis::Value> = node_query(port, self.password(), &cmd).await.ok()?;
        redis::from_redis_value(role.into_iter().next()?).ok()
    }

    fn data_args(&self, port: u16, replica_of: Option<u16>) -> Vec<String> {
        let mut args = Node::data_args(port, &self.dir.0);
        if let Some(master) = replica_of {
            args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
        }
        if let Some(p) = &self.password {
            args.extend([
                "--requirepass".into(),
                p.clone(),
                "--masterauth".into(),
                p.clone(),
            ]);
        }
        args
    }

    fn sentinel_conf(&self, port: u16, master: u16, log: &std::path::Path) -> String {
        let name = &self.name;
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {log}\n\
             sentinel resolve-hostnames no\nsentinel announce-ip 127.0.0.1\n\
             sentinel monitor {name} 127.0.0.1 {master} 2\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 3000\n\
             sentinel parallel-syncs {name} 1\n",
            dir = self.dir.0.display(),
            log = log.display(),
        );
        if let Some(p) = &self.password {
            let quoted = p.replace('\\', "\\\\").replace('"', "\\\"");
            conf.push_str(&format!("sentinel auth-pass {name} \"{quoted}\"\n"));
        }
        conf
    }

    fn node(&self, port: u16) -> &Node {
        self.data
            .iter()
            .chain(&self.sentinels)
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("{port} is not a port of this sentinel group"))
    }

    fn node_mut(&mut self, port: u16) -> &mut Node {
        self.data
            .iter_mut()
            .chain(&mut self.sentinels)
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("{port} is not a port of this sentinel group"))
    }
}

/// `SENTINEL <what> <name>`.
fn sentinel_cmd(what: &str, name: &str) -> redis::Cmd {
    redis::cmd("SENTINEL").arg(what).arg(name).clone()
}

/// The port at least two of the three sentinels name.
fn majority(votes: &[Option<u16>]) -> Option<u16> {
    let need = votes.len() / 2 + 1;
    votes
        .iter()
        .flatten()
        .find(|p| votes.iter().filter(|v| **v == Some(**p)).count() >= need)
        .copied()
}
