//! What SREs see, checked against a live fleet: the provider simulator and a gateway in this
//! process, a worker as a real process (`routeq-worker`, its own metrics registry), a real
//! Prometheus and a real nginx (Debian packages; `scripts/setup.sh` installs them).
//!
//! - every metric the Grafana dashboard and the alert rules name is in a scrape of the live
//!   fleet after real traffic (successes and failures), with the labels and label values the
//!   queries use, so a renamed metric or label breaks CI rather than a dashboard;
//! - a real Prometheus scrapes the fleet, evaluates the alert rules without errors, runs every
//!   panel query, and answers a query of the backlog with the backlog we made;
//! - a real nginx, configured by `compose/nginx/routeq.conf`, serves a submit/poll round trip
//!   over two gateways;
//! - the worker's JSON log lines about a job carry both `job_id` and `request_id`.
//!
//! The metrics recorder is process-global: the gateway is the only in-process component that
//! records metrics, and the two tests take turns (`SERIAL`), so the gauges scraped are this
//! test's own. Every test uses its own Redis key prefix and deletes its keys at the end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_gateway::GatewayConfig;
use routeq_testkit::http::{submit, submit_wait, text, wait_ok};
use routeq_testkit::proc::{Proc, TempDir, free_port, tool};
use routeq_testkit::sim::{FaultPatch, FaultTarget, SimArgs, SimHandle};
use routeq_testkit::{Prefix, REDIS, TestDb, TestGateway};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
const SETUP_HINT: &str = "scripts/setup.sh installs it (Debian packages prometheus, nginx-light)";

/// The two tests take turns: gauges of two in-process gateways would overwrite each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Metrics that only appear when a rare event happens (a worker presumed dead while still
/// running, a PostgreSQL outage mid-batch). The test does not provoke them; it checks instead
/// that the binaries still define them, so a rename still fails here.
const RARE_EVENT_METRICS: &[&str] = &[
    "routeq_jobs_reclaimed_total",
    "routeq_duplicate_completions_total",
    "routeq_recorder_failures_total",
];
const METRIC_SOURCES: &[&str] = &[
    include_str!("../../shared/src/metrics/http.rs"),
    include_str!("../../shared/src/metrics/queue.rs"),
    include_str!("../../shared/src/metrics/jobs.rs"),
    include_str!("../../shared/src/metrics/providers.rs"),
    include_str!("../../shared/src/metrics/recorder.rs"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// The fleet (the harness is routeq-testkit's)

/// A process stopped with SIGTERM first (nginx's master then stops its workers, which a SIGKILL
/// would orphan), SIGKILL after 3 s.
fn proc_of(child: Child) -> Proc {
    Proc {
        child,
        grace: Duration::from_secs(3),
    }
}

async fn start_sim() -> SimHandle {
    routeq_testkit::sim::start(SimArgs::instant()).await
}

/// A gateway in this process, its API and admin listeners on free ports; sampled every 200 ms;
/// it stops when `shutdown` is cancelled.
async fn start_gateway(prefix: &str, shutdown: &CancellationToken) -> (SocketAddr, SocketAddr) {
    start_gateway_with(prefix, shutdown, |_| {}).await
}

async fn start_gateway_with(
    prefix: &str,
    shutdown: &CancellationToken,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> (SocketAddr, SocketAddr) {
    let gw = TestGateway::start_on(REDIS, prefix, |cfg| {
        cfg.sample_interval_ms = 200;
        cfg.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        tweak(cfg);
    })
    .await;
    let (api, admin) = (gw.addr, gw.admin.expect("admin addr"));
    let token = shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        drop(gw);
    });
    (api, admin)
}

/// A worker process with JSON logs to `log`, metrics on `metrics_port`.
fn start_worker(
    prefix: &str,
    sim: &SimHandle,
    metrics_port: u16,
    log: &Path,
    extra: &[&str],
) -> Proc {
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut args = vec![
        "--metrics-listen",
        &metrics,
        "--log-format",
        "json",
        "--log-level",
        "info",
    ];
    args.extend_from_slice(extra);
    routeq_testkit::worker::process(REDIS, prefix, &sim.base_url(), &args, Some(log))
        .with_grace(Duration::from_secs(3))
}

fn coords(from: (f64, f64), to: (f64, f64)) -> Value {
    json!({"origin": {"lat": from.0, "lon": from.1}, "destination": {"lat": to.0, "lon": to.1}})
}

// ---------------------------------------------------------------------------------------------
// Prometheus exposition text

#[derive(Debug, Default, Clone)]
struct Scrape {
    /// Series name → the label sets seen.
    series: HashMap<String, Vec<BTreeMap<String, String>>>,
    /// Series name → the values of its unlabelled sample (gauges sampled by the gateway).
    values: HashMap<String, f64>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find('{') {
                Some(i) => {
                    let end = line.rfind('}').expect("closing brace");
                    (
                        &line[..i],
                        parse_labels(&line[i + 1..end]),
                        &line[end + 1..],
                    )
                }
                None => {
                    let name = line.split_whitespace().next().unwrap_or_default();
                    (name, BTreeMap::new(), &line[name.len()..])
                }
            };
            if labels.is_empty()
                && let Some(v) = rest
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            {
                s.values.insert(name.to_string(), v);
            }
            s.series.entry(name.to_string()).or_default().push(labels);
        }
        s
    }

    fn merge(&mut self, other: &Scrape) {
        for (k, v) in &other.series {
            self.series
                .entry(k.clone())
                .or_default()
                .extend(v.iter().cloned());
        }
    }

    fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if name.is_empty() || chars.next() != Some('=') || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(e) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(name.trim().to_string(), value);
    }
}

