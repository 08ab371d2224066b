//! The fleet under test: the provider simulator, one gateway and N workers, each a child process
//! on a free loopback port, sharing one unique key prefix. Children are killed when the fleet is
//! dropped, whether the bench finished, failed or panicked.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cpu::Pids;

/// How to start a fleet.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub bin_dir: PathBuf,
    pub redis_url: String,
    pub workers: u64,
    pub concurrency: u64,
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    /// Where the children's output goes (one file each).
    pub log_dir: PathBuf,
    pub prefix: String,
}

/// One child process; killed and reaped on drop.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &str, bin: &Path, args: &[String], log_dir: &Path) -> anyhow::Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("opening {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Flags set everything the bench cares about; no stray ROUTEQ_* setting may change the rest.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROUTEQ_") {
                cmd.env_remove(key);
            }
        }
        // Every routeq binary (the simulator too) reads its log filter from ROUTEQ_LOG.
        cmd.env("ROUTEQ_LOG", "warn");
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} (is --bin-dir right?)", bin.display()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// An error naming the process and its last log lines if it has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            ),
            Err(e) => bail!("cannot check on {}: {e}", self.name),
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A running fleet.
pub struct Fleet {
    pub prefix: String,
    pub gateway_url: String,
    pub spec: FleetSpec,
    // Dropped (killed) in declaration order: workers first, the simulator last.
    workers: Vec<Proc>,
    gateway: Proc,
    simulator: Proc,
}

impl Fleet {
    /// Starts every process and waits until the simulator answers, the gateway is ready and every
    /// worker has joined the consumer group.
    pub async fn start(spec: FleetSpec, http: &reqwest::Client) -> anyhow::Result<Fleet> {
        std::fs::create_dir_all(&spec.log_dir)
            .with_context(|| format!("creating {}", spec.log_dir.display()))?;
        let bin = |name: &str| spec.bin_dir.join(name);
        let sim_addr = format!("127.0.0.1:{}", free_port()?);
        let gateway_addr = format!("127.0.0.1:{}", free_port()?);
        let sim_url = format!("http://{sim_addr}");
        let prefix = spec.prefix.clone();

        let simulator = Proc::spawn(
            "simulator",
            &bin("routeq-sim"),
            &[
                "--listen".into(),
                sim_addr.clone(),
                "--latency-min-ms".into(),
                spec.latency_min_ms.to_string(),
                "--latency-max-ms".into(),
                spec.latency_max_ms.to_string(),
            ],
            &spec.log_dir,
        )?;
        let gateway = Proc::spawn(
            "gateway",
            &bin("routeq-gateway"),
            &[
                "--listen".into(),
                gateway_addr.clone(),
                "--redis-url".into(),
                spec.redis_url.clone(),
                "--key-prefix".into(),
                prefix.clone(),
                "--log-level".into(),
                "warn".into(),
            ],
            &spec.log_dir,
        )?;
        let mut workers = Vec::new();
        for i in 1..=spec.workers {
            workers.push(Proc::spawn(
                &format!("worker-{i}"),
                &bin("routeq-worker"),
                &[
                    "--redis-url".into(),
                    spec.redis_url.clone(),
                    "--key-prefix".into(),
                    prefix.clone(),
                    "--geocoder-url".into(),
                    sim_url.clone(),
                    "--router-url".into(),
                    sim_url.clone(),
                    "--concurrency".into(),
                    spec.concurrency.to_string(),
                    "--metrics-listen".into(),
                    "127.0.0.1:0".into(),
                    "--log-level".into(),
                    "warn".into(),
                    "--consumer".into(),
                    consumer_name(i),
                ],
                &spec.log_dir,
            )?);
        }
        let mut fleet = Fleet {
            prefix,
            gateway_url: format!("http://{gateway_addr}"),
            spec,
            workers,
            gateway,
            simulator,
        };
        fleet.wait_ready(http, &sim_url).await?;
        Ok(fleet)
    }

    async fn wait_ready(&mut self, http: &reqwest::Client, sim_url: &str) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(20);
        let mut last = String::from("nothing checked yet");
        while Instant::now() < until {
            self.check_alive()?;
            let sim_ok = http_ok(http, &format!("{sim_url}/healthz")).await;
            let gw_ok = http_ok(http, &format!("{}/readyz", self.gateway_url)).await;
            // A worker serves /healthz on its metrics port (port 0: found in /proc) just before it
            // starts reading the stream.
            let mut waiting = Vec::new();
            for w in &self.workers {
                let ports = listening_ports(w.child.id());
                let mut up = false;
                for port in ports {
                    up |= http_ok(http, &format!("http://127.0.0.1:{port}/healthz")).await;
                }
                if !up {
                    waiting.push(w.name.clone());
                }
            }
            if sim_ok && gw_ok && waiting.is_empty() {
                return Ok(());
            }
            last = format!(
                "simulator /healthz ok: {sim_ok}, gateway /readyz ok: {gw_ok}, workers not serving /healthz: {waiting:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the fleet was not ready within 20 s ({last}); logs in {}",
            self.spec.log_dir.display()
        )
    }

    /// An error if any process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.simulator.check()?;
        self.gateway.check()?;
        for w in &mut self.workers {
            w.check()?;
        }
        Ok(())
    }

    pub fn pids(&self) -> Pids {
        Pids {
            gateway: self.gateway.child.id(),
            workers: self.workers.iter().map(|w| w.child.id()).collect(),
            simulator: self.simulator.child.id(),
        }
    }
}

/// TCP ports `pid` listens on: its socket inodes (`/proc/<pid>/fd`) matched against the LISTEN
/// rows of `/proc/net/tcp{,6}`.
fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        ports.extend(listen_ports_in(&text, &inodes));
    }
    ports
}

/// Ports of the LISTEN (`st` = `0A`) rows of a `/proc/net/tcp` table whose inode is in `inodes`.
fn listen_ports_in(table: &str, inodes: &std::collections::HashSet<String>) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            if *state != "0A" || !inodes.contains(*inode) {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect()
}

fn consumer_name(i: u64) -> String {
    format!("bench-w{i}")
}

async fn http_ok(http: &reqwest::Client, url: &str) -> bool {
    match http
        .get(url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
    {
        Ok(r) => r.status() == reqwest::StatusCode::OK,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_rows_are_found_by_inode() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:A2B4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0
";
        let inodes = ["222".to_string(), "333".to_string()].into_iter().collect();
        assert_eq!(listen_ports_in(table, &inodes), vec![0xA2B4]);
    }
}
