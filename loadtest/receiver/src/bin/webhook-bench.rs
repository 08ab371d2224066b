//! `routeq-webhook-bench`: deliveries/s and CPU per delivery of one routeq-notify `Deliverer`
//! against a receiver in its own process.
//!
//! Without `--receiver` it starts the `routeq-receiver` next to its own executable on a free
//! loopback port (and accounts that process's CPU too). It generates a secret, hands it to the
//! receiver (`POST /_receiver/secrets`), resets the receiver's counts, pushes `--events` events
//! spread over `--endpoints` endpoints (paths `/ep<n>` of the one receiver) through
//! `Deliverer::run`, and checks the receiver's view: every event accepted once, no duplicates,
//! no bad signatures. CPU is user + system time from `/proc/<pid>/stat`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use clap::Parser;
use routeq_notify::{
    AllowList, Deliverer, DelivererConfig, Delivery, Endpoint, Event, EventFilter, MapResolver,
    Outcome, Resolve, Secret, SystemResolver, UrlPolicy,
};
use routeq_receiver::Stats;
use tokio::sync::mpsc;

#[derive(Debug, Parser)]
#[command(name = "routeq-webhook-bench", version)]
struct Cli {
    /// Base URL of a running routeq-receiver (default: start one next to this binary).
    #[arg(long)]
    receiver: Option<String>,
    /// Events to deliver.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Endpoints the events are spread over (round robin).
    #[arg(long, default_value_t = 4)]
    endpoints: usize,
    /// Attempts in flight per endpoint.
    #[arg(long, default_value_t = 32)]
    endpoint_concurrency: usize,
    /// Attempts in flight in total.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Address the endpoints by this host name (e.g. `localhost`) instead of the receiver's IP,
    /// resolved by the system resolver at every delivery as in production.
    #[arg(long)]
    via_name: Option<String>,
    /// Size of each event's JSON body in bytes (about the size of a finished job's view).
    #[arg(long, default_value_t = 700)]
    body_bytes: usize,
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat` times.
fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process so far (`self` or a pid).
fn cpu_s(pid: &str, ticks: f64) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').context("stat format")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("stat field")?.parse::<f64>()?)
    };
    Ok((field(11)? + field(12)?) / ticks)
}

/// Starts the sibling `routeq-receiver` on a free port; returns it and its base URL.
fn spawn_receiver() -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("routeq-receiver");
    let mut child = Command::new(&path)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--print-addr",
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    let stdout = child.stdout.take().context("receiver stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("unexpected receiver output {line:?}"))?;
    Ok((child, format!("http://{addr}")))
}

/// The receiver this bench started: stopped when the bench ends, whichever way.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn body(id: &str, size: usize) -> String {
    let head = format!(r#"{{"id":"{id}","state":"succeeded","result":{{"pad":""#);
    let pad = "x".repeat(size.saturating_sub(head.len() + 3));
    format!("{head}{pad}\"}}}}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ticks = clock_ticks_per_s();
    let (child, base) = match &cli.receiver {
        Some(url) => (None, url.trim_end_matches('/').to_string()),
        None => {
            let (child, base) = spawn_receiver()?;
            (Some(Started(child)), base)
        }
    };
    let http = reqwest::Client::new();
    let secret = Secret::generate()?;
    http.post(format!("{base}/_receiver/secrets"))
        .json(&serde_json::json!({ "secrets": [secret.expose()], "replace": true }))
        .send()
        .await?
        .error_for_status()?;
    http.post(format!("{base}/_receiver/reset"))
        .send()
        .await?
        .error_for_status()?;

    let config = DelivererConfig {
        policy: UrlPolicy::new(AllowList::parse("127.0.0.0/8 ::1")?),
        endpoint_concurrency: cli.endpoint_concurrency,
        endpoint_queue: cli.events,
        max_in_flight: cli.max_in_flight,
        max_pending: cli.events.max(1),
        ..DelivererConfig::default()
    };
    let resolver: Arc<dyn Resolve> = match cli.via_name {
        Some(_) => Arc::new(SystemResolver),
        None => Arc::new(MapResolver::new()),
    };
    let deliverer = Deliverer::new(config, resolver);
    let endpoint_base = match &cli.via_name {
        Some(name) => {
            let port = base
                .rsplit(':')
                .next()
                .context("receiver URL without a port")?;
            format!("http://{name}:{port}")
        }
        None => base.clone(),
    };
    let endpoints: Vec<Arc<Endpoint>> = (0..cli.endpoints.max(1))
        .map(|n| {
            let url = format!("{endpoint_base}/ep{n}");
            Endpoint::new(
                format!("ep{n}"),
                &url,
                vec![secret.clone()],
                EventFilter::all(),
            )
            .map(Arc::new)
        })
        .collect::<Result<_, _>>()?;
    let run_id = std::process::id();
    let jobs: Vec<Delivery> = (0..cli.events)
        .map(|n| {
            let id = format!("msg_{run_id}_{n}");
            let body = body(&id, cli.body_bytes);
            let event = Event::new(id, "route.succeeded", SystemTime::now(), body)?;
            Ok(Delivery {
                event: Arc::new(event),
                endpoint: endpoints[n % endpoints.len()].clone(),
                attempts_made: 0,
            })
        })
        .collect::<anyhow::Result<_>>()?;

    let receiver_pid = child.as_ref().map(|c| c.0.id().to_string());
    let rx_cpu0 = match &receiver_pid {
        Some(pid) => Some(cpu_s(pid, ticks)?),
        None => None,
    };
    let cpu0 = cpu_s("self", ticks)?;
    let started = Instant::now();
    let (tx, deliveries) = mpsc::channel(cli.events.max(1));
    let (reports_tx, mut reports) = mpsc::channel(cli.events.max(1));
    let runner = deliverer.run(deliveries, reports_tx);
    for job in jobs {
        tx.send(job).await.context("deliverer stopped")?;
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(cli.events);
    let mut failed = 0usize;
    while let Some((_, report)) = reports.recv().await {
        match report.outcome {
            Outcome::Delivered { .. } => latencies.extend(report.latency),
            _ => failed += 1,
        }
    }
    runner.await?;
    let wall = started.elapsed();
    let cpu = cpu_s("self", ticks)? - cpu0;
    let rx_cpu = match (&receiver_pid, rx_cpu0) {
        (Some(pid), Some(c0)) => Some(cpu_s(pid, ticks)? - c0),
        _ => None,
    };

    let stats: Stats = http
        .get(format!("{base}/_receiver/stats"))
        .send()
        .await?
        .json()
        .await?;
    latencies.sort_unstable();
    let n = cli.events as f64;
    println!(
        "events {} over {} endpoints at {endpoint_base} (per-endpoint concurrency {}, max in flight {}, body {} B)",
        cli.events, cli.endpoints, cli.endpoint_concurrency, cli.max_in_flight, cli.body_bytes
    );
    println!(
        "wall {:.2} s, {:.0} deliveries/s, {failed} not delivered",
        wall.as_secs_f64(),
        n / wall.as_secs_f64()
    );
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3
    );
    println!(
        "deliverer CPU {cpu:.2} s = {:.1} µs per delivery ({:.0} % of one core)",
        cpu / n * 1e6,
        cpu / wall.as_secs_f64() * 100.0
    );
    if let Some(rx_cpu) = rx_cpu {
        println!(
            "receiver CPU {rx_cpu:.2} s = {:.1} µs per delivery",
            rx_cpu / n * 1e6
        );
    }
    println!(
        "receiver: accepted {}, unique {}, duplicates {}, bad signatures {}",
        stats.accepted, stats.unique, stats.duplicates, stats.bad_signature
    );
    drop(child);
    let expected = cli.events as u64;
    if failed > 0 || stats.unique != expected || stats.duplicates != 0 || stats.bad_signature != 0 {
        bail!("the receiver's view does not match: every event accepted once, none forged");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routeq-webhook-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
