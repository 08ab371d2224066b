//! Distributed traces, end to end: a real `routeq-gateway` and `routeq-worker` (processes, each
//! with its own tracer) export over OTLP/HTTP to a receiver in this test on loopback, which
//! decodes the protobuf (`opentelemetry-proto`). One job submitted with a client `traceparent`
//! and `Prefer: wait` must give one trace whose spans cover the gateway's request, the submit,
//! the queue wait, the worker's job and its start, every provider call attempt (with the
//! rate-limit, breaker and retry events), the completion and the waiting client's wake-up, each
//! under the right parent and the request under the client's span; no attribute may carry the
//! address, the coordinates or the provider's address; and log lines carry the trace id.
//!
//! The simulator fails a seeded share of calls so the job sees at least one retry; the worker's
//! attempt spans must match the calls the simulator served, one for one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use routeq_testkit::gateway::GatewayProcess;
use routeq_testkit::proc::TempDir;
use routeq_testkit::sim::SimArgs;
use routeq_testkit::{Prefix, REDIS};
use serde_json::{Value, json};

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

/// One exported span and the service that sent it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    span: Span,
}

impl Got {
    fn name(&self) -> &str {
        &self.span.name
    }
    fn id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    fn attr(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(text)
    }
    fn events(&self) -> Vec<&str> {
        self.span.events.iter().map(|e| e.name.as_str()).collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every attribute value of a span and of its events, for the redaction checks.
fn all_values(s: &Span) -> Vec<String> {
    let kv = |kvs: &[KeyValue]| -> Vec<String> {
        kvs.iter()
            .filter_map(|kv| kv.value.as_ref().map(text))
            .collect()
    };
    let mut out = kv(&s.attributes);
    for e in &s.events {
        out.push(e.name.clone());
        out.extend(kv(&e.attributes));
    }
    out.push(s.name.clone());
    out
}

type Store = Arc<Mutex<Vec<Got>>>;

/// The OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
async fn receiver() -> (SocketAddr, Store) {
    async fn traces(State(store): State<Store>, body: Bytes) -> axum::http::StatusCode {
        let Ok(req) = ExportTraceServiceRequest::decode(body) else {
            return axum::http::StatusCode::BAD_REQUEST;
        };
        let mut got = store.lock().expect("lock");
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(text)
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    got.push(Got {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        axum::http::StatusCode::OK
    }
    let store: Store = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(traces))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, store)
}

/// A traced fleet: the receiver, the simulator, a gateway and a worker process exporting to it.
struct Traced {
    store: Store,
    sim: routeq_testkit::sim::SimHandle,
    gateway: Option<GatewayProcess>,
    worker: Option<routeq_testkit::proc::Proc>,
    addr: String,
    worker_log: std::path::PathBuf,
    _prefix: Prefix,
    _dir: TempDir,
}

impl Traced {
    async fn start(sim: SimArgs, gateway_extra: &[&str], worker_extra: &[&str]) -> Traced {
        let (otlp, store) = receiver().await;
        let endpoint = format!("http://{otlp}");
        let sim = routeq_testkit::sim::start(sim).await;
        let prefix = Prefix::new("traces");
        let dir = TempDir::new("traces");
        let worker_log = dir.path("worker.log");
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            REDIS,
            "--key-prefix",
            &prefix,
            "--records",
            "off",
            "--otlp-endpoint",
            &endpoint,
        ];
        args.extend_from_slice(gateway_extra);
        let gateway = GatewayProcess::start(&args);
        let mut args = vec![
            "--otlp-endpoint",
            &endpoint,
            "--retry-base-ms",
            "20",
            "--log-format",
            "json",
            "--log-level",
            "info",
        ];
        args.extend_from_slice(worker_extra);
        let worker = routeq_testkit::worker::process(
            REDIS,
            &prefix,
            &sim.base_url(),
            &args,
            Some(&worker_log),
        )
        .with_grace(Duration::from_secs(5));
        let addr = gateway.addr().await;
        Traced {
            store,
            sim,
            gateway: Some(gateway),
            worker: Some(worker),
            addr,
            worker_log,
            _prefix: prefix,
            _dir: dir,
        }
    }

    /// Submits the test's trip with `Prefer: wait` and this `traceparent`; the finished job.
    async fn submit(&self, traceparent: &str) -> Value {
        let res = reqwest::Client::new()
            .post(format!("http://{}/v1/routes", self.addr))
            .header("traceparent", traceparent)
            .header("tracestate", "client=1")
            .header("prefer", "wait=20")
            .json(&json!({"origin": {"lat": 37.4979, "lon": 127.0276}, "destination": {"address": "Seoul Station"}}))
            .send()
            .await
            .expect("submit");
        assert_eq!(
            res.status(),
            reqwest::StatusCode::OK,
            "the job finished within the wait"
        );
        let job: Value = res.json().await.expect("job");
        assert_eq!(job["state"], "succeeded", "{job}");
        job
    }

    /// Stops both processes with SIGTERM (each shuts its tracer down, which exports what is
    /// still buffered) and returns every span received and the gateway's log lines.
    async fn stop(&mut self) -> (Vec<Got>, Vec<String>) {
        let gateway = self.gateway.take().expect("running");
        // The log reader is a thread of its own: give it the line written before the answer.
        let until = Instant::now() + Duration::from_secs(5);
        while !gateway
            .lines()
            .iter()
            .any(|l| l.contains("\"job accepted\""))
            && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let lines = gateway.lines();
        drop(gateway);
        drop(self.worker.take());
        // Both have exited, so both have exported; a moment for the receiver's last request.
        tokio::time::sleep(Duration::from_millis(200)).await;
        (self.store.lock().expect("lock").clone(), lines)
    }
}

#[tokio::test]
async fn one_job_is_one_trace_from_the_client_span_to_the_wake_up() {
    // Seeded failures: with this seed the geocoder fails its first two requests (500) and answers
    // the third, so the job sees two retries (checked below).
    let sim = SimArgs {
        error_rate: 0.4,
        seed: 13,
        ..SimArgs::instant()
    };
    let mut fleet = Traced::start(sim, &[], &[]).await;
    let sim_addr = fleet.sim.local_addr().to_string();
    let job = fleet
        .submit(&format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .await;
    let job_id = job["id"].as_str().expect("id").to_string();
    let calls_served = fleet.sim.control().stats().total;
    let worker_log = fleet.worker_log.clone();
    let (spans, gateway_lines) = fleet.stop().await;
    let services: Vec<&str> = spans.iter().map(|g| g.service.as_str()).collect();
    assert!(
        services.contains(&"routeq-gateway") && services.contains(&"routeq-worker"),
        "spans from both services: {services:?}"
    );

    // One trace: the client's.
    for g in &spans {
        assert_eq!(
            hex(&g.span.trace_id),
            CLIENT_TRACE,
            "a span outside the client's trace: {} ({})",
            g.name(),
            g.service
        );
    }
    let one = |name: &str, service: &str| -> Got {
        let found: Vec<&Got> = spans
            .iter()
            .filter(|g| g.name() == name && g.service == service)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {name} span from {service}, got {}: {:?}",
            found.len(),
            spans.iter().map(|g| g.name()).collect::<Vec<_>>()
        );
        found[0].clone()
    };
    let request = one("POST /v1/routes", "routeq-gateway");
    assert_eq!(
        request.parent(),
        CLIENT_SPAN,
        "the request is under the client's span"
    );
    assert_eq!(request.attr("http.route").as_deref(), Some("/v1/routes"));
    assert_eq!(
        request.attr("http.response.status_code").as_deref(),
        Some("200")
    );
    let submit = one("queue.submit", "routeq-gateway");
    assert_eq!(submit.parent(), request.id());
    // The wake-up by the job's completion (a waiter may also be woken to re-read when the
    // gateway's subscription comes up).
    let wakes: Vec<&Got> = spans.iter().filter(|g| g.name() == "waiter.wake").collect();
    assert!(wakes.iter().all(|w| w.parent() == request.id()));
    let wake = (*wakes
        .iter()
        .find(|w| w.attr("cause").as_deref() == Some("completion"))
        .unwrap_or_else(|| panic!("no wake-up by the completion: {wakes:?}")))
    .clone();
    let wait = one("queue.wait", "routeq-worker");
    assert_eq!(wait.parent(), request.id());
    let job_span = one("job", "routeq-worker");
    assert_eq!(
        job_span.parent(),
        request.id(),
        "the worker continues the gateway's span"
    );
    assert_eq!(job_span.attr("job_id").as_deref(), Some(job_id.as_str()));
    let start = one("job.start", "routeq-worker");
    assert_eq!(start.parent(), job_span.id());
    let complete = one("job.complete", "routeq-worker");
    assert_eq!(complete.parent(), job_span.id());
    assert_eq!(complete.attr("state").as_deref(), Some("succeeded"));

    // Every provider call attempt is a span under the job, one per call the simulator served.
    let attempts: Vec<&Got> = spans
        .iter()
        .filter(|g| g.attr("provider").is_some() && g.attr("attempt").is_some())
        .collect();
    assert_eq!(
        attempts.len() as u64,
        calls_served,
        "one attempt span per provider call: {:?}",
        attempts.iter().map(|g| g.name()).collect::<Vec<_>>()
    );
    for a in &attempts {
        assert_eq!(
            a.parent(),
            job_span.id(),
            "{} is not under the job",
            a.name()
        );
        let events = a.events();
        assert!(
            events.contains(&"rate limit slot"),
            "{}: {events:?}",
            a.name()
        );
        assert!(events.contains(&"breaker"), "{}: {events:?}", a.name());
    }
    let retried: Vec<&&Got> = attempts
        .iter()
        .filter(|a| a.events().contains(&"retry"))
        .collect();
    assert!(
        !retried.is_empty(),
        "the seeded failures gave no retry; attempts: {:?}",
        attempts
            .iter()
            .map(|a| (a.name(), a.attr("attempt"), a.attr("outcome")))
            .collect::<Vec<_>>()
    );
    assert!(
        attempts
            .iter()
            .any(|a| a.attr("attempt").as_deref() == Some("2")),
        "a retry is a second attempt span"
    );

    // In time order: request ⊃ submit; queue wait, then start, then the calls, then completion,
    // then the wake-up, inside the request.
    let begin = |g: &Got| g.span.start_time_unix_nano;
    let end = |g: &Got| g.span.end_time_unix_nano;
    assert!(begin(&request) <= begin(&submit) && end(&submit) <= end(&request));
    assert!(
        end(&wait) <= begin(&start) + 1_000_000,
        "queue wait ends as the start begins"
    );
    assert!(
        attempts
            .iter()
            .all(|a| begin(a) >= end(&start) && end(a) <= begin(&complete))
    );
    // The completion publishes inside its script: the wake-up starts after the completion
    // began (it may end before the worker's span does).
    assert!(
        begin(&wake) >= begin(&complete),
        "woken before the completion"
    );
    assert!(end(&wake) <= end(&request));

    // Redaction (on by default): no address, coordinates or provider address in any value.
    let values: Vec<String> = spans.iter().flat_map(|g| all_values(&g.span)).collect();
    for secret in ["Seoul Station", "37.4979", "127.0276", &sim_addr] {
        let leaks: Vec<&String> = values.iter().filter(|v| v.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret:?} is in the trace: {leaks:?}");
    }
    let dest = job_span.attr("route.destination").unwrap_or_default();
    assert!(
        dest.starts_with("redacted:"),
        "route.destination = {dest:?}"
    );

    // Logs carry the trace id: the worker's line about the finished job, the gateway's requests.
    let carries = |line: &str| {
        let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        v["spans"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["trace_id"] == CLIENT_TRACE))
    };
    let worker_lines = std::fs::read_to_string(&worker_log).expect("worker log");
    let finished: Vec<&str> = worker_lines
        .lines()
        .filter(|l| l.contains("\"job finished\""))
        .collect();
    assert!(
        !finished.is_empty() && finished.iter().all(|l| carries(l)),
        "the worker's `job finished` line carries trace_id: {finished:?}"
    );
    let accepted: Vec<&String> = gateway_lines
        .iter()
        .filter(|l| l.contains("\"job accepted\""))
        .collect();
    assert!(
        !accepted.is_empty() && accepted.iter().all(|l| carries(l)),
        "the gateway's `job accepted` line carries trace_id: {accepted:?}"
    );
}

