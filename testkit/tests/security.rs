//! Who may do what, and the limits against abuse: API keys and tenants, rate and queue caps,
//! slow bodies, oversized headers, admission control, the admin listener. Real Redis, real HTTP.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_gateway::auth::AuthMode;
use routeq_testkit::{REDIS, TestGateway};
use serde_json::{Value, json};

/// A submit with an optional bearer key.
async fn post(gw: &TestGateway, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = gw.http.post(gw.url("/v1/routes")).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.expect("post")
}

fn body() -> Value {
    json!({"origin": {"lat": 37.5, "lon": 127.0}, "destination": {"lat": 37.55, "lon": 126.97}})
}

async fn read(res: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.text().await.expect("text"))
}

#[tokio::test]
async fn another_tenants_job_is_indistinguishable_from_an_unknown_one() {
    let gw = TestGateway::start(|c| c.auth = AuthMode::Keys).await;
    let keys = gw.api_keys();
    let (_, key_a) = keys.create("tenant-a", 0, 0).await.expect("key a");
    let (_, key_b) = keys.create("tenant-b", 0, 0).await.expect("key b");
    let (status, _, text) = read(post(&gw, Some(&key_a), &body()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = serde_json::from_str::<Value>(&text).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let unknown = "01a21000-0000-7000-8000-000000000000";
    // The owner sees it.
    let res = gw
        .http
        .get(gw.url(&format!("/v1/routes/{id}")))
        .bearer_auth(&key_a)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Tenant B: GET, wait and DELETE answer exactly as for an unknown id (same request id, same body).
    for (path, method) in [("", "GET"), ("?wait=1", "GET"), ("", "DELETE")] {
        let mut answers = Vec::new();
        for target in [&id, &unknown.to_string()] {
            let url = gw.url(&format!("/v1/routes/{target}{path}"));
            let req = if method == "GET" {
                gw.http.get(url)
            } else {
                gw.http.delete(url)
            };
            let res = req
                .bearer_auth(&key_b)
                .header("x-request-id", "same-rid")
                .send()
                .await
                .expect("req");
            answers.push(read(res).await);
        }
        assert_eq!(answers[0].0, StatusCode::NOT_FOUND, "{method}{path}");
        assert_eq!(answers[0].0, answers[1].0);
        assert_eq!(answers[0].2, answers[1].2, "{method}{path}: bodies differ");
    }
    // B's DELETE did not cancel A's job.
    let res = gw
        .http
        .get(gw.url(&format!("/v1/routes/{id}")))
        .bearer_auth(&key_a)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Idempotency keys are scoped by tenant: the same key makes one job per tenant.
    let mut ids = Vec::new();
    for key in [&key_a, &key_b, &key_a] {
        let res = gw
            .http
            .post(gw.url("/v1/routes"))
            .bearer_auth(key)
            .header("idempotency-key", "k-1")
            .json(&body())
            .send()
            .await
            .expect("post");
        let v: Value = res.json().await.expect("json");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
}

#[tokio::test]
async fn missing_unknown_and_revoked_keys_are_refused_at_once() {
    let gw = TestGateway::start(|c| c.auth = AuthMode::Keys).await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
    ] {
        let mut req = gw.http.post(gw.url("/v1/routes")).json(&body());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, headers, text) = read(req.send().await.expect("post")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"routeq\"");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("json")["code"],
            "UNAUTHORIZED"
        );
    }
    let keys = gw.api_keys();
    let (id, key) = keys.create("tenant-r", 0, 0).await.expect("key");
    assert_eq!(
        post(&gw, Some(&key), &body()).await.status(),
        StatusCode::ACCEPTED
    );
    let listed = keys.list().await.expect("list");
    assert!(listed.iter().any(|k| k.id == id && k.tenant == "tenant-r"));
    assert!(
        !format!("{listed:?}").contains(&key),
        "listing never shows the key"
    );
    assert!(keys.revoke(&id).await.expect("revoke"));
    assert_eq!(
        post(&gw, Some(&key), &body()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The key is stored only as a hash.
    let mut conn = redis::Client::open(REDIS)
        .expect("c")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let dump: Vec<String> = redis::cmd("KEYS")
        .arg(format!(
            "{}*",
            gw.prefix.replace('{', "\\{").replace('}', "\\}")
        ))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(dump.iter().all(|k| !k.contains(&key)));
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after() {
    let gw = TestGateway::start(|c| c.auth = AuthMode::Keys).await;
    let (_, key) = gw.api_keys().create("tenant-rl", 3, 0).await.expect("key");
    let mut limited = 0;
    for _ in 0..10 {
        let (status, headers, text) = read(post(&gw, Some(&key), &body()).await).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert_eq!(headers["retry-after"], "1");
            assert_eq!(
                serde_json::from_str::<Value>(&text).expect("json")["code"],
                "RATE_LIMITED"
            );
        }
    }
    // At most 3 per second pass; ten requests span at most two windows.
    assert!(limited >= 4, "only {limited} of 10 limited");
}

#[tokio::test]
async fn a_one_byte_per_second_body_is_cut_off_at_the_deadline() {
    let gw = TestGateway::start(|c| c.body_deadline_ms = 1_000).await;
    let addr = gw.addr;
    let started = Instant::now();
    let response = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let head = "POST /v1/routes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n";
        s.write_all(head.as_bytes()).expect("head");
        let mut out = String::new();
        for _ in 0..20 {
            if s.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            // Stop trickling once the server has answered.
            s.set_nonblocking(true).ok();
            let mut buf = [0u8; 4096];
            if let Ok(n) = s.read(&mut buf)
                && n > 0
            {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                break;
            }
            s.set_nonblocking(false).ok();
        }
        out
    })
    .await
    .expect("join");
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("REQUEST_TIMEOUT"), "{response}");
    assert!(took < Duration::from_secs(4), "cut off after {took:?}");
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let gw = TestGateway::start(|c| c.max_header_bytes = 2_048).await;
    let res = gw
        .http
        .post(gw.url("/v1/routes"))
        .header("x-padding", "p".repeat(4_000))
        .json(&body())
        .send()
        .await
        .expect("post");
    let (status, _, text) = read(res).await;
    assert_eq!(status.as_u16(), 431);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["code"],
        "HEADERS_TOO_LARGE"
    );
}

