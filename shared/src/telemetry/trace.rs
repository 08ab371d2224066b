//! Distributed traces (OpenTelemetry): one trace per job, from the client's `traceparent` through
//! the gateway, the queue and the worker to the completion and the waiting client's wake-up.
//!
//! - **Off unless `--otlp-endpoint` is set.** Every span routeq makes for traces has the target
//!   [`TARGET`]; with tracing off the log filter turns that target off, so such a span is
//!   `Span::none()` at the cost of one cached callsite check, and the helpers below return at
//!   once on [`enabled`] (one relaxed atomic load). Nothing is added to the stream entry.
//! - **Propagation**: W3C Trace Context. The gateway accepts `traceparent`/`tracestate` (or starts
//!   a root), and stores its request span's context in the stream entry's `tc` field
//!   ([`carrier`]: `traceparent[ tracestate]`); the worker continues from it ([`parent_from`]).
//! - **Sampling**: parent-based (a caller's sampled flag is followed) with a ratio for roots, or
//!   the ratio alone (`--trace-parent-based false`).
//! - **Redaction** (`--trace-redact`, on by default): attributes that could hold an address or a
//!   provider's error text go through [`redact`], which keeps a short hash so equal values can
//!   still be matched up. Secrets (API keys, provider keys, URLs with their query) are never
//!   recorded at all, redaction or not.
//! - **Logs carry `trace_id`**: trace spans declare a `trace_id` field that [`continue_trace`]
//!   fills in, and the log formatter prints the fields of the spans a line is logged in.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of every span and event meant for traces (and only those are exported).
pub const TARGET: &str = "routeq_trace";

/// The instrumentation scope name of spans made with the OpenTelemetry API directly.
const SCOPE: &str = "routeq";

static ENABLED: AtomicBool = AtomicBool::new(false);
static REDACT: AtomicBool = AtomicBool::new(true);

/// Whether traces are exported by this process (set once at start-up).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether attribute values that may hold personal data are redacted.
pub fn redacting() -> bool {
    REDACT.load(Ordering::Relaxed)
}

pub(super) fn set_enabled(on: bool, redact: bool) {
    REDACT.store(redact, Ordering::Relaxed);
    ENABLED.store(on, Ordering::Relaxed);
}

/// Trace settings, shared by the gateway and the worker.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Export traces over OTLP/HTTP (protobuf) to this collector, e.g. `http://otel-collector:4318`
    /// (`/v1/traces` is appended when the URL has no path). Unset: no traces, at no cost.
    #[arg(long = "otlp-endpoint", env = "ROUTEQ_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Share of new traces (no sampled parent) that are recorded, 0.0 to 1.0.
    #[arg(
        long = "trace-sample-ratio",
        env = "ROUTEQ_TRACE_SAMPLE_RATIO",
        default_value_t = 1.0
    )]
    pub sample_ratio: f64,

    /// Follow the caller's sampling decision (the `traceparent` sampled flag, and the gateway's
    /// decision in the worker); `false` decides by --trace-sample-ratio alone.
    #[arg(long = "trace-parent-based", env = "ROUTEQ_TRACE_PARENT_BASED", default_value_t = true, action = clap::ArgAction::Set)]
    pub parent_based: bool,

    /// Replace values that may hold personal data (addresses, provider error texts) with a short
    /// hash in span attributes. Secrets are never recorded either way.
    #[arg(long = "trace-redact", env = "ROUTEQ_TRACE_REDACT", default_value_t = true, action = clap::ArgAction::Set)]
    pub redact: bool,
}

impl Default for TraceArgs {
    fn default() -> Self {
        TraceArgs {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            parent_based: true,
            redact: true,
        }
    }
}

/// A trace setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum TraceConfigError {
    #[error(
        "--otlp-endpoint {0:?}: expected an http:// URL (this build has no TLS client; send to a collector on the local network)"
    )]
    Endpoint(String),
    #[error("--trace-sample-ratio {0}: expected a number from 0.0 to 1.0")]
    Ratio(f64),
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
}

impl TraceArgs {
    /// The traces URL to post to, or `None` when tracing is off.
    pub fn traces_url(&self) -> Result<Option<String>, TraceConfigError> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(TraceConfigError::Ratio(self.sample_ratio));
        }
        let Some(ep) = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        let rest = ep
            .strip_prefix("http://")
            .filter(|r| !r.is_empty() && !r.starts_with('/'))
            .ok_or_else(|| TraceConfigError::Endpoint(ep.to_string()))?;
        Ok(Some(match rest.find('/') {
            Some(i) if rest.len() > i + 1 => ep.to_string(),
            Some(_) => format!("{ep}v1/traces"),
            None => format!("{ep}/v1/traces"),
        }))
    }
}

/// The tracer provider, when tracing is on: shuts down (exporting what is buffered) when dropped.
/// Keep it in `main` until the runtime has stopped.
#[must_use = "traces are flushed when the guard is dropped"]
pub struct TraceGuard(pub(super) Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for TraceGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("exporting the last traces failed: {e}");
        }
    }
}

