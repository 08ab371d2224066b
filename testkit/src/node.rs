//! One server process of a group the harness runs (a data node or a sentinel of a
//! [`crate::sentinel::SentinelGroup`], a node of a [`crate::cluster::RedisCluster`]): its port,
//! its log file, the arguments to start it again, and its state (killed, stopped), so every group
//! kills, stops and restarts its processes the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::proc::{Proc, log_tail};

/// A `redis-server` process on 127.0.0.1:`port`; SIGCONT (if stopped) then SIGKILL when dropped.
pub(crate) struct Node {
    pub port: u16,
    /// `redis-server`'s arguments (a config file and `--sentinel`, or `--port …`).
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
    stopped: AtomicBool,
}

impl Node {
    /// Starts `redis-server <args>` (which must make it listen on `port` and log to `log`) and
    /// waits until it accepts connections.
    pub fn start(port: u16, args: Vec<String>, log: PathBuf) -> Node {
        let mut node = Node {
            port,
            args,
            log,
            proc: None,
            stopped: AtomicBool::new(false),
        };
        node.spawn();
        node
    }

    /// Where a data node on `port` logs: `dir/redis-<port>.log`.
    pub fn data_log(port: u16, dir: &Path) -> PathBuf {
        dir.join(format!("redis-{port}.log"))
    }

    /// The arguments every data node gets: loopback, `port`, no persistence, files in `dir`,
    /// full syncs at once (no 5 s diskless delay), and its log at [`Node::data_log`].
    pub fn data_args(port: u16, dir: &Path) -> Vec<String> {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            &Node::data_log(port, dir).display().to_string(),
        ]
        .map(str::to_string)
        .to_vec()
    }

    fn spawn(&mut self) {
        let proc = Proc::spawn(
            Command::new("redis-server")
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        self.proc = Some(proc);
        self.stopped.store(false, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.proc.as_mut().is_some_and(|p| !p.is_running());
            assert!(
                !exited && Instant::now() < until,
                "redis-server on {} did not start: {}",
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts it again, on the same port, with `args` (a killed node only).
    pub fn restart(&mut self, args: Vec<String>) {
        assert!(
            self.proc.is_none(),
            "{} still runs: kill it first",
            self.port
        );
        self.args = args;
        self.spawn();
    }

    /// SIGKILL, at once; its data is gone.
    pub fn kill(&mut self) {
        self.resume();
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGSTOP: its sockets stay open, it answers nothing.
    pub fn stop(&self) {
        if let Some(p) = &self.proc {
            p.signal(libc::SIGSTOP);
            self.stopped.store(true, Ordering::SeqCst);
        }
    }

    /// SIGCONT after [`Node::stop`].
    pub fn resume(&self) {
        if let Some(p) = self
            .proc
            .as_ref()
            .filter(|_| self.stopped.load(Ordering::SeqCst))
        {
            p.signal(libc::SIGCONT);
            self.stopped.store(false, Ordering::SeqCst);
        }
    }

    /// Running and not stopped: it can answer.
    pub fn is_up(&self) -> bool {
        self.proc.is_some() && !self.stopped.load(Ordering::SeqCst)
    }

    pub fn is_killed(&self) -> bool {
        self.proc.is_none()
    }

    pub fn log_tail(&self) -> String {
        format!("{}:\n{}", self.log.display(), log_tail(&self.log, 15))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
