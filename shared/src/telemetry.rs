//! Logging, metrics and signals, set up the same way in every binary.
//!
//! Logs are structured (`tracing`); `--log-format json` is for production, `text` for a terminal.
//! Lines about a job carry `request_id` and `job_id` fields. Metric names live in each binary's
//! `metrics` module; this module installs the recorder once with explicit histogram buckets.
//!
//! [`healthcheck_command`] is the `healthcheck` subcommand every binary answers before parsing its
//! own flags, so container images need no curl: a plain HTTP/1.0 GET of the binary's own
//! `/healthz`, exit 0 on a 200 answer.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Log settings.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// `text` for terminals, `json` for production (one JSON object per line).
    #[arg(long = "log-format", env = "ROUTEQ_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Log filter in `RUST_LOG` syntax (`info`, `routeq_worker=debug,info`).
    #[arg(long = "log-level", env = "ROUTEQ_LOG", default_value = "info")]
    pub log_level: String,
}

pub mod trace;

/// Installs logging and, with `--otlp-endpoint`, trace export as `service` (the gateway and the
/// worker call this instead of [`init_logging`]). Keep the guard until the runtime has stopped:
/// dropping it exports the spans still buffered.
///
/// With tracing off this is [`init_logging`] with the trace target ([`trace::TARGET`]) turned
/// off, so trace spans cost one cached callsite check. With it on, the log filter also shows the
/// trace spans (their `trace_id` field is on every line logged inside them), and a second layer,
/// filtered to the trace target alone, turns them into OpenTelemetry spans.
pub fn init_telemetry(
    log: &LogArgs,
    traces: &trace::TraceArgs,
    service: &'static str,
) -> Result<trace::TraceGuard, trace::TraceConfigError> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let Some(url) = traces.traces_url()? else {
        init_logging_with(log, "off");
        trace::set_enabled(false, traces.redact);
        return Ok(trace::TraceGuard(None));
    };
    let provider = trace::provider(traces, &url, service)?;
    trace::set_enabled(true, traces.redact);
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, service);
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(trace::TARGET, tracing::Level::DEBUG),
        );
    let filter = log_filter(log, "info");
    let registry = tracing_subscriber::registry().with(spans);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = if log.log_format == "json" {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_filter(filter),
            )
            .try_init()
    } else {
        registry.with(fmt.with_filter(filter)).try_init()
    };
    tracing::info!(endpoint = %url, ratio = traces.sample_ratio, parent_based = traces.parent_based, redact = traces.redact, "exporting traces");
    Ok(trace::TraceGuard(Some(provider)))
}

/// The log filter from `--log-level`, with the trace target at `trace_level` (`off` or `info`).
fn log_filter(args: &LogArgs, trace_level: &str) -> tracing_subscriber::EnvFilter {
    let spec = format!("{},{}={trace_level}", args.log_level, trace::TARGET);
    tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("info,{}={trace_level}", trace::TARGET))
    })
}

/// Installs the global tracing subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(args: &LogArgs) {
    init_logging_with(args, "off");
}

fn init_logging_with(args: &LogArgs, trace_level: &str) {
    let filter = log_filter(args, trace_level);
    // Colour codes only for a terminal: a log file or a collector's pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = if args.log_format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Histogram buckets for `_seconds` metrics: 1 ms to 30 s, dense around the 150–250 ms providers.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle (several applications
/// started in one test process share it). Spawns the upkeep task the exporter needs.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours simply stays empty.
            let _ = ::metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        tick.tick().await;
                        upkeep.run_upkeep();
                    }
                });
            }
            handle
        })
        .clone()
}

/// The process metrics collector (CPU, memory, file descriptors, threads, start time).
pub fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// What `/metrics` serves: the process metrics sampled now, then every series of the recorder.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    process_collector().collect();
    handle.render()
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// `<binary> healthcheck [--url URL]`: probes a running process of this binary.
#[derive(Debug, clap::Parser)]
#[command(
    about = "Exit 0 when the process answers 200 on its health endpoint, 1 otherwise (for container health checks)"
)]
pub struct HealthcheckArgs {
    /// URL to probe (plain http). Default: /healthz on 127.0.0.1 at the port of the binary's
    /// listen variable (gateway: ROUTEQ_ADMIN_LISTEN, else ROUTEQ_LISTEN; worker:
    /// ROUTEQ_METRICS_LISTEN; simulator: ROUTEQ_SIM_LISTEN).
    #[arg(long)]
    pub url: Option<String>,

    /// Give up after this many ms.
    #[arg(long, default_value_t = 2_000)]
    pub timeout_ms: u64,
}

/// Runs the `healthcheck` subcommand from the process arguments (`<binary> healthcheck …`) and
/// returns the exit code. Without `--url` it probes `/healthz` on the port of the first of
/// `listen_envs` that is set (the variables the binary reads its listen address from), else on
/// `default_listen`, so the probe follows the binary's own configuration.
pub async fn healthcheck_command(listen_envs: &[&str], default_listen: &str) -> i32 {
    use clap::Parser;
    let args = match HealthcheckArgs::try_parse_from(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let url = args.url.unwrap_or_else(|| {
        let listen = listen_envs
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| default_listen.to_string());
        default_health_url(&listen)
    });
    match healthcheck(&url, Duration::from_millis(args.timeout_ms)).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("healthcheck {url}: {e}");
            1
        }
    }
}

/// `http://127.0.0.1:<port>/healthz` for a listen address (an unspecified host is probed on
/// loopback; an unparsable address falls back to its text).
pub fn default_health_url(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            format!("http://127.0.0.1:{}/healthz", addr.port())
        }
        Ok(addr) => format!("http://{addr}/healthz"),
        Err(_) => format!("http://{listen}/healthz"),
    }
}

/// One HTTP/1.0 GET of `url` (`http://host:port/path`); `Ok` when the answer's status is 200.
pub async fn healthcheck(url: &str, timeout: Duration) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        // The status line is all we need; read until it is complete or the peer closes.
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let status = line.lines().next().unwrap_or_default().to_string();
        match status.split_whitespace().nth(1) {
            Some("200") if status.starts_with("HTTP/1.") => Ok(()),
            _ => Err(format!("unexpected answer {status:?}")),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_probes_loopback_on_the_listen_port() {
        assert_eq!(
            default_health_url("0.0.0.0:9091"),
            "http://127.0.0.1:9091/healthz"
        );
        assert_eq!(
            default_health_url("[::]:8080"),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            default_health_url("127.0.0.1:8090"),
            "http://127.0.0.1:8090/healthz"
        );
    }

    #[tokio::test]
    async fn healthcheck_wants_a_200() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.0 200 OK\r\n\r\nok",
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let url = format!("http://{addr}/healthz");
        assert_eq!(healthcheck(&url, Duration::from_secs(2)).await, Ok(()));
        assert!(healthcheck(&url, Duration::from_secs(2)).await.is_err());
        assert!(
            healthcheck("https://x/healthz", Duration::from_secs(1))
                .await
                .is_err()
        );
        // Nothing listens on a port we just released.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let closed_addr = closed.local_addr().expect("addr");
        drop(closed);
        assert!(
            healthcheck(&format!("http://{closed_addr}/"), Duration::from_secs(1))
                .await
                .is_err()
        );
    }
}