/// Builds the provider that exports to `url` as `service`.
pub(super) fn provider(
    args: &TraceArgs,
    url: &str,
    service: &'static str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, TraceConfigError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
    use opentelemetry_sdk::trace::Sampler;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(5))
        .with_headers(HashMap::new())
        .build()
        .map_err(|e| TraceConfigError::Exporter(e.to_string()))?;
    let ratio = Sampler::TraceIdRatioBased(args.sample_ratio);
    let sampler = if args.parent_based {
        Sampler::ParentBased(Box::new(ratio))
    } else {
        ratio
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// The remote parent given W3C `traceparent` and `tracestate` values; `None` when absent or
/// invalid (the caller then starts a root).
pub fn parent_from_w3c(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Context> {
    let tp = traceparent?;
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_string(), tp.trim().to_string());
    if let Some(ts) = tracestate {
        carrier.insert("tracestate".to_string(), ts.trim().to_string());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// The context stored in a stream entry (`traceparent[ tracestate]`, see [`carrier`]).
pub fn parent_from(stored: &str) -> Option<Context> {
    if stored.is_empty() {
        return None;
    }
    let (tp, ts) = match stored.split_once(' ') {
        Some((tp, ts)) => (tp, Some(ts)),
        None => (stored, None),
    };
    parent_from_w3c(Some(tp), ts)
}

/// `span`'s context as `traceparent[ tracestate]` (a traceparent has no spaces), for the stream
/// entry; `""` when tracing is off or the span is not recorded.
pub fn carrier(span: &tracing::Span) -> String {
    if !enabled() || span.is_disabled() {
        return String::new();
    }
    let mut out: HashMap<String, String> = HashMap::with_capacity(2);
    TraceContextPropagator::new().inject_context(&span.context(), &mut out);
    match (out.remove("traceparent"), out.remove("tracestate")) {
        (Some(tp), Some(ts)) if !ts.is_empty() => format!("{tp} {ts}"),
        (Some(tp), _) => tp,
        _ => String::new(),
    }
}

/// The current span's context for the stream entry ([`carrier`]); `""` at the cost of one
/// atomic load when traces are off.
pub fn current_carrier() -> String {
    if !enabled() {
        return String::new();
    }
    carrier(&tracing::Span::current())
}

/// Makes `span` a child of `parent` (when given) and records its trace id in the span's
/// `trace_id` field, so log lines inside it carry the id.
pub fn continue_trace(span: &tracing::Span, parent: Option<Context>) {
    if !enabled() || span.is_disabled() {
        return;
    }
    if let Some(cx) = parent {
        // Fails only when the span has already started; ours are fresh.
        let _ = span.set_parent(cx);
    }
    let id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(id));
}

/// A span with given start and end times (work whose start this process did not see, such as a
/// job's time in the queue), a child of `parent`.
pub fn past_span(
    name: &'static str,
    parent: &Context,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
) {
    if !enabled() {
        return;
    }
    let tracer = opentelemetry::global::tracer(SCOPE);
    let mut span = tracer
        .span_builder(name)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    span.end_with_timestamp(end.max(start));
}

/// `span`'s OpenTelemetry context (for [`past_span`] parents).
pub fn context_of(span: &tracing::Span) -> Context {
    span.context()
}

/// Epoch milliseconds as a `SystemTime`.
pub fn at_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// A value that may hold personal data, for a span attribute: itself with redaction off, else
/// `redacted:<first 8 hex digits of its SHA-256>` (equal inputs stay matchable).
pub fn redact(value: &str) -> String {
    if !redacting() {
        return value.to_string();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    format!("redacted:{}", hex::encode(&digest[..4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_traces_path_when_it_has_none() {
        let url = |ep: &str| {
            TraceArgs {
                otlp_endpoint: Some(ep.into()),
                ..TraceArgs::default()
            }
            .traces_url()
        };
        assert_eq!(
            url("http://c:4318").expect("ok").as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            url("http://c:4318/").expect("ok").as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            url("http://c:4318/otlp/v1/traces").expect("ok").as_deref(),
            Some("http://c:4318/otlp/v1/traces")
        );
        assert!(url("https://c:4318").is_err());
        assert!(url("c:4318").is_err());
        assert!(TraceArgs::default().traces_url().expect("ok").is_none());
        let bad_ratio = TraceArgs {
            sample_ratio: 1.5,
            ..TraceArgs::default()
        };
        assert!(bad_ratio.traces_url().is_err());
    }

    #[test]
    fn a_stored_context_round_trips_and_garbage_is_no_parent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = parent_from(&format!("{tp} vendor=a b,other=c")).expect("parent");
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert!(parent_from(tp).is_some());
        assert!(parent_from("").is_none());
        assert!(parent_from("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(parent_from_w3c(Some("not a traceparent"), None).is_none());
    }

    #[test]
    fn redaction_hides_the_value_but_keeps_it_matchable() {
        let a = redact("Sejong-daero 110, Seoul");
        assert!(a.starts_with("redacted:") && !a.contains("Sejong"));
        assert_eq!(a, redact("Sejong-daero 110, Seoul"));
        assert_ne!(a, redact("Teheran-ro 152"));
    }
}
