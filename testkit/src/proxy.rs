//! A TCP proxy on loopback for fault injection: a test points a client at [`TcpProxy::addr`]
//! instead of the server, then breaks the path between them in the two ways networks do:
//! - [`TcpProxy::cut`]: every connection is closed on both sides and new ones are closed as soon
//!   as they are accepted (a server or route that is gone, seen at once);
//! - [`TcpProxy::stall`]: the sockets stay open but no byte moves either way, with no FIN and no
//!   RST (a silently dead path, seen only through timeouts or keepalives);
//!
//! and [`TcpProxy::restore`] heals either. Bytes held by a stall are delivered on restore, as TCP
//! would after a path comes back. Works for any TCP protocol (Redis, PostgreSQL, HTTP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with bytes and connections now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    Stalled,
}

/// A proxy from a free loopback port to `upstream`; everything is closed when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    connections: Arc<AtomicUsize>,
    /// Each open connection's own stall switch, by its upstream socket's local port (what the
    /// server sees as the client's port, e.g. in Redis's CLIENT LIST).
    each: Each,
    accept: tokio::task::JoinHandle<()>,
}

type Each = Arc<std::sync::Mutex<std::collections::HashMap<u16, watch::Sender<bool>>>>;

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, rx) = watch::channel(Mode::Open);
        let connections = Arc::new(AtomicUsize::new(0));
        let each: Each = Arc::default();
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream,
            rx,
            connections.clone(),
            each.clone(),
        ));
        TcpProxy {
            addr,
            mode,
            connections,
            each,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes every current connection (both sides) and closes new ones on accept, until
    /// [`TcpProxy::restore`]. Returns once the current connections are closed.
    pub async fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        let until = Instant::now() + Duration::from_secs(5);
        while self.connections() > 0 {
            assert!(
                Instant::now() < until,
                "{} proxied connections still open 5 s after cut",
                self.connections()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops forwarding bytes in both directions while every socket stays open, until
    /// [`TcpProxy::restore`]. New connections are accepted and held the same way.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stalled);
    }

    /// Forwards again after [`TcpProxy::cut`] (new connections) or [`TcpProxy::stall`] (the
    /// held connections resume, with the bytes they held).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }

    /// Stalls only the connection whose upstream socket has local port `port` (the port the
    /// server sees); `false` when there is none. [`TcpProxy::restore_all`] undoes it.
    pub fn stall_upstream(&self, port: u16) -> bool {
        let each = self.each.lock().expect("lock");
        match each.get(&port) {
            Some(s) => {
                s.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Restores the global mode and every single connection's stall.
    pub fn restore_all(&self) {
        self.restore();
        for s in self.each.lock().expect("lock").values() {
            s.send_replace(false);
        }
    }

    /// Connections open now (accepted and connected upstream).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // The listener goes with the accept task; the connections end when they see the mode
        // sender dropped.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    rx: watch::Receiver<Mode>,
    connections: Arc<AtomicUsize>,
    each: Each,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await; // out of descriptors: retry
            continue;
        };
        if *rx.borrow() == Mode::Cut {
            drop(client); // closed at once
            continue;
        }
        let (rx, connections, each) = (rx.clone(), connections.clone(), each.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return; // upstream down: the client sees its connection closed
            };
            let _counted = Counted::new(connections);
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let port = server.local_addr().map(|a| a.port()).unwrap_or(0);
            let (own, own_rx) = watch::channel(false);
            each.lock().expect("lock").insert(port, own);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pump(client_read, server_write, rx.clone(), own_rx.clone()),
                pump(server_read, client_write, rx, own_rx),
            );
            each.lock().expect("lock").remove(&port);
        });
    }
}

/// Copies `src` to `dst` while the mode is open, holds while stalled, returns when cut (or the
/// proxy is dropped), or passes a FIN on when `src` ends.
async fn pump(
    mut src: OwnedReadHalf,
    mut dst: OwnedWriteHalf,
    mut rx: watch::Receiver<Mode>,
    mut own: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !open(&mut rx).await {
            return;
        }
        // This connection alone stalled: hold until it is released.
        if own.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        let n = tokio::select! {
            read = src.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = dst.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        // Bytes read just as a stall began wait for the restore.
        if !open(&mut rx).await {
            return;
        }
        if own.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        tokio::select! {
            written = dst.write_all(&buf[..n]) => if written.is_err() {
                return;
            },
            _ = rx.wait_for(|m| *m == Mode::Cut) => return,
        }
    }
}

/// Waits while stalled; `true` once open, `false` if cut or the proxy is gone.
async fn open(rx: &mut watch::Receiver<Mode>) -> bool {
    match rx.wait_for(|m| *m != Mode::Stalled).await {
        Ok(mode) => *mode == Mode::Open,
        Err(_) => false,
    }
}

/// One open connection in the proxy's count, for as long as it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
