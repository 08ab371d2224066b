//! Child processes a test starts, stopped by PID when the test ends (or fails), free ports, and
//! the workspace's own binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child process, stopped when dropped: SIGTERM first (so a master process stops its own
/// children), SIGKILL after a grace.
pub struct Proc {
    pub child: Child,
    /// How long a drop waits after SIGTERM before SIGKILL (zero: SIGKILL at once).
    pub grace: Duration,
}

impl Proc {
    /// Spawns `cmd`; stopped with SIGKILL at once when dropped.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        Proc {
            child,
            grace: Duration::ZERO,
        }
    }

    /// Stopped with SIGTERM, then SIGKILL after `grace`, when dropped.
    pub fn with_grace(mut self, grace: Duration) -> Proc {
        self.grace = grace;
        self
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    /// Sends `signal` (`libc::SIGTERM`, `SIGKILL`, `SIGSTOP`, `SIGCONT`…).
    pub fn signal(&self, signal: i32) {
        signal_pid(self.pid(), signal);
    }

    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit; fails the test after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "process did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.grace.is_zero() && self.is_running() {
            self.terminate();
            let until = Instant::now() + self.grace;
            while Instant::now() < until && self.is_running() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

/// Sends a signal to a process by PID.
pub fn signal_pid(pid: i32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{}", signal_name(signal)))
        .arg(pid.to_string())
        .status();
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "KILL",
        libc::SIGSTOP => "STOP",
        libc::SIGCONT => "CONT",
        libc::SIGINT => "INT",
        _ => "TERM",
    }
}

/// A port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `n` distinct ports nothing listened on a moment ago (all held while they are chosen, so none
/// repeats).
pub fn free_ports(n: usize) -> Vec<u16> {
    free_ports_with_peer(n, 0)
}

/// `n` distinct ports `p` such that `p` and `p + peer` were both free a moment ago (a Redis
/// Cluster node also listens on its bus port, `p + 10000`). `peer == 0`: plain free ports.
pub fn free_ports_with_peer(n: usize, peer: u16) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..1000 {
        if ports.len() == n {
            return ports;
        }
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        held.push(l);
        if peer == 0 {
            ports.push(port);
            continue;
        }
        let Some(other) = port.checked_add(peer) else {
            continue;
        };
        if ports.iter().any(|p| p + peer == port || *p == other) {
            continue;
        }
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", other)) {
            held.push(l);
            ports.push(port);
        }
    }
    panic!("no {n} free ports (with +{peer} free too) on 127.0.0.1");
}

/// Waits until something accepts connections on `port`.
pub fn wait_port(port: u16, within: Duration) {
    let until = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "nothing listens on {port} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A binary of this workspace (`routeq-gateway`, `routeq-worker`, `routeq-recorder`,
/// `routeq-sim`), built next to the test binaries (`cargo build --bins`; scripts/test.sh does).
/// `ROUTEQ_BIN_DIR` points the tests that drive processes at another build instead — another
/// revision's, to see a test fail on the code before a fix.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = match std::env::var_os("ROUTEQ_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => exe
            .parent()
            .and_then(Path::parent)
            .expect("the target directory")
            .to_path_buf(),
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --bins; scripts/test.sh does)",
        path.display()
    );
    path
}

/// A tool from Debian's packages, or a failure that says how to get it.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not installed: scripts/setup.sh installs it");
}

/// A directory of a test's own, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "routeq-{tag}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last `lines` lines of a log file (for a failure message), or why there are none.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}