#[tokio::test]
async fn admission_control_refuses_work_that_cannot_start_before_its_deadline() {
    // No workers run and none ever did: the configured capacity (one job in 10 s) is the rate
    // to judge by, and a backlog of 5 predicts a wait past the 30 s deadline. (With no capacity
    // configured and no rate measured, nothing is refused: testkit/tests/answers.rs.)
    let gw = TestGateway::start(|c| {
        c.admission_min_backlog = 5;
        c.sample_interval_ms = 100;
        c.admission_capacity_per_s = 0.1;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            post(&gw, None, &body()).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, headers, text) = read(post(&gw, None, &body()).await).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(headers.contains_key("retry-after"));
            let v: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(v["code"], "QUEUE_SATURATED");
            assert!(
                v["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("deadline"),
                "{v}"
            );
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(Instant::now() < until, "admission control never refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn operational_endpoints_live_only_on_the_admin_listener_when_it_is_set() {
    let gw =
        TestGateway::start(|c| c.admin_listen = Some("127.0.0.1:0".parse().expect("addr"))).await;
    let admin = gw.admin.expect("admin listener");
    for path in ["/metrics", "/readyz", "/healthz"] {
        let res = gw.http.get(gw.url(path)).send().await.expect("public");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "public {path}");
        let res = gw
            .http
            .get(format!("http://{admin}{path}"))
            .send()
            .await
            .expect("admin");
        assert!(res.status().is_success(), "admin {path}: {}", res.status());
    }
    // The API is still on the public listener.
    assert_eq!(
        post(&gw, None, &body()).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn waiters_beyond_the_bound_are_answered_at_once() {
    let gw = TestGateway::start(|c| c.max_waiters = 1).await;
    let v: Value = post(&gw, None, &body()).await.json().await.expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    let first = {
        let (http, url) = (gw.http.clone(), gw.url(&format!("/v1/routes/{id}?wait=3")));
        tokio::spawn(async move { http.get(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    let res = gw
        .http
        .get(gw.url(&format!("/v1/routes/{id}?wait=3")))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the second waiter should not wait"
    );
    let res = first.await.expect("join").expect("first");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_tenant_at_its_cap_of_unfinished_jobs_gets_429_until_one_ends() {
    let gw = TestGateway::start(|c| c.auth = AuthMode::Keys).await;
    let keys = gw.api_keys();
    let (_, capped) = keys.create("tenant-cap", 0, 3).await.expect("key");
    let (_, other) = keys.create("tenant-free", 0, 0).await.expect("key");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let res = post(&gw, Some(&capped), &body()).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        ids.push(
            res.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let (status, headers, text) = read(post(&gw, Some(&capped), &body()).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["code"],
        "TENANT_QUEUE_FULL"
    );
    // Another tenant is not affected.
    assert_eq!(
        post(&gw, Some(&other), &body()).await.status(),
        StatusCode::ACCEPTED
    );
    // When one of the capped tenant's jobs ends (here: cancelled), a slot frees.
    let res = gw
        .http
        .delete(gw.url(&format!("/v1/routes/{}", ids[0])))
        .bearer_auth(&capped)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        post(&gw, Some(&capped), &body()).await.status(),
        StatusCode::ACCEPTED
    );
}
