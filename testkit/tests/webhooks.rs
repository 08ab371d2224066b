//! Webhooks end to end: endpoints registered through the gateway (SSRF-checked), the outbox
//! written by the script that ends a job, `routeq-notifier` processes delivering to real
//! receivers (routeq-receiver, verifying every signature), killed, slowed and failed on purpose.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use routeq_notify::Secret;
use routeq_receiver::{Mode, Receiver, ReceiverConfig, ReceiverHandle};
use routeq_testkit::notifier;
use routeq_testkit::proc::Proc;
use routeq_testkit::sim::{SimArgs, latency as sim_latency};
use routeq_testkit::{Fleet, trip};
use serde_json::{Value, json};

/// A fleet whose gateway lets endpoints on loopback register (as `--webhook-allow` does in dev).
async fn fleet(sim: SimArgs) -> Fleet {
    Fleet::start_with(sim, |cfg| {
        cfg.webhook_allow = "127.0.0.0/8".into();
        cfg.webhook_hosts = "rebind.test=93.184.216.34".into();
    })
    .await
}

async fn receiver() -> ReceiverHandle {
    Receiver::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ReceiverConfig::new(vec![]),
    )
    .await
    .expect("receiver")
    .spawn()
}

/// Registers `url`; returns (id, secret) and teaches `rx` the secret.
async fn register(fleet: &Fleet, url: &str, rx: Option<&ReceiverHandle>) -> (String, String) {
    let res = fleet
        .http
        .post(fleet.url("/v1/webhooks"))
        .json(&json!({"url": url, "events": ["route.finished"]}))
        .send()
        .await
        .expect("post");
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (id, secret) = (
        v["id"].as_str().expect("id").to_string(),
        v["secret"].as_str().expect("secret").to_string(),
    );
    if let Some(rx) = rx {
        rx.add_secret(Secret::parse(&secret).expect("whsec"));
    }
    (id, secret)
}

async fn refused(fleet: &Fleet, url: &str) -> (StatusCode, Value) {
    let res = fleet
        .http
        .post(fleet.url("/v1/webhooks"))
        .json(&json!({"url": url}))
        .send()
        .await
        .expect("post");
    let status = res.status();
    (status, res.json().await.expect("json"))
}