// ---------------------------------------------------------------------------------------------
// What the dashboard and the rules ask for

#[derive(Debug)]
struct Selector {
    metric: String,
    /// (label, operator, value)
    matchers: Vec<(String, String, String)>,
}

/// The queries of the dashboard JSON files: (where, expr).
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = repo().join("grafana/dashboards");
    for entry in std::fs::read_dir(&dir).expect("grafana/dashboards") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let mut panels: Vec<Value> = dash["panels"].as_array().cloned().unwrap_or_default();
        let mut i = 0;
        while i < panels.len() {
            let nested = panels[i]["panels"].as_array().cloned().unwrap_or_default();
            panels.extend(nested);
            i += 1;
        }
        for p in &panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((
                        format!("panel {:?}", p["title"].as_str().unwrap_or("")),
                        expr.to_string(),
                    ));
                }
            }
        }
    }
    assert!(out.len() > 20, "the dashboard has queries");
    out
}

/// The `expr:` entries of a rules file (plain or `|` block scalars), and its `record:` names.
fn rule_queries(path: &Path) -> (Vec<(String, String)>, BTreeSet<String>) {
    let text = std::fs::read_to_string(path).expect("rules file");
    let lines: Vec<&str> = text.lines().collect();
    let (mut exprs, mut records) = (Vec::new(), BTreeSet::new());
    let mut name = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start().trim_start_matches("- ");
        let indent = line.len() - line.trim_start().len();
        if let Some(rest) = trimmed.strip_prefix("record:") {
            name = rest.trim().to_string();
            records.insert(name.clone());
        } else if let Some(rest) = trimmed.strip_prefix("alert:") {
            name = rest.trim().to_string();
        } else if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest.starts_with('|') || rest.starts_with('>') {
                let mut body = Vec::new();
                while i + 1 < lines.len()
                    && (lines[i + 1].trim().is_empty()
                        || lines[i + 1].len() - lines[i + 1].trim_start().len() > indent)
                {
                    i += 1;
                    body.push(lines[i].trim());
                }
                exprs.push((name.clone(), body.join("\n")));
            } else {
                exprs.push((
                    name.clone(),
                    rest.trim_matches(|c| c == '\'' || c == '"').to_string(),
                ));
            }
        }
        i += 1;
    }
    (exprs, records)
}

