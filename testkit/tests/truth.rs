//! Answers that tell the truth and inputs that cannot hold the fleet (issue 13, second half):
//! each test drives real processes — the gateway, `routeq-worker`, the provider simulator — or
//! real Redis and PostgreSQL, and each failed on the code before its fix.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_sim::{FaultPatch, Provider, SimArgs};
use routeq_testkit::{Fleet, TestGateway, coords, trip};
use serde_json::{Value, json};

fn osrm_requests(fleet: &Fleet) -> u64 {
    fleet
        .sim
        .control()
        .stats()
        .providers
        .get(Provider::Osrm)
        .requests()
}

async fn post_json(gw: &TestGateway, body: &str) -> (StatusCode, Value) {
    let res = gw
        .http
        .post(gw.url("/v1/routes"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------
// Bad input is refused in bounded words.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_listed_up_to_a_cap_and_the_answer_says_it_was_cut() {
    let gw = TestGateway::start(|_| {}).await;
    let mut body = serde_json::Map::new();
    body.insert("origin".into(), coords(37.5, 127.0));
    body.insert("destination".into(), coords(37.55, 126.97));
    for i in 0..1_500 {
        body.insert(format!("k{i}"), json!(1));
    }
    let text = Value::Object(body).to_string();
    assert!(text.len() < 16 * 1024, "{} bytes", text.len());
    let (status, v) = post_json(&gw, &text).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let errors = v["errors"].as_array().expect("errors");
    assert!(
        errors.len() <= 21,
        "{} error entries for one body",
        errors.len()
    );
    let last = errors.last().expect("an entry");
    assert_eq!(last["reason"], "truncated", "{last}");
    assert!(
        last["message"].as_str().unwrap_or("").contains("1480"),
        "{last}"
    );
    let answer = v.to_string().len();
    assert!(answer < 8 * 1024, "a {answer}-byte answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_format_characters_in_an_address_are_refused_with_the_field_named() {
    let gw = TestGateway::start(|_| {}).await;
    for c in [
        '\u{202E}',
        '\u{200B}',
        '\u{200D}',
        '\u{200F}',
        '\u{2066}',
        '\u{2069}',
        '\u{FEFF}',
        '\u{00AD}',
        '\u{E0041}',
    ] {
        let body = json!({
            "origin": coords(37.5, 127.0),
            "destination": {"address": format!("Seoul{c} Station")},
        });
        let (status, v) = post_json(&gw, &body.to_string()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "U+{:04X}: {v}",
            c as u32
        );
        assert_eq!(v["errors"][0]["field"], "destination.address", "{v}");
        assert_eq!(v["errors"][0]["reason"], "invalid_characters", "{v}");
    }
    // Korean, accents and ordinary punctuation stay fine.
    let body = json!({"origin": coords(37.5, 127.0), "destination": {"address": "서울역, Café-1"}});
    let (status, v) = post_json(&gw, &body.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
}

// ---------------------------------------------------------------------------------------------
// The breaker: an open breaker answers at once, and a broken provider opens it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_answers_at_once_without_waiting_for_or_spending_a_rate_limit_slot() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    fleet
        .sim
        .control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
        )
        .expect("down");
    let _w = fleet.worker_process(
        "open-fast",
        &[
            "--router-rps",
            "1",
            "--breaker-failures",
            "1",
            "--breaker-open-ms",
            "60000",
            "--retry-attempts",
            "1",
        ],
    );
    // One failure opens the breaker.
    let id = fleet.submit(&trip(0)).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(osrm_requests(&fleet), 1);

    // At one call a second, four more jobs would wait up to four seconds for their slots.
    let started = Instant::now();
    let ids = fleet
        .submit_all(&(1..5).map(trip).collect::<Vec<_>>())
        .await;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(10)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or("")
                .contains("circuit breaker"),
            "{v}"
        );
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "open-breaker refusals took {took:?}: they waited for rate-limit slots"
    );
    assert_eq!(osrm_requests(&fleet), 1, "no call while open");
    // No slot was reserved for them: the limiter's next free slot is not seconds ahead.
    let mut conn = fleet.redis().await;
    let tat: Option<u64> = redis::AsyncCommands::get(&mut conn, fleet.keys.rate_limit("osrm"))
        .await
        .expect("get");
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut conn)
        .await
        .expect("time");
    let now_us = secs * 1_000_000 + micros;
    let ahead = tat.unwrap_or(0).saturating_sub(now_us);
    assert!(
        ahead < 1_000_000,
        "the limiter is booked {ahead} µs ahead: open-breaker refusals took slots"
    );
}