/// Waits until `rx` accepted the event of every job in `ids` (or `within` passes).
async fn accepted_all(
    rx: &ReceiverHandle,
    ids: &[String],
    within: Duration,
) -> routeq_receiver::Stats {
    let until = Instant::now() + within;
    loop {
        let s = rx.stats();
        let seen = s.ids.as_ref().expect("ids");
        let all = ids.iter().all(|id| seen.contains_key(&format!("msg_{id}")));
        if all || Instant::now() >= until {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `rx` accepted `n` distinct events (or `within` passes); returns the stats.
async fn accepted(rx: &ReceiverHandle, n: u64, within: Duration) -> routeq_receiver::Stats {
    let until = Instant::now() + within;
    loop {
        let s = rx.stats();
        if s.unique >= n || Instant::now() >= until {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits like a client: a 503 (admission control, a submit not confirmed) is retried with
/// the same Idempotency-Key, so a retry never makes a second job; returns the job id.
async fn submit(fleet: &Fleet, body: &Value) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    for _ in 0..50 {
        let res = fleet
            .http
            .post(fleet.url("/v1/routes"))
            .header("idempotency-key", &key)
            .json(body)
            .send()
            .await
            .expect("post");
        let status = res.status();
        // A retry whose first attempt did create the job answers with that job (finished
        // already, perhaps): the same id.
        let replayed = res.headers().contains_key("idempotent-replayed");
        let v: Value = res.json().await.expect("json");
        if status == StatusCode::ACCEPTED || replayed {
            return v["id"].as_str().expect("id").to_string();
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        eprintln!("submit answered 503 {}; retrying", v["code"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("submissions refused for 10 s");
}

fn notifier_proc(fleet: &Fleet, extra: &[&str]) -> Proc {
    notifier::process(&fleet.redis_url, &fleet.prefix, extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_registered_listed_rotated_and_deleted_per_tenant() {
    let fleet = fleet(SimArgs::instant()).await;
    let (id, secret) = register(&fleet, "http://127.0.0.1:9/hook", None).await;
    assert!(id.starts_with("ep_"), "{id}");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let list: Value = fleet
        .http
        .get(fleet.url("/v1/webhooks"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let hooks = list["webhooks"].as_array().expect("list");
    assert_eq!(hooks.len(), 1, "{list}");
    assert_eq!(hooks[0]["id"], id.as_str());
    assert_eq!(hooks[0]["events"], json!(["route.finished"]));
    assert!(
        !list.to_string().contains("whsec_"),
        "a list never shows a secret: {list}"
    );

    let rotated: Value = fleet
        .http
        .post(fleet.url(&format!("/v1/webhooks/{id}/rotate")))
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated["previous_secret_until_ms"].as_u64().expect("until") > 0);

    // A job may choose no endpoint, or one of its own; an unknown id is the field at fault.
    let res = fleet
        .http
        .post(fleet.url("/v1/routes"))
        .json(&json!({"origin": trip(1)["origin"], "destination": trip(1)["destination"], "webhooks": ["ep_nope"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["errors"][0]["field"], "webhooks[0]", "{v}");
    assert_eq!(v["errors"][0]["reason"], "unknown_webhook", "{v}");

    let del = fleet
        .http
        .delete(fleet.url(&format!("/v1/webhooks/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let again = fleet
        .http
        .delete(fleet.url(&format!("/v1/webhooks/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let v: Value = again.json().await.expect("json");
    assert_eq!(v["code"], "WEBHOOK_NOT_FOUND");
    // A deleted endpoint can be neither rotated nor enabled (and neither brings it back).
    for action in ["rotate", "enable"] {
        let res = fleet
            .http
            .post(fleet.url(&format!("/v1/webhooks/{id}/{action}")))
            .send()
            .await
            .expect(action);
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let gone = fleet
        .http
        .get(fleet.url(&format!("/v1/webhooks/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_every_non_public_address_class() {
    // No allowlist here: loopback is refused too.
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.webhook_hosts = "inside.test=10.1.2.3,mixed.test=93.184.216.34;192.168.1.1".into();
    })
    .await;
    for (url, reason) in [
        ("ftp://example.com/h", "url_scheme"),
        ("http://user:pw@example.com/h", "url_credentials"),
        ("http://127.0.0.1:8080/h", "url_refused_address"),
        ("http://[::1]/h", "url_refused_address"),
        ("http://10.0.0.1/h", "url_refused_address"),
        ("http://172.16.5.4/h", "url_refused_address"),
        ("http://192.168.0.10/h", "url_refused_address"),
        ("http://169.254.1.1/h", "url_refused_address"),
        ("http://100.64.0.1/h", "url_refused_address"),
        ("http://224.0.0.1/h", "url_refused_address"),
        (
            "http://169.254.169.254/latest/meta-data",
            "url_refused_address",
        ),
        ("http://metadata.google.internal/", "url_blocked_host"),
        ("http://0x7f.1/h", "url_refused_address"),
        // Names resolving to a private address (through the injectable resolver).
        ("http://inside.test/h", "url_refused_address"),
        ("http://mixed.test/h", "url_refused_address"),
    ] {
        let (status, v) = refused(&fleet, url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {v}");
        assert_eq!(v["code"], "INVALID_FIELD", "{url}: {v}");
        assert_eq!(v["errors"][0]["field"], "url", "{url}: {v}");
        assert_eq!(v["errors"][0]["reason"], reason, "{url}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finished_job_is_delivered_signed_once_with_the_job_as_its_body() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    let (ep, _) = register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    let _n = notifier_proc(&fleet, &[]);

    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    // Opting out: this job's end is told to nobody.
    let res = fleet
        .http
        .post(fleet.url("/v1/routes"))
        .json(&json!({"origin": trip(99)["origin"], "destination": trip(99)["destination"], "webhooks": []}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let silent: Value = res.json().await.expect("json");
    let silent = silent["id"].as_str().expect("id").to_string();
    // Choosing the endpoint by id.
    let res = fleet
        .http
        .post(fleet.url("/v1/routes"))
        .json(&json!({"origin": trip(98)["origin"], "destination": trip(98)["destination"], "webhooks": [ep]}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let chosen: Value = res.json().await.expect("json");
    ids.push(chosen["id"].as_str().expect("id").to_string());

    let stats = accepted(&rx, ids.len() as u64, Duration::from_secs(20)).await;
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    assert_eq!(stats.bad_signature, 0, "{stats:?}");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.not_json, 0, "{stats:?}");
    let seen = stats.ids.expect("ids");
    for id in &ids {
        assert!(
            seen.contains_key(&format!("msg_{id}")),
            "{id} not delivered"
        );
    }
    assert!(!seen.contains_key(&format!("msg_{silent}")));
    let (status, _) = fleet.finished(&silent, Duration::from_secs(5)).await;
    assert_eq!(status, StatusCode::OK);
}

/// Steady load while a random worker or notifier is SIGKILLed every few seconds: every event
/// arrives, verifies, and every duplicate carries the id of the first delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_of_workers_and_notifiers_lose_no_event_and_duplicates_share_their_id() {
    const LOAD: Duration = Duration::from_secs(20);
    let fleet = fleet(sim_latency(20, 60)).await;
    let rx = receiver().await;
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    let worker_flags = [
        "--concurrency",
        "16",
        "--reclaim-idle-ms",
        "2500",
        "--reclaim-interval-ms",
        "250",
        "--block-ms",
        "200",
        "--max-attempts",
        "20",
    ];
    let notifier_flags = [
        "--reclaim-idle-ms",
        "2000",
        "--lease-ms",
        "3000",
        "--timeout-ms",
        "2000",
    ];
    let mut spawned = 0;
    let mut workers: Vec<Proc> = (0..2)
        .map(|_| {
            spawned += 1;
            fleet.worker_process(&format!("wk-{spawned}"), &worker_flags)
        })
        .collect();
    let mut notifiers: Vec<Proc> = (0..2)
        .map(|_| notifier_proc(&fleet, &notifier_flags))
        .collect();

    let started = Instant::now();
    let mut next_kill = started + Duration::from_secs(2);
    let (mut ids, mut kills) = (Vec::new(), (0, 0));
    let mut i = 0u32;
    while started.elapsed() < LOAD {
        ids.push(submit(&fleet, &trip(i)).await);
        i += 1;
        if Instant::now() >= next_kill {
            if rand::rng().random_bool(0.5) {
                let v = rand::rng().random_range(0..workers.len());
                workers.swap_remove(v).kill();
                spawned += 1;
                workers.push(fleet.worker_process(&format!("wk-{spawned}"), &worker_flags));
                kills.0 += 1;
            } else {
                let v = rand::rng().random_range(0..notifiers.len());
                notifiers.swap_remove(v).kill();
                notifiers.push(notifier_proc(&fleet, &notifier_flags));
                kills.1 += 1;
            }
            next_kill =
                Instant::now() + Duration::from_millis(rand::rng().random_range(1_500..3_000));
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(kills.0 + kills.1 >= 6, "{kills:?}");
    let stats = accepted_all(&rx, &ids, Duration::from_secs(40)).await;
    let seen = stats.ids.clone().expect("ids");
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !seen.contains_key(&format!("msg_{id}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events missing: {missing:?}",
        missing.len(),
        ids.len()
    );
    assert_eq!(stats.bad_signature, 0, "{stats:?}");
    // Deduplicated by webhook-id: exactly one per job, and nothing else.
    let expected: HashSet<String> = ids.iter().map(|id| format!("msg_{id}")).collect();
    let got: HashSet<String> = seen.keys().cloned().collect();
    assert_eq!(got, expected);
    for dup in &stats.duplicate_ids {
        assert!(expected.contains(dup), "duplicate with a new id: {dup}");
    }
    eprintln!(
        "webhook chaos: {} jobs, {} worker and {} notifier kills, {} duplicates (same id)",
        ids.len(),
        kills.0,
        kills.1,
        stats.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_duplicates_without_kills() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    let _n1 = notifier_proc(&fleet, &[]);
    let _n2 = notifier_proc(&fleet, &[]);
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    let stats = accepted(&rx, ids.len() as u64, Duration::from_secs(30)).await;
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = rx.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.bad_signature, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_then_recovering_gets_every_event_afterwards() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    rx.set_mode(Mode {
        status: Some(500),
        until_s: Some(4.0),
        ..Mode::default()
    });
    // A short schedule (the default lasts three days): attempts over about 12 s.
    let _n = notifier_proc(
        &fleet,
        &[
            "--schedule",
            "0,1s,1s,2s,2s,3s,3s",
            "--breaker-open-ms",
            "500",
        ],
    );
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    let stats = accepted(&rx, ids.len() as u64, Duration::from_secs(25)).await;
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    assert!(
        stats.failed_by_mode > 0,
        "the receiver never failed: {stats:?}"
    );
    assert_eq!(stats.bad_signature, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_past_the_horizon_ends_in_dead_letters_that_the_cli_replays() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    rx.set_mode(Mode {
        status: Some(503),
        ..Mode::default()
    });
    let _n = notifier_proc(
        &fleet,
        &["--schedule", "0,300ms,300ms", "--breaker-failures", "1000"],
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    let until = Instant::now() + Duration::from_secs(20);
    let mut letters = Vec::new();
    while Instant::now() < until {
        let (ok, out) = notifier::dead_cli(&fleet.redis_url, &fleet.prefix, &["list"]);
        assert!(ok);
        letters = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
            .collect();
        if letters.len() >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(letters.len(), ids.len(), "{letters:?}");
    assert!(
        letters
            .iter()
            .all(|l| l["class"] == "5xx" && l["attempts"] == 3),
        "{letters:?}"
    );
    assert_eq!(rx.stats().unique, 0);

    rx.set_mode(Mode::default());
    let (ok, out) = notifier::dead_cli(&fleet.redis_url, &fleet.prefix, &["replay", "--all"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("replayed {}", ids.len()));
    let stats = accepted(&rx, ids.len() as u64, Duration::from_secs(10)).await;
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    let (_, out) = notifier::dead_cli(&fleet.redis_url, &fleet.prefix, &["list"]);
    assert!(out.trim().is_empty(), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_receiver_slows_only_its_own_endpoint() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let (slow, fast) = (receiver().await, receiver().await);
    slow.set_mode(Mode {
        delay_ms: 10_000,
        ..Mode::default()
    });
    register(&fleet, &slow.url("/hook"), Some(&slow)).await;
    register(&fleet, &fast.url("/hook"), Some(&fast)).await;
    let _n = notifier_proc(&fleet, &["--timeout-ms", "15000"]);
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    let stats = accepted(&fast, ids.len() as u64, Duration::from_secs(8)).await;
    let took = t0.elapsed();
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(
        slow.stats().accepted,
        0,
        "the slow one has not answered yet"
    );
    eprintln!("40 events to the fast endpoint in {took:?} beside a 10 s endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_refuse_a_private_address_after_rebinding_and_do_not_follow_redirects() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    // rebind.test resolved to a public address for the gateway; the notifier's resolver now
    // answers a private one: the delivery is refused (and no connection is attempted).
    register(&fleet, "http://rebind.test/hook", None).await;
    // A receiver that redirects to the metadata address: not followed.
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    rx.set_mode(Mode {
        status: Some(307),
        location: Some("http://169.254.169.254/latest/meta-data".into()),
        ..Mode::default()
    });
    let _n = notifier_proc(
        &fleet,
        &[
            "--webhook-hosts",
            "rebind.test=10.0.0.7",
            "--schedule",
            "0,200ms",
        ],
    );
    let id = fleet.submit(&trip(1)).await;
    let until = Instant::now() + Duration::from_secs(15);
    let mut letters: Vec<Value> = Vec::new();
    while Instant::now() < until && letters.len() < 2 {
        let (_, out) = notifier::dead_cli(&fleet.redis_url, &fleet.prefix, &["list"]);
        letters = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(letters.len(), 2, "{letters:?}");
    let mut classes: Vec<String> = letters
        .iter()
        .map(|l| {
            assert_eq!(l["job_id"], id.as_str());
            l["class"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    classes.sort();
    assert_eq!(classes, ["3xx", "refused"], "{letters:?}");
    let stats = rx.stats();
    assert_eq!(stats.accepted, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_past_the_threshold_is_disabled_and_says_so() {
    let fleet = fleet(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    let (ep, _) = register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    rx.set_mode(Mode {
        status: Some(500),
        ..Mode::default()
    });
    let _n = notifier_proc(
        &fleet,
        &[
            "--schedule",
            "0,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
            "--disable-after-s",
            "1",
            "--breaker-failures",
            "1000",
        ],
    );
    for i in 0..5 {
        submit(&fleet, &trip(i)).await;
    }
    let until = Instant::now() + Duration::from_secs(15);
    let mut view = Value::Null;
    while Instant::now() < until {
        view = fleet
            .http
            .get(fleet.url(&format!("/v1/webhooks/{ep}")))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if view["disabled"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(view["disabled"], true, "{view}");
    assert!(
        view["consecutive_failures"].as_u64().unwrap_or(0) >= 2,
        "{view}"
    );
    // Re-enabled through the API, it gets the replayed dead letters.
    rx.set_mode(Mode::default());
    let res = fleet
        .http
        .post(fleet.url(&format!("/v1/webhooks/{ep}/enable")))
        .send()
        .await
        .expect("enable");
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.expect("json");
    assert_eq!(view["disabled"], false, "{view}");
    assert_eq!(view["consecutive_failures"], 0, "{view}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ok, _) = notifier::dead_cli(&fleet.redis_url, &fleet.prefix, &["replay", "--all"]);
    assert!(ok);
    let stats = accepted(&rx, 5, Duration::from_secs(10)).await;
    assert_eq!(stats.unique, 5, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_has_its_outbox_and_each_is_drained() {
    let prefix = routeq_testkit::Prefix::new("whparts");
    let fleet = Fleet::start_on(
        routeq_testkit::REDIS,
        &prefix.prefix,
        3,
        SimArgs::instant(),
        |cfg| cfg.webhook_allow = "127.0.0.0/8".into(),
    )
    .await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let rx = receiver().await;
    register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    let _n = notifier_proc(&fleet, &["--partitions", "3"]);
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(submit(&fleet, &trip(i)).await);
    }
    let parts: HashSet<u16> = ids.iter().map(|id| fleet.keys.partition_of(id)).collect();
    assert_eq!(
        parts.len(),
        3,
        "the jobs did not spread over the partitions"
    );
    let stats = accepted_all(&rx, &ids, Duration::from_secs(20)).await;
    assert_eq!(stats.unique, ids.len() as u64, "{stats:?}");
    assert_eq!(stats.duplicates + stats.bad_signature, 0, "{stats:?}");
}

/// A job no worker ever reads is ended by the gateway's sweeper (`lua/sweep.lua`, whose last
/// key is the outbox): its event reaches the endpoints it chose, like any other end's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_sweeper_ends_is_delivered_too() {
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.webhook_allow = "127.0.0.0/8".into();
        cfg.sweep_interval_ms = 100;
        cfg.sweep_grace_ms = 500;
    })
    .await;
    let rx = receiver().await;
    let (ep, _) = register(&fleet, &rx.url("/hook"), Some(&rx)).await;
    let _n = notifier_proc(&fleet, &[]);
    // No worker runs: only the sweeper can end these jobs.
    let body = |i: u32, webhooks: Option<Value>| {
        let mut b = trip(i);
        b["deadline_ms"] = json!(1_000);
        if let Some(w) = webhooks {
            b["webhooks"] = w;
        }
        b
    };
    let every = submit(&fleet, &body(1, None)).await;
    let chosen = submit(&fleet, &body(2, Some(json!([ep])))).await;
    let silent = submit(&fleet, &body(3, Some(json!([])))).await;
    let ids = vec![every, chosen];

    let stats = accepted_all(&rx, &ids, Duration::from_secs(15)).await;
    let seen = stats.ids.clone().expect("ids");
    for id in &ids {
        assert!(
            seen.contains_key(&format!("msg_{id}")),
            "{id} was swept but its event never arrived: {stats:?}"
        );
        let (status, v) = fleet.get(id).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
        assert_eq!(v["state"], "expired", "{v}");
        assert!(
            v["detail"].as_str().unwrap_or("").contains("never started"),
            "not ended by the sweeper: {v}"
        );
    }
    assert_eq!(stats.bad_signature, 0, "{stats:?}");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    // `[]` opted out: swept too, told to nobody.
    let (status, _) = fleet.finished(&silent, Duration::from_secs(5)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !rx.stats()
            .ids
            .expect("ids")
            .contains_key(&format!("msg_{silent}"))
    );
}

/// A submit that names no webhooks notifies every endpoint of its tenant, judged as the job is
/// stored — in the submit script itself with one partition, by the store with several: a
/// tenant without endpoints gets no `wh` field (no event), one with an endpoint gets `*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_naming_no_webhooks_notifies_the_tenants_endpoints_if_it_has_any() {
    use routeq_shared::redis::record::f;
    for partitions in [1u16, 3] {
        let prefix = routeq_testkit::Prefix::new("whany");
        let fleet = Fleet::start_on(
            routeq_testkit::REDIS,
            &prefix.prefix,
            partitions,
            SimArgs::instant(),
            |cfg| cfg.webhook_allow = "127.0.0.0/8".into(),
        )
        .await;
        let before = fleet.submit(&trip(1)).await;
        assert_eq!(
            fleet.job_field(&before, f::WEBHOOKS).await,
            None,
            "{partitions} partitions: no endpoint, no webhooks"
        );
        register(&fleet, "http://127.0.0.1:9/hook", None).await;
        for i in 0..4 {
            let after = fleet.submit(&trip(2 + i)).await;
            assert_eq!(
                fleet.job_field(&after, f::WEBHOOKS).await.as_deref(),
                Some("*"),
                "{partitions} partitions: the tenant's endpoints"
            );
        }
        // `[]` still means none.
        let res = fleet
            .http
            .post(fleet.url("/v1/routes"))
            .json(&{
                let mut b = trip(9);
                b["webhooks"] = json!([]);
                b
            })
            .send()
            .await
            .expect("post");
        let v: Value = res.json().await.expect("json");
        let none = v["id"].as_str().expect("id");
        assert_eq!(fleet.job_field(none, f::WEBHOOKS).await, None);
    }
}