/// Sampling is parent-based: a client that did not sample its trace gets none from routeq. And
/// redaction is configurable: with `--trace-redact false` the worker's span names the address.
#[tokio::test]
async fn an_unsampled_client_trace_exports_nothing_and_redaction_can_be_turned_off() {
    let mut fleet = Traced::start(SimArgs::instant(), &[], &["--trace-redact", "false"]).await;
    let unsampled = "11111111111111111111111111111111";
    fleet
        .submit(&format!("00-{unsampled}-{CLIENT_SPAN}-00"))
        .await;
    fleet
        .submit(&format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .await;
    let (spans, _) = fleet.stop().await;
    assert!(!spans.is_empty(), "the sampled job's spans arrive");
    assert!(
        spans.iter().all(|g| hex(&g.span.trace_id) == CLIENT_TRACE),
        "only the sampled client's trace is exported: {:?}",
        spans
            .iter()
            .map(|g| (g.name(), hex(&g.span.trace_id)))
            .collect::<Vec<_>>()
    );
    let job = spans
        .iter()
        .find(|g| g.name() == "job")
        .expect("the sampled job's span");
    assert_eq!(
        job.attr("route.destination").as_deref(),
        Some("Seoul Station")
    );
    assert_eq!(
        job.attr("route.origin").as_deref(),
        Some("37.4979,127.0276")
    );
}