async fn breaker_opens_on(fleet: &Fleet, worker_flags: &[&str], what: &str) {
    let _w = fleet.worker_process(
        "broken",
        &[
            &[
                "--breaker-failures",
                "2",
                "--breaker-open-ms",
                "60000",
                "--retry-attempts",
                "1",
            ],
            worker_flags,
        ]
        .concat(),
    );
    for i in 0..6 {
        let id = fleet.submit(&trip(i)).await;
        let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
        assert!(status.is_server_error(), "{what}: {v}");
        assert_eq!(v["state"], "fallback", "{what}: {v}");
        if i >= 2 {
            assert!(
                v["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("circuit breaker"),
                "{what}, job {i}: {v}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_malformed_200s_opens_the_breaker() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    fleet
        .sim
        .control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                malformed_rate: Some(1.0),
                ..FaultPatch::default()
            },
        )
        .expect("malformed");
    breaker_opens_on(&fleet, &[], "malformed 200").await;
    let osrm = *fleet.sim.control().stats().providers.get(Provider::Osrm);
    assert_eq!(
        osrm.malformed, 2,
        "calls went on to a broken provider: {osrm:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_refusing_our_key_opens_the_breaker() {
    let fleet = Fleet::start(SimArgs {
        kakao_key: Some("the-right-key".into()),
        ..SimArgs::instant()
    })
    .await;
    breaker_opens_on(
        &fleet,
        &[
            "--provider",
            "simulator-kakao",
            "--kakao-api-key",
            "a-revoked-key",
        ],
        "401",
    )
    .await;
    let kakao = *fleet
        .sim
        .control()
        .stats()
        .providers
        .get(Provider::KakaoDirections);
    assert_eq!(
        kakao.unauthorized, 2,
        "calls went on with a refused key: {kakao:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A provider's Retry-After is bounded.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_day_retry_after_holds_the_fleet_only_as_long_as_the_cap() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let control = fleet.sim.control();
    control
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                rate_429: Some(1.0),
                retry_after_s: Some(86_400),
                ..FaultPatch::default()
            },
        )
        .expect("429");
    let _w = fleet.worker_process(
        "capped",
        &[
            "--router-rps",
            "1000",
            "--retry-attempts",
            "1",
            "--breaker-failures",
            "100",
            "--retry-after-max-ms",
            "1000",
        ],
    );
    let id = fleet.submit(&trip(0)).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    control
        .set_faults(Provider::Osrm, FaultPatch::healthy())
        .expect("healthy");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let id = fleet.submit(&trip(1)).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still held by a day-long Retry-After: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_neither_panics_nor_outlives_the_deadline() {
    for rps in ["0", "1000"] {
        let fleet = Fleet::start(SimArgs::instant()).await;
        let control = fleet.sim.control();
        control
            .set_faults(
                Provider::Osrm,
                FaultPatch {
                    rate_429: Some(1.0),
                    retry_after_s: Some(u64::MAX / 2),
                    ..FaultPatch::default()
                },
            )
            .expect("429");
        let mut w = fleet.worker_process(
            "absurd",
            &[
                "--router-rps",
                rps,
                "--retry-attempts",
                "3",
                "--breaker-failures",
                "100",
            ],
        );
        for i in 0..3 {
            let id = fleet
                .submit(&json!({"origin": coords(37.50 + f64::from(i) * 0.001, 127.03), "destination": coords(37.55, 126.97), "deadline_ms": 2_000}))
                .await;
            let (status, v) = fleet.finished(&id, Duration::from_secs(4)).await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "--router-rps {rps}, job {i}: {v}"
            );
        }
        assert!(w.is_running(), "the worker died");
    }
}

// ---------------------------------------------------------------------------------------------
// A "not found" is not remembered for a month.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_found_geocode_is_cached_briefly_and_a_found_one_for_long() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w = fleet.worker_process("negative", &[]);
    let id = fleet
        .submit(&json!({"origin": {"address": "Nowhere Street 4711, Atlantis"}, "destination": coords(37.5, 127.0)}))
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(v["code"], "ADDRESS_NOT_FOUND", "{status} {v}");
    let id = fleet
        .submit(
            &json!({"origin": {"address": "Seoul Station"}, "destination": coords(37.5, 127.0)}),
        )
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let mut conn = fleet.redis().await;
    let pattern = format!("{}:cache:geo:*", fleet.prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut ttls = Vec::new();
    for k in &keys {
        let value: String = redis::AsyncCommands::get(&mut conn, k).await.expect("get");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .expect("pttl");
        ttls.push((value.contains("not_found"), ttl));
    }
    for (negative, ttl) in ttls {
        if negative {
            assert!(
                (1..=300_000).contains(&ttl),
                "a not-found answer is kept {ttl} ms"
            );
        } else {
            assert!(ttl > 86_400_000, "a found address is kept only {ttl} ms");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provider answers are bounded and never redirected.

/// A provider in front of the simulator that answers directions in a `mode` of its own:
/// `redirect` (302 to the simulator's same URL) or `huge` (the simulator's answer padded with
/// 20 MB of spaces: still valid JSON). Everything else is passed through.
async fn misbehaving_router(sim: String, mode: &'static str) -> String {
    use axum::http::{StatusCode as S, Uri, header};
    use axum::response::{IntoResponse, Response};
    let handler = move |uri: Uri, headers: axum::http::HeaderMap| {
        let sim = sim.clone();
        async move {
            let path = uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let url = format!("{sim}{path}");
            if path.starts_with("/route/") && mode == "redirect" {
                return Response::builder()
                    .status(S::FOUND)
                    .header(header::LOCATION, url)
                    .body(axum::body::Body::empty())
                    .expect("response");
            }
            let mut req = reqwest::Client::new().get(&url);
            for name in [header::USER_AGENT, header::AUTHORIZATION] {
                if let Some(v) = headers.get(&name) {
                    req = req.header(name.as_str(), v.as_bytes());
                }
            }
            let res = req.send().await.expect("simulator");
            let status = res.status().as_u16();
            let mut body = res.bytes().await.expect("body").to_vec();
            if path.starts_with("/route/") && mode == "huge" {
                body.extend(std::iter::repeat_n(b' ', 20 * 1024 * 1024));
            }
            (
                S::from_u16(status).expect("status"),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_or_endless_provider_answer_is_refused_not_followed_or_read_whole() {
    for mode in ["redirect", "huge"] {
        let fleet = Fleet::start(SimArgs::instant()).await;
        let url = misbehaving_router(fleet.sim.base_url(), mode).await;
        let _w = routeq_testkit::worker::process(
            &fleet.redis_url,
            &fleet.prefix,
            &url,
            &["--consumer", mode, "--retry-attempts", "1"],
            None,
        );
        let id = fleet.submit(&trip(0)).await;
        let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{mode}: {v}");
        assert_eq!(v["code"], "PROVIDER_ERROR", "{mode}: {v}");
        let detail = v["detail"].as_str().unwrap_or("");
        let expected = if mode == "redirect" {
            "302"
        } else {
            "larger than"
        };
        assert!(detail.contains(expected), "{mode}: {v}");
        assert_eq!(
            fleet.sim.control().stats().providers.get(Provider::Osrm).ok,
            u64::from(mode == "huge"),
            "{mode}: the redirect was followed"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// API key ids cannot collide.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_ids_are_128_bit_and_an_existing_id_is_never_replaced() {
    let gw = TestGateway::start(|_| {}).await;
    let keys = gw.api_keys();
    let mut ids = std::collections::HashSet::new();
    let mut first = None;
    for i in 0..50 {
        let (id, key) = keys.create("tenant-ids", 0, 0).await.expect("create");
        assert!(
            id.len() >= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "id {id:?}: {} bits",
            id.len() * 4
        );
        assert!(ids.insert(id.clone()));
        if i == 0 {
            first = Some((id, key));
        }
    }
    let (id, key) = first.expect("a key");
    // A create that drew an id already taken is refused: the index entry stays the first key's.
    let taken = keys
        .create_with_id(&id, "intruder", 0, 0)
        .await
        .expect("redis");
    assert_eq!(taken, None, "an existing id was replaced");
    let tenant = keys
        .lookup(&key)
        .await
        .expect("lookup")
        .expect("still valid");
    assert_eq!(tenant.id, "tenant-ids");
    assert!(keys.revoke(&id).await.expect("revoke"));
    assert!(
        keys.lookup(&key).await.expect("lookup").is_none(),
        "revoked"
    );
    let listed = keys.list().await.expect("list");
    assert_eq!(listed.len(), 49, "{listed:?}");
    assert!(listed.iter().all(|k| k.tenant == "tenant-ids"));
}

// ---------------------------------------------------------------------------------------------
// One bad record does not hold the recorder.

fn record(state: &str, request: &str, outcome: &str) -> routeq_shared::redis::record::RecordEvent {
    routeq_shared::redis::record::RecordEvent {
        finished: true,
        id: uuid::Uuid::now_v7(),
        tenant: "default".into(),
        request_id: "r-nul".into(),
        idempotency_key: String::new(),
        request: request.into(),
        state: state.into(),
        code: "ROUTE_OK".into(),
        outcome: outcome.into(),
        provider: String::new(),
        attempts: 1,
        worker: "w1".into(),
        submitted_ms: 1_700_000_000_000,
        deadline_ms: 1_700_000_030_000,
        started_ms: 1_700_000_000_100,
        finished_ms: 1_700_000_000_300,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_provider_string_is_sanitised_and_an_unwritable_record_is_parked_not_retried_forever()
 {
    let db = routeq_testkit::TestDb::create().await;
    let pool = db.pool().await;
    routeq_shared::db::migrate(&pool).await.expect("migrate");
    let prefix = routeq_testkit::Prefix::new("nul");
    let keys = routeq_shared::redis::Keys::new(&prefix).expect("keys");
    let request = r#"{"origin":{"lat":1.0,"lon":2.0},"destination":{"lat":1.5,"lon":2.5},"waypoints":[],"profile":"car","deadline_ms":30000}"#;
    let good = r#"{"detail":"","result":{"provider":"simulator"}}"#;
    let nul = "{\"detail\":\"a\\u0000b\",\"result\":{\"provider\":\"sim\\u0000ulator\"}}";
    let events = [
        record("succeeded", request, good),
        record("succeeded", request, nul),
        record("succeeded", request, good),
        record("succeeded", "{not json", good),
        record("succeeded", request, good),
    ];
    let mut conn = routeq_testkit::redis::connect(routeq_testkit::REDIS).await;
    for e in &events {
        let _: String =
            redis::AsyncCommands::xadd(&mut conn, keys.records_stream(), "*", &e.encode())
                .await
                .expect("xadd");
    }
    let _recorder = routeq_testkit::Proc::spawn(
        std::process::Command::new(routeq_testkit::proc::bin("routeq-recorder"))
            .args([
                "--database-url",
                &db.url(),
                "--log-level",
                "warn",
                "run",
                "--redis-url",
                routeq_testkit::REDIS,
                "--key-prefix",
                &prefix,
            ])
            .stderr(std::process::Stdio::inherit()),
    );
    let until = Instant::now() + Duration::from_secs(10);
    let mut count = 0;
    let mut backlog = u64::MAX;
    while Instant::now() < until {
        (count,) = sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM jobs")
            .fetch_one(&pool)
            .await
            .expect("count");
        backlog = redis::AsyncCommands::xlen(&mut conn, keys.records_stream())
            .await
            .expect("xlen");
        if count == 4 && backlog == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (count, backlog),
        (4, 0),
        "rows written and records left after 10 s: one bad record held the batch"
    );
    let (provider, detail): (String, String) =
        sqlx::query_as("SELECT provider, outcome->>'detail' FROM jobs WHERE id = $1")
            .bind(events[1].id)
            .fetch_one(&pool)
            .await
            .expect("the NUL record, sanitised");
    assert_eq!(
        (provider.as_str(), detail.as_str()),
        ("sim\u{FFFD}ulator", "a\u{FFFD}b")
    );
    let parked: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, keys.records_parked())
            .await
            .expect("xrange");
    assert_eq!(parked.ids.len(), 1, "the unwritable record is parked");
    let parked_id: String = parked.ids[0]
        .get(routeq_shared::redis::record::f::ID)
        .expect("id");
    assert_eq!(parked_id, events[3].id.to_string());
}

// ---------------------------------------------------------------------------------------------
// Slow or idle clients cannot hold the gateway's sockets.

async fn gateway_process(
    extra: &[&str],
) -> (
    routeq_testkit::gateway::GatewayProcess,
    String,
    routeq_testkit::Prefix,
) {
    let prefix = routeq_testkit::Prefix::new("conn");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        routeq_testkit::REDIS,
        "--key-prefix",
        &prefix,
        "--records",
        "off",
    ];
    args.extend_from_slice(extra);
    let gw = routeq_testkit::gateway::GatewayProcess::start(&args);
    let addr = gw.addr().await;
    (gw, addr, prefix)
}

/// Whether the server closed `socket` within `within` (EOF or reset while we read).
async fn closed_within(socket: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // e.g. a 408 answer before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_and_an_idle_socket_are_closed_by_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let (_gw, addr, _p) = gateway_process(&[]).await;
    let started = Instant::now();
    let mut idle = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // One more header line a second, never the blank line that ends the headers.
    let dribble = tokio::spawn(async move {
        for i in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if slow
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        slow
    });
    assert!(
        closed_within(&mut idle, Duration::from_secs(14)).await,
        "a silent socket is still open after {:?}",
        started.elapsed()
    );
    let mut slow = dribble.await.expect("dribble");
    assert!(
        closed_within(&mut slow, Duration::from_secs(2)).await,
        "a slowloris socket is still open after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(16));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_a_new_connection_waits_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_gw, addr, _p) = gateway_process(&["--max-connections", "2"]).await;
    let a = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let _b = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(800), c.read(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");
    drop(a);
    let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
