//! Headless Chromium (Debian's `chromium`; scripts/setup.sh installs it) driven over the Chrome
//! DevTools protocol: one page, navigate, evaluate JavaScript, take screenshots. Started on a
//! free port with a profile of its own, stopped by PID on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::proc::{Proc, TempDir, tool};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Browser {
    socket: Socket,
    session: String,
    next_id: u64,
    _proc: Proc,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium and opens one blank page of 1280×900.
    pub async fn start() -> Browser {
        let profile = TempDir::new("chromium");
        let mut proc = Proc::spawn(
            Command::new(tool("chromium"))
                .args([
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--window-size=1280,900",
                    "--remote-debugging-port=0",
                    "about:blank",
                ])
                .arg(format!("--user-data-dir={}", profile.0.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stderr = proc.child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium did not print its DevTools address");
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to chromium");
        let mut b = Browser {
            socket,
            session: String::new(),
            next_id: 0,
            _proc: proc,
            _profile: profile,
        };
        let target = b
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().expect("target").to_string();
        let attached = b
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        b.session = attached["sessionId"].as_str().expect("session").to_string();
        b.call("Page.enable", json!({})).await;
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        b
    }

    /// One DevTools command; its result (a protocol error fails the test).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to chromium");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let next = tokio::time::timeout(left, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            let Some(Ok(Message::Text(text))) = next else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("CDP JSON");
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Goes to `url` and waits until the page has loaded.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")
            .await;
    }

    /// Evaluates `expr` in the page (promises awaited); its value.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits (10 s at most) until `expr` is truthy; its value.
    pub async fn wait_for(&mut self, expr: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .eval(&format!(
                    "(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()"
                ))
                .await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            let url = self.eval("location.href").await;
            assert!(Instant::now() < until, "never true: {expr} (at {url})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the element with this id ("" when there is none).
    pub async fn text(&mut self, id: &str) -> String {
        self.eval(&format!(
            "(document.getElementById({id:?}) || {{}}).textContent || ''"
        ))
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// A PNG of the whole page.
    pub async fn screenshot(&mut self, path: &Path) {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("data"))
            .expect("base64");
        std::fs::write(path, png).expect("write screenshot");
    }
}