/// Selectors of metrics named `routeq_*` or `up`, and the labels of by/without/on/ignoring/
/// group_* clauses; label_replace's target labels (made by the query) are returned apart.
fn analyse(expr: &str) -> (Vec<Selector>, BTreeSet<String>, BTreeSet<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let (mut selectors, mut grouping, mut made) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let next = skip_ws(i);
            let followed_by = chars.get(next).copied();
            if matches!(
                ident.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) && followed_by == Some('(')
            {
                let end = chars[next..]
                    .iter()
                    .position(|c| *c == ')')
                    .map(|p| next + p)
                    .unwrap_or(chars.len());
                for l in chars[next + 1..end].iter().collect::<String>().split(',') {
                    let l = l.trim();
                    if !l.is_empty() {
                        grouping.insert(l.to_string());
                    }
                }
                i = end + 1;
            } else if ident == "label_replace" && followed_by == Some('(') {
                // The target label is the string after the first top-level comma.
                let (mut depth, mut commas, mut j) = (0i32, 0, next + 1);
                while j < chars.len() {
                    match chars[j] {
                        '(' | '{' | '[' => depth += 1,
                        ')' | '}' | ']' => {
                            if depth == 0 {
                                break;
                            }
                            depth -= 1
                        }
                        ',' if depth == 0 => commas += 1,
                        '"' if depth == 0 && commas == 1 => {
                            let end = chars[j + 1..]
                                .iter()
                                .position(|c| *c == '"')
                                .map(|p| j + 1 + p)
                                .unwrap_or(chars.len());
                            made.insert(chars[j + 1..end].iter().collect());
                            break;
                        }
                        '"' => {
                            j += 1;
                            while j < chars.len() && chars[j] != '"' {
                                j += 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                i = next + 1;
            } else if (ident.starts_with("routeq_")
                || ident == "up"
                || ident.starts_with("routeq:"))
                && followed_by != Some('(')
            {
                let mut matchers = Vec::new();
                if followed_by == Some('{') {
                    let end = {
                        let mut j = next + 1;
                        while j < chars.len() && chars[j] != '}' {
                            if chars[j] == '"' {
                                j += 1;
                                while j < chars.len() && chars[j] != '"' {
                                    j += if chars[j] == '\\' { 2 } else { 1 };
                                }
                            }
                            j += 1;
                        }
                        j
                    };
                    let body: String = chars[next + 1..end].iter().collect();
                    for m in split_matchers(&body) {
                        let op_at = m.find(['=', '!']).expect("matcher operator");
                        let label = m[..op_at].trim().to_string();
                        let rest = &m[op_at..];
                        let op_len = if rest.starts_with("=~")
                            || rest.starts_with("!~")
                            || rest.starts_with("!=")
                        {
                            2
                        } else {
                            1
                        };
                        let value = rest[op_len..].trim().trim_matches('"').to_string();
                        matchers.push((label, rest[..op_len].to_string(), value));
                    }
                    i = end + 1;
                }
                selectors.push(Selector {
                    metric: ident,
                    matchers,
                });
            }
            continue;
        }
        i += 1;
    }
    (selectors, grouping, made)
}

fn split_matchers(body: &str) -> Vec<String> {
    let (mut out, mut cur, mut in_str) = (Vec::new(), String::new(), false);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_str = !in_str;
                cur.push(c)
            }
            ',' if !in_str => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Checks every query against the scrapes (by job); returns the problems found.
fn check_queries(
    queries: &[(String, String)],
    scrapes: &HashMap<&str, Scrape>,
    records: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut all = Scrape::default();
    for s in scrapes.values() {
        all.merge(s);
    }
    let mut checked = BTreeSet::new();
    for (place, expr) in queries {
        let (selectors, grouping, made) = analyse(expr);
        let mut labels_in_expr: BTreeSet<String> = ["le", "job", "instance"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        labels_in_expr.extend(made.iter().cloned());
        for sel in &selectors {
            if sel.metric.contains(':') {
                // A recording rule carries the labels its own query groups by or makes (that
                // query is checked where it is defined).
                match records.get(&sel.metric) {
                    Some(labels) => labels_in_expr.extend(labels.iter().cloned()),
                    None => problems.push(format!(
                        "{place}: {} is not a recording rule of prometheus/alerts.yml",
                        sel.metric
                    )),
                }
                continue;
            }
            let job = sel
                .matchers
                .iter()
                .find(|(l, op, _)| l == "job" && op == "=")
                .map(|(_, _, v)| v.as_str());
            if let Some(job) = job
                && !scrapes.contains_key(job)
            {
                problems.push(format!("{place}: job {job:?} is not a routeq scrape job"));
                continue;
            }
            if sel.metric == "up" {
                continue; // made by Prometheus itself
            }
            checked.insert(sel.metric.clone());
            let scrape = job.and_then(|j| scrapes.get(j)).unwrap_or(&all);
            let Some(series) = scrape.series.get(&sel.metric) else {
                let base = sel
                    .metric
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                if RARE_EVENT_METRICS
                    .iter()
                    .any(|m| *m == sel.metric || *m == base)
                {
                    if !METRIC_SOURCES
                        .iter()
                        .any(|src| src.contains(&format!("\"{}\"", sel.metric)))
                    {
                        problems.push(format!(
                            "{place}: {} is defined in no metrics module",
                            sel.metric
                        ));
                    }
                } else {
                    problems.push(format!(
                        "{place}: {} is not in the scrape of {}",
                        sel.metric,
                        job.unwrap_or("any job")
                    ));
                }
                continue;
            };
            for l in series.iter().flat_map(|s| s.keys()) {
                labels_in_expr.insert(l.clone());
            }
            for (label, op, value) in &sel.matchers {
                if label == "job" || label == "instance" {
                    continue;
                }
                if !series.iter().any(|s| s.contains_key(label)) {
                    problems.push(format!("{place}: {} has no label {label:?}", sel.metric));
                } else if op == "="
                    && !value.is_empty()
                    && !series.iter().any(|s| s.get(label) == Some(value))
                {
                    problems.push(format!(
                        "{place}: no {} series has {label}={value:?} after the traffic",
                        sel.metric
                    ));
                }
            }
            if let Some(base) = sel.metric.strip_suffix("_bucket") {
                if !series.iter().any(|s| s.contains_key("le")) {
                    problems.push(format!(
                        "{place}: {} has no le label (a summary, not a histogram?)",
                        sel.metric
                    ));
                }
                for part in ["_sum", "_count"] {
                    if !scrape.series.contains_key(&format!("{base}{part}")) {
                        problems.push(format!("{place}: histogram {base} has no {base}{part}"));
                    }
                }
            }
        }
        for g in &grouping {
            if !labels_in_expr.contains(g) {
                problems.push(format!(
                    "{place}: groups by {g:?}, which none of its metrics carries"
                ));
            }
        }
    }
    assert!(checked.len() > 20, "the queries name metrics: {checked:?}");
    problems
}

// ---------------------------------------------------------------------------------------------
// Prometheus

struct Prometheus {
    _proc: Proc,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    async fn start(dir: &TempDir, jobs: &[(&str, SocketAddr)]) -> Prometheus {
        let binary = tool("prometheus");
        let port = free_port();
        let mut cfg = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nrule_files:\n",
        );
        cfg.push_str(&format!(
            "  - {}\n",
            repo().join("prometheus/alerts.yml").display()
        ));
        cfg.push_str("scrape_configs:\n");
        for (job, addr) in jobs {
            cfg.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        std::fs::write(dir.path("prometheus.yml"), cfg).expect("write config");
        let log = std::fs::File::create(dir.path("prometheus.log")).expect("log");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.path("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus ({e}): {SETUP_HINT}"));
        let base = format!("http://127.0.0.1:{port}");
        let prom = Prometheus {
            _proc: proc_of(child),
            base,
            http: reqwest::Client::new(),
        };
        wait_ok(&format!("{}/-/ready", prom.base), Duration::from_secs(20)).await;
        prom
    }

    /// An instant query; panics on an API error (a query that does not parse or evaluate).
    async fn query(&self, q: &str) -> Vec<Value> {
        let res: Value = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", q)])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(res["status"], "success", "query {q:?} failed: {res}");
        res["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn wait_value(&self, q: &str, want: f64, within: Duration) {
        let until = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < until {
            last = self.query(q).await;
            let v = last
                .first()
                .and_then(|r| r["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok());
            if v == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("Prometheus never answered {want} to {q:?}; last answer {last:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_name_what_a_live_fleet_serves_and_prometheus_answers_the_backlog() {
    let _turn = SERIAL.lock().await;
    tool("prometheus");
    let dir = TempDir::new("obs");
    let keys = Prefix::new("obs-scrape");
    let prefix = keys.prefix.clone();
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let sim = start_sim().await;
    let (api, admin) = start_gateway(&prefix, &shutdown).await;
    let base = format!("http://{api}");
    let http = reqwest::Client::new();
    let worker_port = free_port();
    let worker_addr: SocketAddr = format!("127.0.0.1:{worker_port}").parse().expect("addr");

    // Prometheus scrapes the fleet from the start, under the job names of the compose fleet.
    let prom = Prometheus::start(
        &dir,
        &[
            ("routeq-gateway", admin),
            ("routeq-worker", worker_addr),
            ("routeq-sim", sim.local_addr()),
        ],
    )
    .await;

    // Before any worker runs: jobs that will have expired by pickup, and a poison job that has
    // already been delivered --max-attempts times (its delivery count is set as a crashing
    // worker would have left it), so it goes to the dead-letter stream.
    for _ in 0..2 {
        let mut body = coords((37.4979, 127.0276), (37.5547, 126.9707));
        body["deadline_ms"] = json!(500);
        submit(&http, &base, &body).await;
    }
    let poison = submit(&http, &base, &coords((37.51, 127.02), (37.55, 126.97))).await;
    let client = redis::Client::open(REDIS).expect("redis");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}:job:{poison}"))
        .arg(routeq_shared::redis::record::f::ATTEMPTS)
        .arg(2)
        .query_async(&mut conn)
        .await
        .expect("hset");
    // And a stream entry that is not a job at all (dropped as malformed).
    let _: String = redis::cmd("XADD")
        .arg(format!("{prefix}:jobs"))
        .arg("*")
        .arg("junk")
        .arg("1")
        .query_async(&mut conn)
        .await
        .expect("xadd");
    tokio::time::sleep(Duration::from_millis(600)).await;

    let worker_log = dir.path("worker.log");
    let db_url = db.url();
    let mut worker = start_worker(
        &prefix,
        &sim,
        worker_port,
        &worker_log,
        &[
            "--database-url",
            &db_url,
            "--migrate",
            "true",
            "--max-attempts",
            "2",
            "--geocoder-rps",
            "4",
            "--breaker-failures",
            "2",
            "--breaker-open-ms",
            "1000",
            "--retry-attempts",
            "2",
            "--retry-base-ms",
            "10",
            "--retry-max-ms",
            "20",
            "--call-timeout-ms",
            "1000",
            "--job-budget-ms",
            "4000",
            "--reclaim-idle-ms",
            "6000",
            "--block-ms",
            "200",
        ],
    );
    wait_ok(
        &format!("http://{worker_addr}/healthz"),
        Duration::from_secs(10),
    )
    .await;

    // The image health checks: `routeq-worker healthcheck` exits 0 on a live worker.
    let probe = Command::new(routeq_testkit::proc::bin("routeq-worker"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://{worker_addr}/healthz"),
        ])
        .status()
        .expect("healthcheck");
    assert!(
        probe.success(),
        "routeq-worker healthcheck on a live worker: {probe}"
    );
    let probe = Command::new(routeq_testkit::proc::bin("routeq-worker"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthz", free_port()),
        ])
        .stderr(Stdio::null())
        .status()
        .expect("healthcheck");
    assert_eq!(
        probe.code(),
        Some(1),
        "routeq-worker healthcheck with nothing listening"
    );

    // Successes: coordinates and known addresses, twice each (the second geocode is a cache hit).
    for _ in 0..2 {
        for body in [
            coords((37.4979, 127.0276), (37.5547, 126.9707)),
            json!({"origin": {"address": "Gangnam Station"}, "destination": {"address": "Seoul Station"}}),
        ] {
            let job = submit_wait(&http, &base, &body).await;
            assert_eq!(job["code"], "ROUTE_OK", "{job}");
        }
    }
    // Unknown addresses, in a burst over the geocoder's fleet-wide rate limit (4/s): they wait
    // for slots; those whose slot would come after their deadline are refused without a call.
    let burst = (0..8).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = json!({"origin": {"address": format!("Nowhere Street {i}")},
                              "destination": {"lat": 37.55, "lon": 126.97}, "deadline_ms": 1200});
            submit_wait(&http, &base, &body).await
        }
    });
    let codes: Vec<String> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|job| job["code"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(codes.iter().any(|c| c == "ADDRESS_NOT_FOUND"), "{codes:?}");
    assert!(
        codes.iter().all(|c| c != "ROUTE_OK" && c != "JOB_QUEUED"),
        "{codes:?}"
    );

    // Overload, through a second gateway on the same queue: a tenant rate of 2/s and a single
    // wait slot. With slow providers, the second waiting request is answered at once, and a
    // burst of requests is refused with 429. Three identical requests in flight share one call.
    let overload = CancellationToken::new();
    let (busy, _) = start_gateway_with(&prefix, &overload, |cfg| {
        cfg.tenant_rate_per_s = 2;
        cfg.max_waiters = 1;
    })
    .await;
    let busy = format!("http://{busy}");
    sim.control()
        .set_faults(
            FaultTarget::All,
            FaultPatch {
                latency_min_ms: Some(400),
                latency_max_ms: Some(400),
                ..FaultPatch::default()
            },
        )
        .expect("faults");
    let holder = {
        let (http, busy) = (http.clone(), busy.clone());
        tokio::spawn(async move {
            submit_wait(&http, &busy, &coords((37.45, 127.01), (37.56, 126.97))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = submit_wait(&http, &busy, &coords((37.46, 127.01), (37.56, 126.97))).await;
    assert!(
        matches!(refused["code"].as_str(), Some("JOB_QUEUED" | "JOB_RUNNING")),
        "the only wait slot is taken: answered at once, before the job ends: {refused}"
    );
    assert_eq!(holder.await.expect("holder")["code"], "ROUTE_OK");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = http
            .get(format!("{busy}/v1/routes/no-such-job"))
            .send()
            .await
            .expect("get");
        statuses.push(res.status().as_u16());
    }
    assert!(
        statuses.contains(&429),
        "a burst over the tenant's rate is refused: {statuses:?}"
    );
    overload.cancel();
    let same = (0..3).map(|_| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body =
                json!({"origin": {"address": "Busan Station"}, "destination": {"address": "COEX"}});
            submit_wait(&http, &base, &body).await
        }
    });
    for job in futures_util::future::join_all(same).await {
        assert_eq!(job["code"], "ROUTE_OK", "{job}");
    }
    sim.control()
        .set_faults(FaultTarget::All, FaultPatch::healthy())
        .expect("faults");

    // The directions provider fails: retries, then its breaker opens; jobs end with a fallback.
    sim.control()
        .set_faults(
            FaultTarget::Osrm,
            FaultPatch {
                error_rate: Some(1.0),
                ..FaultPatch::default()
            },
        )
        .expect("faults");
    for i in 0..4 {
        let job = submit_wait(
            &http,
            &base,
            &coords((37.40 + i as f64 * 0.01, 127.0), (37.56, 126.97)),
        )
        .await;
        assert!(
            job["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("PROVIDER_")),
            "a failing provider ends the job with a provider code: {job}"
        );
    }
    sim.control()
        .set_faults(FaultTarget::All, FaultPatch::healthy())
        .expect("faults");

    // Everything settles: the queue empties (the poison job parked, the expired ones gone)
    // and the recorder has written rows.
    let gateway_metrics = format!("http://{admin}/metrics");
    let worker_metrics = format!("http://{worker_addr}/metrics");
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let g = Scrape::parse(&text(&gateway_metrics).await);
        let w = text(&worker_metrics).await;
        let empty = g.value("routeq_queue_length") == Some(0.0);
        let parked = g.value("routeq_dead_letters") == Some(1.0);
        if empty && parked && w.contains("routeq_recorder_rows_total") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the fleet did not settle: queue {:?}, dead letters {:?}",
            g.value("routeq_queue_length"),
            g.value("routeq_dead_letters")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every metric the dashboard and the rules name is in the scrapes, with its labels.
    let mut scrapes: HashMap<&str, Scrape> = HashMap::new();
    scrapes.insert(
        "routeq-gateway",
        Scrape::parse(&text(&gateway_metrics).await),
    );
    scrapes.insert("routeq-worker", Scrape::parse(&text(&worker_metrics).await));
    scrapes.insert(
        "routeq-sim",
        Scrape::parse(&text(&format!("{}/metrics", sim.base_url())).await),
    );
    // The webhook notifier's series exist from its start (no webhook traffic here).
    let notifier_addr = format!("127.0.0.1:{}", free_port());
    let _notifier = Proc::spawn(
        Command::new(routeq_testkit::proc::bin("routeq-notifier"))
            .args([
                "--log-level",
                "warn",
                "run",
                "--redis-url",
                REDIS,
                "--key-prefix",
                &prefix,
            ])
            .args(["--listen", &notifier_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    wait_ok(
        &format!("http://{notifier_addr}/healthz"),
        Duration::from_secs(15),
    )
    .await;
    scrapes.insert(
        "routeq-notifier",
        Scrape::parse(&text(&format!("http://{notifier_addr}/metrics")).await),
    );
    let (rules, record_names) = rule_queries(&repo().join("prometheus/alerts.yml"));
    assert!(rules.len() >= 10, "the rules file has its rules: {rules:?}");
    let records: BTreeMap<String, BTreeSet<String>> = rules
        .iter()
        .filter(|(name, _)| record_names.contains(name))
        .map(|(name, expr)| {
            let (_, grouping, made) = analyse(expr);
            (name.clone(), grouping.union(&made).cloned().collect())
        })
        .collect();
    let dashboard = dashboard_queries();
    let mut queries = dashboard.clone();
    queries.extend(rules.iter().map(|(n, e)| (format!("rule {n}"), e.clone())));
    let problems = check_queries(&queries, &scrapes, &records);
    assert!(
        problems.is_empty(),
        "the dashboard and alert rules name metrics or labels the live fleet does not serve:\n  {}",
        problems.join("\n  ")
    );

    // The worker's JSON log lines about a job carry both ids.
    check_worker_logs(&worker_log);

    // Prometheus scraped all three jobs, evaluates every rule without error and runs every
    // panel query.
    for job in ["routeq-gateway", "routeq-worker", "routeq-sim"] {
        prom.wait_value(
            &format!("up{{job=\"{job}\"}}"),
            1.0,
            Duration::from_secs(10),
        )
        .await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let res: Value = prom
            .http
            .get(format!("{}/api/v1/rules", prom.base))
            .send()
            .await
            .expect("rules")
            .json()
            .await
            .expect("json");
        let rules: Vec<&Value> = res["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        assert!(
            rules.len() >= 10,
            "Prometheus loaded prometheus/alerts.yml: {res}"
        );
        let bad: Vec<String> = rules
            .iter()
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
            .collect();
        if bad.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "rules not healthy: {bad:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (_, q) in &dashboard {
        prom.query(q).await;
    }

    // The backlog, through Prometheus: stop the worker, queue five jobs.
    worker.terminate();
    let status = worker.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "a terminated worker drains and exits 0: {status}"
    );
    for _ in 0..5 {
        let mut body = coords((37.4979, 127.0276), (37.5547, 126.9707));
        body["deadline_ms"] = json!(60_000);
        submit(&http, &base, &body).await;
    }
    prom.wait_value(
        "max(routeq_queue_length{job=\"routeq-gateway\"})",
        5.0,
        Duration::from_secs(10),
    )
    .await;
    prom.wait_value(
        "max(routeq_queue_lag{job=\"routeq-gateway\"})",
        5.0,
        Duration::from_secs(10),
    )
    .await;

    shutdown.cancel();
    sim.control().shutdown();
}

/// Every worker log line is JSON; every line that names a job names its request too, wherever
/// tracing put the fields (the event, or the `span` object of the job's span).
fn check_worker_logs(path: &Path) {
    let text = std::fs::read_to_string(path).expect("worker log");
    let (mut about_jobs, mut finished) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let field = |name: &str| -> Option<String> {
            v.get(name)
                .or_else(|| v.get("fields").and_then(|f| f.get(name)))
                .or_else(|| v.get("span").and_then(|s| s.get(name)))
                .and_then(|x| x.as_str().map(str::to_string))
        };
        if let Some(job_id) = field("job_id") {
            about_jobs += 1;
            assert!(
                field("request_id").is_some_and(|r| !r.is_empty()),
                "a worker log line about job {job_id} has no request_id: {line}"
            );
            let message = v
                .get("message")
                .or_else(|| v.get("fields").and_then(|f| f.get("message")));
            if message.and_then(Value::as_str) == Some("job finished") {
                finished += 1;
            }
        }
    }
    assert!(
        about_jobs >= 10 && finished >= 4,
        "the worker logged its jobs ({about_jobs} lines, {finished} finished):\n{text}"
    );
}

/// nginx's main configuration for a test: everything in `dir`, the upstream on the given
/// gateways, and the compose fleet's own server block (`compose/nginx/routeq.conf`) listening
/// on `port`.
fn nginx_conf(dir: &TempDir, port: u16, gateways: &[SocketAddr]) -> PathBuf {
    let routeq = std::fs::read_to_string(repo().join("compose/nginx/routeq.conf"))
        .expect("compose/nginx/routeq.conf");
    assert!(
        routeq.contains("listen 8080;"),
        "routeq.conf listens on 8080 (the port compose publishes)"
    );
    let routeq = routeq
        .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "access_log /dev/stdout",
            &format!("access_log {}", dir.path("access.log").display()),
        );
    std::fs::write(dir.path("routeq.conf"), routeq).expect("write routeq.conf");
    let servers: String = gateways
        .iter()
        .map(|g| format!("        server {g};\n"))
        .collect();
    // As root, nginx's workers would switch to an unprivileged user that cannot use this folder.
    let user = if std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    }) {
        "user root;\n"
    } else {
        ""
    };
    let d = dir.0.display();
    let conf = format!(
        "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n    client_body_temp_path {d}/client_body;\n    proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
         \x20   upstream routeq_gateways {{\n{servers}        keepalive 8;\n    }}\n\
         \x20   include {d}/routeq.conf;\n}}\n"
    );
    let path = dir.path("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_two_gateways_serves_a_submit_poll_round_trip() {
    let _turn = SERIAL.lock().await;
    let nginx = tool("nginx");
    let dir = TempDir::new("nginx");
    let keys = Prefix::new("obs-nginx");
    let prefix = keys.prefix.clone();
    let shutdown = CancellationToken::new();
    let sim = start_sim().await;
    let (a, _) = start_gateway(&prefix, &shutdown).await;
    let (b, _) = start_gateway(&prefix, &shutdown).await;
    let worker_log = dir.path("worker.log");
    let _worker = start_worker(
        &prefix,
        &sim,
        free_port(),
        &worker_log,
        &["--block-ms", "200"],
    );

    let port = free_port();
    let conf = nginx_conf(&dir, port, &[a, b]);
    let test = Command::new(&nginx)
        .args([
            "-t",
            "-q",
            "-e",
            &dir.path("error.log").display().to_string(),
            "-c",
            &conf.display().to_string(),
        ])
        .output()
        .expect("nginx -t");
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let _nginx = proc_of(
        Command::new(&nginx)
            .args([
                "-e",
                &dir.path("error.log").display().to_string(),
                "-c",
                &conf.display().to_string(),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx ({e}): {SETUP_HINT}")),
    );
    let front = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{front}/nginx-healthz"), Duration::from_secs(10)).await;
    let http = reqwest::Client::new();

    // Metrics stay private: Prometheus scrapes gateways directly.
    let res = http
        .get(format!("{front}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Submit through nginx, then poll the Location through nginx until the route is there.
    let mut polled_ids = Vec::new();
    for i in 0..3 {
        let rid = format!(
            "obs-nginx-{i}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let res = http
            .post(format!("{front}/v1/routes"))
            .header("x-request-id", &rid)
            .json(&json!({"origin": {"address": "Gangnam Station"}, "destination": {"lat": 37.5547, "lon": 126.9707}}))
            .send()
            .await
            .expect("submit through nginx");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(
            res.headers()["x-request-id"],
            rid.as_str(),
            "the client's request id reaches the gateway and back"
        );
        let location = res.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let until = Instant::now() + Duration::from_secs(10);
        let job: Value = loop {
            let res = http
                .get(format!("{front}{location}"))
                .send()
                .await
                .expect("poll through nginx");
            if res.status() == StatusCode::OK {
                break res.json().await.expect("job");
            }
            assert_eq!(
                res.status(),
                StatusCode::ACCEPTED,
                "queued or running until it ends"
            );
            assert!(
                Instant::now() < until,
                "the job did not finish behind nginx"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(job["code"], "ROUTE_OK", "{job}");
        assert_eq!(job["request_id"], rid.as_str());
        polled_ids.push(rid);
    }

    // Without a client id, nginx's own ($request_id) is what the gateway stores and echoes.
    let res = http
        .post(format!("{front}/v1/routes"))
        .json(&coords((37.4979, 127.0276), (37.5547, 126.9707)))
        .send()
        .await
        .expect("submit");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let nginx_rid = res.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    assert!(
        nginx_rid.len() == 32 && nginx_rid.bytes().all(|b| b.is_ascii_hexdigit()),
        "nginx's id: {nginx_rid}"
    );

    // The access log is JSON, carries the same request ids, and shows both gateways serving.
    // nginx writes a request's line after its response has left, so the last line can trail the
    // answer by a moment: read until every id is there, or 5 s have passed.
    let wanted: Vec<&String> = polled_ids.iter().chain([&nginx_rid]).collect();
    let read_log = || -> Vec<Value> {
        let log = std::fs::read_to_string(dir.path("access.log")).expect("access log");
        log.lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {l}"))
            })
            .collect()
    };
    let logged = |lines: &[Value]| {
        wanted
            .iter()
            .all(|rid| lines.iter().any(|l| l["request_id"] == rid.as_str()))
    };
    let mut lines = read_log();
    let until = Instant::now() + Duration::from_secs(5);
    while !logged(&lines) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
        lines = read_log();
    }
    for rid in wanted {
        assert!(
            lines.iter().any(|l| l["request_id"] == rid.as_str()),
            "{rid} is in nginx's access log"
        );
    }
    let upstreams: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l["upstream"].as_str())
        .filter(|u| !u.is_empty())
        .collect();
    for g in [a, b] {
        assert!(
            upstreams.contains(g.to_string().as_str()),
            "gateway {g} served through nginx: {upstreams:?}"
        );
    }

    shutdown.cancel();
    sim.control().shutdown();
}

/// A fleet just started, before any job: every metric a dashboard panel or an alert rule names is
/// already in `/metrics` (with its HELP text), so panels show zero rather than "No data" and the
/// first increment is seen by `rate()`. Each process also serves process metrics and
/// `routeq_build_info`; the standalone recorder serves its own metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_fleet_serves_every_metric_the_dashboards_and_rules_name_before_any_job() {
    let _turn = SERIAL.lock().await;
    let keys = Prefix::new("obs-fresh");
    let prefix = keys.prefix.clone();
    let db = TestDb::create().await;
    let db_url = db.url();
    let sim = start_sim().await;
    let (gw_port, worker_port, recorder_port) = (free_port(), free_port(), free_port());
    let (gw_admin, worker_addr, recorder_addr) = (
        format!("127.0.0.1:{gw_port}"),
        format!("127.0.0.1:{worker_port}"),
        format!("127.0.0.1:{recorder_port}"),
    );
    let gateway = routeq_testkit::gateway::GatewayProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        &gw_admin,
        "--redis-url",
        REDIS,
        "--key-prefix",
        &prefix,
        "--records",
        "off",
    ]);
    let _worker = routeq_testkit::worker::process(
        REDIS,
        &prefix,
        &sim.base_url(),
        &[
            "--metrics-listen",
            &worker_addr,
            "--database-url",
            &db_url,
            "--migrate",
            "true",
        ],
        None,
    );
    let _recorder = Proc::spawn(
        Command::new(routeq_testkit::proc::bin("routeq-recorder"))
            .args(["--database-url", &db_url, "--log-level", "warn", "run"])
            .args(["--redis-url", REDIS, "--key-prefix", &prefix])
            .args(["--metrics-listen", &recorder_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let notifier_addr = format!("127.0.0.1:{}", free_port());
    let _notifier = Proc::spawn(
        Command::new(routeq_testkit::proc::bin("routeq-notifier"))
            .args([
                "--log-level",
                "warn",
                "run",
                "--redis-url",
                REDIS,
                "--key-prefix",
                &prefix,
            ])
            .args(["--listen", &notifier_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let api = gateway.addr().await;
    for addr in [&gw_admin, &worker_addr, &notifier_addr] {
        wait_ok(&format!("http://{addr}/healthz"), Duration::from_secs(15)).await;
    }

    let (rules, record_names) = rule_queries(&repo().join("prometheus/alerts.yml"));
    let mut queries = dashboard_queries();
    queries.extend(rules.iter().map(|(n, e)| (format!("rule {n}"), e.clone())));
    let jobs = [
        ("routeq-gateway", format!("http://{gw_admin}/metrics")),
        ("routeq-worker", format!("http://{worker_addr}/metrics")),
        ("routeq-sim", format!("{}/metrics", sim.base_url())),
        ("routeq-notifier", format!("http://{notifier_addr}/metrics")),
    ];
    // The gateway's first queue sample is taken at start-up; allow it a moment.
    let until = Instant::now() + Duration::from_secs(5);
    let missing = loop {
        let mut texts = HashMap::new();
        for (job, url) in &jobs {
            texts.insert(*job, text(url).await);
        }
        let mut missing = BTreeSet::new();
        for (place, expr) in &queries {
            for sel in analyse(expr).0 {
                if sel.metric == "up" || record_names.contains(&sel.metric) {
                    continue;
                }
                let job = sel
                    .matchers
                    .iter()
                    .find(|(l, op, _)| l == "job" && op == "=")
                    .map(|(_, _, v)| v.clone());
                let scraped: Vec<&String> = match &job {
                    Some(j) => texts.get(j.as_str()).into_iter().collect(),
                    None => texts.values().collect(),
                };
                let base = sel
                    .metric
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                let has_series = scraped.iter().any(|t| {
                    Scrape::parse(t).series.contains_key(&sel.metric)
                        && t.contains(&format!("# HELP {base} "))
                });
                if !has_series {
                    missing.insert(format!(
                        "{} ({place}, job {})",
                        sel.metric,
                        job.as_deref().unwrap_or("any")
                    ));
                }
            }
        }
        if missing.is_empty() || Instant::now() > until {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        missing.is_empty(),
        "{} metrics named by a panel or rule are not served by a fresh fleet:\n  {}",
        missing.len(),
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );

    // Process metrics and build info everywhere, and the standalone recorder's own metrics.
    wait_ok(
        &format!("http://{recorder_addr}/healthz"),
        Duration::from_secs(15),
    )
    .await;
    for url in [
        format!("http://{gw_admin}/metrics"),
        format!("http://{worker_addr}/metrics"),
        format!("http://{recorder_addr}/metrics"),
        format!("http://{notifier_addr}/metrics"),
    ] {
        let t = text(&url).await;
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "routeq_build_info",
        ] {
            assert!(
                t.contains(&format!("# HELP {name} "))
                    && Scrape::parse(&t).series.contains_key(name),
                "{url} has no {name}:\n{t}"
            );
        }
    }
    let recorder = Scrape::parse(&text(&format!("http://{recorder_addr}/metrics")).await);
    for name in [
        "routeq_recorder_rows_total",
        "routeq_recorder_failures_total",
        "routeq_recorder_batch_seconds_bucket",
    ] {
        assert!(
            recorder.series.contains_key(name),
            "the recorder serves no {name}"
        );
    }

    // And no job was run to get there.
    let res = reqwest::get(format!(
        "http://{api}/v1/routes/00000000-0000-0000-0000-000000000000"
    ))
    .await
    .expect("get");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let g = Scrape::parse(&text(&format!("http://{gw_admin}/metrics")).await);
    assert_eq!(g.value("routeq_queue_length"), Some(0.0));
    sim.control().shutdown();
}
