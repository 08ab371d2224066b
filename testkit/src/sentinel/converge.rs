//! How a [`SentinelGroup`] knows it is ready: replicas in sync with their master, and every
//! sentinel seeing the master, both replicas and the two other sentinels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{SentinelGroup, sentinel_cmd};
use crate::redis::{info_field, node_query};

impl SentinelGroup {
    /// Until `master` has `n` online replicas and each says its link is up.
    pub(super) async fn wait_replicas_synced(&self, master: u16, n: usize, within: Duration) {
        let until = Instant::now() + within;
        let replicas: Vec<u16> = self
            .data_ports()
            .into_iter()
            .filter(|p| *p != master)
            .collect();
        loop {
            let info = self.info(master).await.unwrap_or_default();
            let online = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count();
            let mut linked = 0;
            for &r in &replicas {
                if self.in_sync(r).await {
                    linked += 1;
                }
            }
            if online >= n && linked >= n {
                return;
            }
            assert!(
                Instant::now() < until,
                "{online} of {n} replicas online on {master} after {within:?}\n{}",
                self.node(master).log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(super) async fn wait_in_sync(&self, port: u16, within: Duration) {
        let until = Instant::now() + within;
        while !self.in_sync(port).await {
            assert!(
                Instant::now() < until,
                "{port} not in sync after {within:?}\n{}",
                self.node(port).log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn in_sync(&self, port: u16) -> bool {
        let info = self.info(port).await.unwrap_or_default();
        info_field(&info, "master_link_status") == Some("up")
    }

    async fn info(&self, port: u16) -> Option<String> {
        let cmd = redis::cmd("INFO").arg("replication").clone();
        node_query(port, self.password(), &cmd).await.ok()
    }

    /// Until every sentinel reports a healthy master with 2 replicas in sync and 2 other
    /// sentinels.
    pub(super) async fn wait_converged(&self, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let views = join_all(self.sentinels.iter().map(|s| self.sentinel_view(s.port))).await;
            if views.iter().all(|v| v.is_ok()) {
                return;
            }
            assert!(
                Instant::now() < until,
                "the sentinels did not converge within {within:?}: {views:?}\n{}",
                self.sentinels[0].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `Ok` if the sentinel on `port` sees everything; otherwise what it lacks.
    async fn sentinel_view(&self, port: u16) -> Result<(), String> {
        let ask = |what: &str| sentinel_cmd(what, &self.name);
        let master: HashMap<String, String> = node_query(port, None, &ask("master"))
            .await
            .map_err(|e| format!("{port} master: {e}"))?;
        let replicas: Vec<HashMap<String, String>> = node_query(port, None, &ask("replicas"))
            .await
            .map_err(|e| format!("{port} replicas: {e}"))?;
        let sentinels: Vec<HashMap<String, String>> = node_query(port, None, &ask("sentinels"))
            .await
            .map_err(|e| format!("{port} sentinels: {e}"))?;
        let flags = |m: &HashMap<String, String>| m.get("flags").cloned().unwrap_or_default();
        let healthy_replicas = replicas
            .iter()
            .filter(|r| {
                flags(r) == "slave" && r.get("master-link-status").map(String::as_str) == Some("ok")
            })
            .count();
        let healthy_sentinels = sentinels.iter().filter(|s| flags(s) == "sentinel").count();
        if flags(&master) == "master" && healthy_replicas == 2 && healthy_sentinels == 2 {
            Ok(())
        } else {
            Err(format!(
                "{port}: master flags {:?}, {healthy_replicas} replicas, {healthy_sentinels} sentinels",
                flags(&master)
            ))
        }
    }
}
