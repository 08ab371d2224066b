//! The gateway's HTTP contract, against the real Redis on the machine (each test under its own key
//! prefix) and, for outages, a private Redis server the test starts and kills.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use reqwest::StatusCode;
use routeq_gateway::{Application, GatewayConfig};
use routeq_shared::Code;
use routeq_shared::job::{JobState, Outcome, now_ms};
use routeq_shared::redis::Keys;
use routeq_shared::redis::record::QueueEntry;
use routeq_shared::redis::scripts::Started;
use serde_json::{Value, json};

use routeq_testkit::{PrivateRedis, REDIS, TestGateway};

async fn spawn() -> TestGateway {
    TestGateway::start(|_| {}).await
}

/// Reads up to `count` new entries of the jobs stream as consumer `consumer` of the workers'
/// group (made first if missing), as a worker would.
async fn read_entries(
    app: &TestGateway,
    consumer: &str,
    count: usize,
) -> Vec<redis::streams::StreamId> {
    let store = app.store();
    store.ensure_group().await.expect("group");
    let mut conn = app.redis().await;
    let opts = redis::streams::StreamReadOptions::default()
        .group(Keys::GROUP, consumer)
        .count(count);
    let reply: redis::streams::StreamReadReply = conn
        .xread_options(&[store.keys().jobs_stream()], &[">"], &opts)
        .await
        .expect("read");
    reply
        .keys
        .into_iter()
        .next()
        .map(|k| k.ids)
        .unwrap_or_default()
}

/// Acts as a worker would: takes the next entry and completes it with `code`.
async fn complete_next(app: &TestGateway, state: JobState, code: Code) -> String {
    let store = app.store();
    let entries = read_entries(app, "test-worker", 1).await;
    let job = QueueEntry::decode(&entries[0]).expect("a job entry");
    let started = store
        .start_batch(store.keys(), &[job.delivered()], "test-worker", now_ms())
        .await
        .expect("start");
    assert_eq!(started, vec![Started::Running(1)]);
    store
        .complete(job.delivered(), state, code, &Outcome::detail(""), now_ms())
        .await
        .expect("complete");
    job.job_id
}

fn coords(lat: f64, lon: f64) -> Value {
    json!({"lat": lat, "lon": lon})
}

fn good_body() -> Value {
    json!({"origin": coords(37.4979, 127.0276), "destination": {"address": "Seoul Station"}})
}

async fn body(res: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, headers, value)
}

/// Every key of a problem body is present and nothing is null.
fn assert_problem(v: &Value, code: &str) {
    for key in [
        "type",
        "title",
        "status",
        "detail",
        "code",
        "request_id",
        "errors",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["code"], code, "{v}");
    assert!(!v.to_string().contains("null"), "null in {v}");
}

#[tokio::test]
async fn submit_answers_202_with_location_and_the_job() {
    let app = spawn().await;
    let res = app
        .http
        .post(app.url("/v1/routes"))
        .header("x-request-id", "client-req-1")
        .json(&good_body())
        .send()
        .await
        .expect("post");
    let (status, headers, v) = body(res).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(headers["location"], format!("/v1/routes/{id}").as_str());
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["x-request-id"], "client-req-1");
    assert_eq!(v["state"], "queued");
    assert_eq!(v["code"], "JOB_QUEUED");
    assert_eq!(v["request_id"], "client-req-1");
    assert_eq!(v["request"]["profile"], "car");
    assert_eq!(v["result"], json!({}));
    assert_eq!(v["fallback"], json!({}));
    assert!(!v.to_string().contains("null"));

    // Polling shows the same job, with the stored request id, still 202.
    let (status, headers, polled) = body(
        app.http
            .get(app.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(polled["request_id"], "client-req-1");
    assert_ne!(
        headers["x-request-id"], "client-req-1",
        "a new request gets its own id"
    );

    // The job is on the stream exactly once.
    let mut conn = app.redis().await;
    let len: u64 = conn
        .xlen(format!("{}:jobs", app.prefix))
        .await
        .expect("xlen");
    assert_eq!(len, 1);
}

#[tokio::test]
async fn a_table_of_bad_requests_gets_4xx_with_code_and_field() {
    let app = spawn().await;
    let long_address = "a".repeat(257);
    let too_many: Vec<Value> = (0..6)
        .map(|i| coords(37.0 + f64::from(i) * 0.01, 127.0))
        .collect();
    // (description, content type, raw body, status, code, field at fault)
    let cases: Vec<(&str, &str, String, u16, &str, &str)> = vec![
        ("not JSON", "application/json", "{nope".into(), 400, "MALFORMED_JSON", ""),
        ("empty body", "application/json", "".into(), 400, "MALFORMED_JSON", ""),
        ("truncated JSON", "application/json", r#"{"origin": {"lat": 1"#.into(), 400, "MALFORMED_JSON", ""),
        ("NaN literal", "application/json", r#"{"origin": {"lat": NaN, "lon": 1}, "destination": {"address": "x"}}"#.into(), 400, "MALFORMED_JSON", ""),
        ("number beyond f64", "application/json", r#"{"origin": {"lat": 1e999, "lon": 1}, "destination": {"address": "x"}}"#.into(), 400, "MALFORMED_JSON", ""),
        ("text/plain", "text/plain", good_body().to_string(), 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        ("form encoded", "application/x-www-form-urlencoded", "origin=1".into(), 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        ("body too large", "application/json", format!("{{\"origin\": {{\"address\": \"{}\"}}}}", "x".repeat(20_000)), 413, "PAYLOAD_TOO_LARGE", "body"),
        ("array body", "application/json", "[1,2]".into(), 422, "INVALID_FIELD", ""),
        ("string body", "application/json", "\"route\"".into(), 422, "INVALID_FIELD", ""),
        ("unknown top field", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "speed": 3}).to_string(), 422, "INVALID_FIELD", "speed"),
        ("missing origin", "application/json", json!({"destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin"),
        ("missing destination", "application/json", json!({"origin": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "destination"),
        ("null origin", "application/json", json!({"origin": null, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin"),
        ("lat above 90", "application/json", json!({"origin": coords(90.5, 1.0), "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.lat"),
        ("lat below -90", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(-91.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "destination.lat"),
        ("lon above 180", "application/json", json!({"origin": coords(1.0, 180.1), "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.lon"),
        ("lat as string", "application/json", json!({"origin": {"lat": "37.5", "lon": 127.0}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.lat"),
        ("lat as \"NaN\"", "application/json", json!({"origin": {"lat": "NaN", "lon": 127.0}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.lat"),
        ("lon missing", "application/json", json!({"origin": {"lat": 37.5}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.lon"),
        ("coords and address", "application/json", json!({"origin": {"lat": 37.5, "lon": 127.0, "address": "x"}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin"),
        ("empty address", "application/json", json!({"origin": {"address": ""}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.address"),
        ("blank address", "application/json", json!({"origin": {"address": "   \t "}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.address"),
        ("huge address", "application/json", json!({"origin": {"address": long_address}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.address"),
        ("address with control char", "application/json", json!({"origin": {"address": "Seoul\u{0007}Station"}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.address"),
        ("address as number", "application/json", json!({"origin": {"address": 12}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.address"),
        ("place as string", "application/json", json!({"origin": "Seoul", "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin"),
        ("unknown place field", "application/json", json!({"origin": {"lat": 1.0, "lon": 1.0, "alt": 3}, "destination": coords(2.0, 2.0)}).to_string(), 422, "INVALID_FIELD", "origin.alt"),
        ("too many waypoints", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "waypoints": too_many}).to_string(), 422, "INVALID_FIELD", "waypoints"),
        ("waypoints not a list", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "waypoints": {"a": 1}}).to_string(), 422, "INVALID_FIELD", "waypoints"),
        ("bad waypoint", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "waypoints": [coords(1.5, 1.5), {"lat": 100, "lon": 0}]}).to_string(), 422, "INVALID_FIELD", "waypoints[1].lat"),
        ("unknown profile", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "profile": "rocket"}).to_string(), 422, "INVALID_FIELD", "profile"),
        ("deadline too short", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "deadline_ms": 1}).to_string(), 422, "INVALID_FIELD", "deadline_ms"),
        ("deadline too long", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "deadline_ms": 100_000_000u64}).to_string(), 422, "INVALID_FIELD", "deadline_ms"),
        ("deadline negative", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "deadline_ms": -5}).to_string(), 422, "INVALID_FIELD", "deadline_ms"),
        ("deadline fractional", "application/json", json!({"origin": coords(1.0, 1.0), "destination": coords(2.0, 2.0), "deadline_ms": 1500.5}).to_string(), 422, "INVALID_FIELD", "deadline_ms"),
    ];
    assert!(cases.len() >= 25);
    for (what, content_type, raw, want_status, want_code, want_field) in cases {
        let res = app
            .http
            .post(app.url("/v1/routes"))
            .header("content-type", content_type)
            .body(raw)
            .send()
            .await
            .expect("post");
        let (status, headers, v) = body(res).await;
        assert_eq!(status.as_u16(), want_status, "{what}: {v}");
        assert!(status.is_client_error(), "{what}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{what}"
        );
        assert_problem(&v, want_code);
        assert_eq!(v["status"], want_status, "{what}");
        assert!(
            !v["request_id"].as_str().unwrap_or_default().is_empty(),
            "{what}"
        );
        if !want_field.is_empty() {
            let fields: Vec<&str> = v["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .filter_map(|e| e["field"].as_str())
                .collect();
            assert!(
                fields.contains(&want_field),
                "{what}: wanted field {want_field}, got {fields:?}"
            );
        }
    }
    // Nothing bad was enqueued.
    let mut conn = app.redis().await;
    let len: u64 = conn
        .xlen(format!("{}:jobs", app.prefix))
        .await
        .expect("xlen");
    assert_eq!(len, 0);
}

#[tokio::test]
async fn bad_headers_paths_and_methods_get_their_codes() {
    let app = spawn().await;
    // Idempotency-Key that is too long, or has spaces.
    for key in ["k".repeat(256), "has space".to_string()] {
        let res = app
            .http
            .post(app.url("/v1/routes"))
            .header("idempotency-key", key)
            .json(&good_body())
            .send()
            .await
            .expect("post");
        let (status, _, v) = body(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_problem(&v, "INVALID_PARAMETER");
        assert_eq!(v["errors"][0]["field"], "Idempotency-Key");
    }
    // ?wait that is not a number, negative, too long, or an unknown parameter.
    for q in [
        "wait=abc",
        "wait=-1",
        "wait=100000",
        "wait=NaN",
        "color=red",
    ] {
        let (status, _, v) = body(
            app.http
                .get(app.url(&format!("/v1/routes/some-id?{q}")))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_problem(&v, "INVALID_PARAMETER");
    }
    // Unknown ids (well-formed or not) are 404 JOB_NOT_FOUND.
    for id in [
        "01a21000-0000-7000-8000-000000000000",
        "nope",
        &"x".repeat(100),
        "%E2%9C%93",
    ] {
        let (status, _, v) = body(
            app.http
                .get(app.url(&format!("/v1/routes/{id}")))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_problem(&v, "JOB_NOT_FOUND");
        let (status, _, v) = body(
            app.http
                .delete(app.url(&format!("/v1/routes/{id}")))
                .send()
                .await
                .expect("delete"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_problem(&v, "JOB_NOT_FOUND");
    }
    let (status, _, v) = body(
        app.http
            .get(app.url("/v2/elsewhere"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_problem(&v, "ENDPOINT_NOT_FOUND");
    let (status, _, v) = body(
        app.http
            .put(app.url("/v1/routes"))
            .json(&good_body())
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_problem(&v, "METHOD_NOT_ALLOWED");
    // A request id that is not plain text is replaced by one of ours.
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("get");
    let rid = res.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_string();
    assert_ne!(rid, "bad id with spaces");
    assert!(!rid.is_empty());
}

#[tokio::test]
async fn fifty_concurrent_posts_with_one_idempotency_key_make_one_job() {
    let app = spawn().await;
    let posts = (0..50).map(|_| {
        app.http
            .post(app.url("/v1/routes"))
            .header("idempotency-key", "order-42")
            .json(&good_body())
            .send()
    });
    let responses = futures_util::future::join_all(posts).await;
    let mut ids = std::collections::HashSet::new();
    let mut replays = 0;
    for r in responses {
        let r = r.expect("post");
        if r.headers().get("idempotent-replayed").is_some() {
            replays += 1;
        }
        let (status, _, v) = body(r).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        ids.insert(v["id"].as_str().expect("id").to_string());
    }
    assert_eq!(ids.len(), 1, "one job for one key: {ids:?}");
    assert_eq!(replays, 49);
    let mut conn = app.redis().await;
    let len: u64 = conn
        .xlen(format!("{}:jobs", app.prefix))
        .await
        .expect("xlen");
    assert_eq!(len, 1, "exactly one stream entry");

    // The same key with a different body is refused, and still makes no job.
    let mut other = good_body();
    other["profile"] = json!("foot");
    let res = app
        .http
        .post(app.url("/v1/routes"))
        .header("idempotency-key", "order-42")
        .json(&other)
        .send()
        .await
        .expect("post");
    let (status, _, v) = body(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&v, "IDEMPOTENCY_KEY_REUSED");
    let len: u64 = conn
        .xlen(format!("{}:jobs", app.prefix))
        .await
        .expect("xlen");
    assert_eq!(len, 1);

    // The same body with different formatting and key order is the same request.
    let reordered = r#"{"destination": {"address": "Seoul   Station"},
        "origin": {"lon": 127.0276, "lat": 37.4979}}"#;
    let res = app
        .http
        .post(app.url("/v1/routes"))
        .header("idempotency-key", "order-42")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .expect("post");
    let (status, _, v) = body(res).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(ids.contains(v["id"].as_str().expect("id")));
}

#[tokio::test]
async fn waiting_times_out_with_202_and_wakes_on_completion() {
    let app = spawn().await;
    // No worker: Prefer: wait=1 answers 202 after about a second, with Preference-Applied.
    let t0 = Instant::now();
    let res = app
        .http
        .post(app.url("/v1/routes"))
        .header("prefer", "wait=1")
        .json(&good_body())
        .send()
        .await
        .expect("post");
    let waited = t0.elapsed();
    let (status, headers, v) = body(res).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["preference-applied"], "wait=1");
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    let id = v["id"].as_str().expect("id").to_string();

    // GET ?wait=0.5 also answers 202 when nothing happens.
    let (status, _, _) = body(
        app.http
            .get(app.url(&format!("/v1/routes/{id}?wait=0.5")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A waiting GET wakes when a worker completes the job (pub/sub), well before its 20 s.
    let waiter = {
        let http = app.http.clone();
        let url = app.url(&format!("/v1/routes/{id}?wait=20"));
        tokio::spawn(async move { http.get(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t1 = Instant::now();
    let done = complete_next(&app, JobState::Succeeded, Code::RouteOk).await;
    assert_eq!(done, id);
    let res = waiter.await.expect("join").expect("get");
    let (status, _, v) = body(res).await;
    assert!(t1.elapsed() < Duration::from_secs(5));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["state"], "succeeded");
    assert_eq!(v["code"], "ROUTE_OK");
}

#[tokio::test]
async fn many_waiters_share_one_subscription_and_all_wake() {
    let app = spawn().await;
    let (_, _, v) = body(app.post(&good_body()).await).await;
    let id = v["id"].as_str().expect("id").to_string();
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let http = app.http.clone();
            let url = app.url(&format!("/v1/routes/{id}?wait=20"));
            tokio::spawn(async move { http.get(url).send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One subscriber connection for the whole process, however many requests wait.
    let mut conn = app.redis().await;
    let subs: Vec<(String, u64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{}:done", app.prefix))
        .query_async(&mut conn)
        .await
        .expect("numsub");
    assert_eq!(subs[0].1, 1, "{subs:?}");
    complete_next(&app, JobState::Failed, Code::NoRoute).await;
    for w in waiters {
        let (status, headers, v) = body(w.await.expect("join").expect("get")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_problem(&v, "NO_ROUTE");
        assert_eq!(v["state"], "failed");
    }
}

#[tokio::test]
async fn cancel_a_queued_job_then_it_reads_as_cancelled() {
    let app = spawn().await;
    let (_, _, v) = body(app.post(&good_body()).await).await;
    let id = v["id"].as_str().expect("id").to_string();
    let res = app
        .http
        .delete(app.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Idempotent.
    let res = app
        .http
        .delete(app.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, _, v) = body(
        app.http
            .get(app.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_problem(&v, "JOB_CANCELLED");
    assert_eq!(v["state"], "cancelled");

    // A job that already finished cannot be cancelled.
    let (_, _, v) = body(app.post(&good_body()).await).await;
    let id2 = v["id"].as_str().expect("id").to_string();
    // The worker stand-in takes entries in order: the cancelled one first (skipped), then ours.
    let store = app.store();
    let entries: Vec<QueueEntry> = read_entries(&app, "w", 10)
        .await
        .iter()
        .map(|e| QueueEntry::decode(e).expect("a job entry"))
        .collect();
    let refs: Vec<_> = entries.iter().map(QueueEntry::delivered).collect();
    let started = store
        .start_batch(store.keys(), &refs, "w", now_ms())
        .await
        .expect("start");
    assert_eq!(
        started,
        vec![Started::AlreadyEnded, Started::Running(1)],
        "the cancelled job is skipped"
    );
    let (status, _, v) = body(
        app.http
            .delete(app.url(&format!("/v1/routes/{id2}")))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_problem(&v, "JOB_NOT_CANCELLABLE");
}

#[tokio::test]
async fn unknown_job_is_a_404_problem() {
    let app = spawn().await;
    let res = app
        .http
        .get(app.url("/v1/routes/01a21000-0000-7000-8000-000000000000"))
        .send()
        .await
        .expect("get");
    let (status, headers, v) = body(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_problem(&v, "JOB_NOT_FOUND");
}

#[tokio::test]
async fn every_outcome_code_maps_to_its_status_on_get() {
    let app = spawn().await;
    for (state, code) in [
        (JobState::Succeeded, Code::RouteOk),
        (JobState::Failed, Code::AddressNotFound),
        (JobState::Failed, Code::ProviderError),
        (JobState::Failed, Code::ProviderUnavailable),
        (JobState::Failed, Code::ProviderTimeout),
    ] {
        let (_, _, v) = body(app.post(&good_body()).await).await;
        let id = v["id"].as_str().expect("id").to_string();
        complete_next(&app, state, code).await;
        let (status, headers, v) = body(
            app.http
                .get(app.url(&format!("/v1/routes/{id}")))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status.as_u16(), code.http_status(), "{code}");
        assert_eq!(v["code"], code.as_str());
        assert_eq!(v["status"], code.http_status());
        let ct = if code.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        assert_eq!(headers["content-type"], ct);
        assert!(!v.to_string().contains("null"));
    }
}

/// A private Redis server on a free port, killed on drop.
#[tokio::test]
async fn redis_down_answers_503_queue_unavailable_fast_and_recovers() {
    let mut redis = PrivateRedis::start();
    let app = TestGateway::start_on(&redis.url(), "{gw-down}", |_| {}).await;
    let (status, _, v) = body(app.post(&good_body()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = v["id"].as_str().expect("id").to_string();

    redis.kill();
    for attempt in 0..3 {
        let t0 = Instant::now();
        let res = app.post(&good_body()).await;
        let took = t0.elapsed();
        let retry_after = res.headers().get("retry-after").cloned();
        let location = res.headers().get("location").cloned();
        let (status, _, v) = body(res).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        if attempt == 0 && v["code"] == "SUBMIT_UNCONFIRMED" {
            // The first submission went out on the connection Redis died under: nobody can
            // say whether it ran, so the answer says so and names the job's id.
            let job = v["id"].as_str().expect("the id the job would have");
            assert_eq!(
                location.as_ref().and_then(|l| l.to_str().ok()),
                Some(format!("/v1/routes/{job}").as_str())
            );
        } else {
            // Once the connection is known dead, nothing is sent: plainly unavailable.
            assert_problem(&v, "QUEUE_UNAVAILABLE");
        }
        assert!(retry_after.is_some());
        assert!(took < Duration::from_secs(3), "failed slowly: {took:?}");
        let (status, _, v) = body(
            app.http
                .get(app.url(&format!("/v1/routes/{id}")))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_problem(&v, "QUEUE_UNAVAILABLE");
    }
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "liveness does not depend on Redis"
    );

    // A Redis on the same port again: the gateway reconnects by itself.
    redis.restart();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.post(&good_body()).await;
        if res.status() == StatusCode::ACCEPTED {
            break;
        }
        assert!(
            Instant::now() < until,
            "gateway did not recover after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.wait_ready(Duration::from_secs(5)).await;
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_configuration_is_refused_before_binding() {
    let mut cfg = GatewayConfig::for_tests(REDIS, "no-hash-tag").expect("parse");
    assert!(Application::build(cfg.clone()).await.is_err());
    cfg.redis.key_prefix = "{ok}".into();
    cfg.min_deadline_ms = 10_000;
    cfg.default_deadline_ms = 5_000;
    let err = Application::build(cfg).await.err().expect("refused");
    assert!(err.to_string().contains("default-deadline"), "{err}");
}

/// A finished job keeps the status of its code (502/503/504/410/422 included) but says it is final,
/// in a header and in the body, and never carries `Retry-After`: generic retry-on-5xx middleware
/// that honours either stops re-polling it. A pending job says the opposite.
#[tokio::test]
async fn finished_jobs_say_they_are_final_and_carry_no_retry_after() {
    let app = spawn().await;
    let (status, headers, v) = body(app.post(&good_body()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["job-final"], "false");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(v["final"], false);
    complete_next(&app, JobState::Succeeded, Code::RouteOk).await;
    for (state, code) in [
        (JobState::Fallback, Code::ProviderError),
        (JobState::Fallback, Code::ProviderUnavailable),
        (JobState::Fallback, Code::ProviderTimeout),
        (JobState::Failed, Code::NoRoute),
        (JobState::Expired, Code::JobExpired),
    ] {
        let (_, _, v) = body(app.post(&good_body()).await).await;
        let id = v["id"].as_str().expect("id").to_string();
        complete_next(&app, state, code).await;
        for url in [
            format!("/v1/routes/{id}"),
            format!("/v1/routes/{id}?wait=1"),
        ] {
            let (status, headers, v) =
                body(app.http.get(app.url(&url)).send().await.expect("get")).await;
            assert_eq!(status.as_u16(), code.http_status(), "{code}");
            assert!(
                headers.get("retry-after").is_none(),
                "{code}: a final answer carries Retry-After: {headers:?}"
            );
            assert_eq!(headers["job-final"], "true", "{code}");
            assert_eq!(v["final"], true, "{code}: {v}");
        }
    }
    // A cancelled job (410) is final too.
    let (_, _, v) = body(app.post(&good_body()).await).await;
    let id = v["id"].as_str().expect("id").to_string();
    app.http
        .delete(app.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    let (status, headers, v) = body(
        app.http
            .get(app.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(headers.get("retry-after").is_none());
    assert_eq!(headers["job-final"], "true");
    assert_eq!(v["final"], true);
}

/// The repository's root.
fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A gateway serves the committed document at the default flags, and its own limits otherwise.
#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one_and_follows_the_flags() {
    let app = spawn().await;
    let served = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let committed = std::fs::read_to_string(repo().join("docs/openapi.json")).expect("read");
    assert_eq!(
        served.trim_end(),
        committed.trim_end(),
        "the gateway serves a document other than docs/openapi.json"
    );
    let app = TestGateway::start(|cfg| {
        cfg.max_waypoints = 2;
        cfg.max_deadline_ms = 40_000;
        cfg.max_wait_s = 7;
    })
    .await;
    let doc: Value = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let req = &doc["components"]["schemas"]["RouteRequest"]["properties"];
    assert_eq!(req["waypoints"]["maxItems"], 2);
    assert_eq!(req["deadline_ms"]["maximum"], 40_000);
    let wait = doc["paths"]["/v1/routes/{id}"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "wait")
        .expect("wait")
        .clone();
    assert_eq!(wait["schema"]["maximum"], 7);
}

/// The properties a schema of the served document allows, through `$ref` and `allOf`.
fn properties_of(doc: &Value, schema: &Value, depth: usize) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    if depth > 8 {
        return out;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        out.extend(properties_of(
            doc,
            &doc["components"]["schemas"][name],
            depth + 1,
        ));
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(properties_of(doc, part, depth + 1));
    }
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.clone());
    }
    out
}

/// The submit body's `webhooks` (read beside the RouteRequest) is in the served document's
/// POST /v1/routes request body, with its limit, and the body stays closed to unknown fields
/// without refusing it.
#[tokio::test]
async fn the_served_openapi_document_lists_webhooks_in_the_submit_body() {
    let app = spawn().await;
    let doc: Value = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let body =
        &doc["paths"]["/v1/routes"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let props = properties_of(&doc, body, 0);
    for field in [
        "origin",
        "destination",
        "waypoints",
        "profile",
        "deadline_ms",
    ] {
        assert!(
            props.contains_key(field),
            "the submit body lost {field}: {body}"
        );
    }
    let webhooks = props
        .get("webhooks")
        .unwrap_or_else(|| panic!("POST /v1/routes body has no `webhooks`: {body}"));
    assert_eq!(webhooks["type"], "array", "{webhooks}");
    assert_eq!(webhooks["items"]["type"], "string", "{webhooks}");
    assert_eq!(webhooks["maxItems"], 20, "{webhooks}");
    // Closed at the body (an `additionalProperties: false` inside an allOf part would refuse
    // `webhooks`), and the examples include one with webhooks.
    let submission = &doc["components"]["schemas"]["RouteSubmission"];
    assert_eq!(submission["unevaluatedProperties"], false, "{submission}");
    assert!(
        doc["components"]["schemas"]["RouteRequest"]["additionalProperties"].is_null(),
        "RouteRequest closed inside the allOf refuses webhooks"
    );
    let examples = &doc["paths"]["/v1/routes"]["post"]["requestBody"]["content"]["application/json"]
        ["examples"];
    assert!(
        examples
            .as_object()
            .expect("examples")
            .values()
            .any(|e| e["value"]["webhooks"].is_array()),
        "no example with webhooks"
    );
}

/// A Python client generated from the served document (openapi-python-client, in the venv
/// scripts/setup.sh makes) submits, waits and reads a route, then a fallback estimate answered
/// 503, with typed fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_reads_a_route_and_a_fallback_estimate_with_typed_fields() {
    use routeq_testkit::sim::{FaultPatch, Provider, SimArgs};
    let venv = std::env::var_os("ROUTEQ_CLIENT_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-client"));
    let generator = venv.join("bin/openapi-python-client");
    assert!(
        generator.exists(),
        "{} is missing: scripts/setup.sh installs openapi-python-client into {}",
        generator.display(),
        venv.display()
    );
    let fleet = routeq_testkit::Fleet::start(SimArgs::instant()).await;
    let _worker = fleet
        .worker_in_process(|cfg| {
            cfg.resilience.retry_attempts = 1;
        })
        .await;
    let dir = routeq_testkit::proc::TempDir::new("client");
    let doc = reqwest::get(fleet.url("/openapi.json"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    std::fs::write(dir.path("openapi.json"), doc).expect("write");
    std::fs::write(dir.path("config.yaml"), "post_hooks: []\n").expect("write");
    let out = std::process::Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(dir.path("openapi.json"))
        .args(["--meta", "none", "--config"])
        .arg(dir.path("config.yaml"))
        .arg("--output-path")
        .arg(dir.path("pkg/routeq_client"))
        .output()
        .expect("run openapi-python-client");
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generation failed: {log}");
    assert!(!log.contains("Unable to process schema"), "{log}");
    assert!(
        !log.contains("Warning"),
        "the generator dropped parts: {log}"
    );

    let run = |mode: &str| {
        let out = std::process::Command::new(venv.join("bin/python"))
            .arg(repo().join("testkit/tests/client/use_client.py"))
            .arg(dir.path("pkg"))
            .arg(fleet.gateway.base())
            .arg(mode)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "the generated client ({mode}) failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    let route = tokio::task::block_in_place(|| run("route"));
    assert_eq!(route["status"], 200, "{route}");
    assert_eq!(route["code"], "ROUTE_OK");
    assert!(
        route["distance_m"].as_f64().expect("distance") > 0.0,
        "{route}"
    );

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
    let estimate = tokio::task::block_in_place(|| run("fallback"));
    assert_eq!(estimate["state"], "fallback", "{estimate}");
    assert!(
        [502, 503, 504].contains(&estimate["status"].as_u64().unwrap_or_default()),
        "{estimate}"
    );
    assert!(
        estimate["distance_m"].as_f64().expect("estimate") > 0.0,
        "{estimate}"
    );
    assert_eq!(estimate["method"], "great_circle_detour");
}

/// `/docs` is a page that works without JavaScript: for `POST /v1/routes` it shows the
/// parameters, the body's fields, an example and a curl line, with this gateway's limits.
#[tokio::test]
async fn the_docs_page_shows_parameters_a_body_schema_and_an_example_for_post_routes() {
    let app = TestGateway::start(|cfg| cfg.max_waypoints = 3).await;
    let res = reqwest::get(app.url("/docs")).await.expect("get");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let page = res.text().await.expect("body");
    assert!(!page.contains("<script"), "the page needs JavaScript");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads something from elsewhere"
    );
    let start = page
        .find("id=\"post-_v1_routes\"")
        .expect("a POST /v1/routes section");
    let end = page[start + 1..]
        .find("<h2")
        .map(|i| start + 1 + i)
        .unwrap_or(page.len());
    let section = &page[start..end];
    for needle in [
        "<h3>Parameters</h3>",
        "<code>Idempotency-Key</code>",
        "<code>Prefer</code>",
        "<code>X-Request-Id</code>",
        "<h3>Request body <code>application/json</code></h3>",
        "<code>origin</code>",
        "<code>destination</code>",
        "<code>deadline_ms</code>",
        "items ≤ 3",
        "Seoul Station",
        "curl -i -X POST",
        "Job-Final",
    ] {
        assert!(
            section.contains(needle),
            "POST /v1/routes on /docs lacks {needle:?}"
        );
    }
    // Every operation has its curl line.
    assert_eq!(
        page.matches("<h3>Try it</h3>").count(),
        page.matches("<h2 id=").count() - 1
    );
}

/// A queued job is stored once: its stream entry only names it (id and tenant), and the start
/// script hands the worker the rest from the job's hash — request, request id, times.
#[tokio::test]
async fn a_queued_job_is_stored_once_and_start_hands_over_the_request() {
    let app = spawn().await;
    let res = app
        .http
        .post(app.url("/v1/routes"))
        .header("x-request-id", "stored-once-1")
        .json(&good_body())
        .send()
        .await
        .expect("post");
    let (status, _, v) = body(res).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let store = app.store();
    let entries = read_entries(&app, "w", 10).await;
    let raw = &entries[0];
    let mut names: Vec<&str> = raw.map.keys().map(String::as_str).collect();
    names.sort_unstable();
    use routeq_shared::redis::record::f;
    assert_eq!(names, [f::ID, f::TENANT], "the entry only names the job");
    let mut entry = QueueEntry::decode(raw).expect("a job entry");
    let batch = store
        .start_batch_timed(store.keys(), &[entry.delivered()], "w", now_ms())
        .await
        .expect("start");
    assert_eq!(batch.statuses, [Started::Running(1)]);
    let job = batch.jobs[0].clone().expect("the started job");
    entry.started(job);
    assert_eq!(entry.request_id, "stored-once-1");
    let request = entry.request.as_ref().expect("the request decodes");
    assert_eq!(
        serde_json::to_value(request).expect("json"),
        v["request"],
        "the request as the gateway accepted it"
    );
    let submitted = routeq_shared::clock::rfc3339_ms(entry.submitted_ms);
    let deadline = routeq_shared::clock::rfc3339_ms(entry.deadline_ms);
    assert!(entry.deadline_ms > entry.submitted_ms);
    let id = v["id"].as_str().expect("id");
    let (_, _, stored) = body(
        app.http
            .get(app.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (
            stored["submitted_at"].as_str(),
            stored["deadline_at"].as_str()
        ),
        (Some(submitted.as_str()), Some(deadline.as_str()))
    );
}

/// Jobs in one submit call are each taken as if submitted alone, in order: the tenant's cap, the
/// backlog cap and an Idempotency-Key seen twice in the same call answer as they would apart.
#[tokio::test]
async fn jobs_in_one_submit_call_are_each_taken_as_if_alone() {
    use routeq_shared::redis::scripts::Submitted;
    use routeq_shared::redis::store::NewJob;
    let app = spawn().await;
    let store = app.store();
    // The request as the gateway fills it in.
    let (_, _, v) = body(app.post(&good_body()).await).await;
    let request: routeq_shared::job::RouteRequest =
        serde_json::from_value(v["request"].clone()).expect("request");
    let json = request.canonical_json();
    let mut other = request.clone();
    other.deadline_ms += 1;
    let other_json = other.canonical_json();
    let ids: Vec<String> = (0..7).map(|_| store.keys().new_job_id(0)).collect();
    fn job<'a>(
        id: &'a str,
        key: Option<&'a str>,
        request: &'a routeq_shared::job::RouteRequest,
        json: &'a str,
    ) -> NewJob<'a> {
        NewJob {
            id,
            tenant: "batch",
            request_id: "rid",
            request,
            request_json: json,
            idempotency_key: key,
            submitted_ms: now_ms(),
            max_open: 4,
            webhooks: "",
            trace: "",
            wait: false,
        }
    }
    let jobs = [
        job(&ids[0], Some("k1"), &request, &json),
        job(&ids[1], Some("k1"), &request, &json), // the same key and request: a replay of 0
        job(&ids[2], Some("k1"), &other, &other_json), // the same key, another request: refused
        job(&ids[3], None, &request, &json),
        job(&ids[4], None, &request, &json),
        job(&ids[5], None, &request, &json), // the tenant's fourth open job
        job(&ids[6], None, &request, &json), // its fifth: over the cap of 4
    ];
    let mut calls = Vec::new();
    for j in &jobs {
        calls.push(store.prepare_submit(j).await.expect("prepare"));
    }
    let refs: Vec<_> = calls.iter().collect();
    let got = store.submit_calls(&refs, 0).await.expect("submit");
    assert_eq!(
        got,
        [
            Submitted::Created(ids[0].clone()),
            Submitted::Replayed(ids[0].clone()),
            Submitted::KeyReused(ids[0].clone()),
            Submitted::Created(ids[3].clone()),
            Submitted::Created(ids[4].clone()),
            Submitted::Created(ids[5].clone()),
            Submitted::TenantFull(4),
        ]
    );
    // The backlog cap, counted job by job within the call: 5 queued (the one posted above and
    // four of the call), a cap of 6 takes one more.
    let more: Vec<String> = (0..2).map(|_| store.keys().new_job_id(0)).collect();
    let mut calls = Vec::new();
    for id in &more {
        let j = NewJob {
            id,
            tenant: "batch-2",
            max_open: 0,
            ..jobs[3].clone()
        };
        calls.push(store.prepare_submit(&j).await.expect("prepare"));
    }
    let refs: Vec<_> = calls.iter().collect();
    let got = store.submit_calls(&refs, 6).await.expect("submit");
    assert_eq!(
        got,
        [Submitted::Created(more[0].clone()), Submitted::Saturated(6)]
    );
}

/// Submissions that arrive while Redis is busy go in one call, and each is answered as its own:
/// with Redis hung, 40 concurrent submits (4 pairs sharing a key) queue up; once it answers they
/// are all accepted, each key's pair is one job, and they took fewer calls than jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_arriving_together_share_a_call_and_keep_their_own_answers() {
    let redis = PrivateRedis::start();
    let gw = TestGateway::start_on(&redis.url(), "{gw-batch}", |cfg| {
        cfg.redis.response_timeout_ms = Some(10_000);
    })
    .await;
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let scrape = || async {
        gw.http
            .get(gw.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let before = scrape().await;
    redis.stop();
    let posts: Vec<_> = (0..40)
        .map(|i| {
            let (http, url) = (gw.http.clone(), gw.url("/v1/routes"));
            tokio::spawn(async move {
                let mut req = http.post(url).json(&good_body());
                if i < 8 {
                    req = req.header("idempotency-key", format!("pair-{}", i / 2));
                }
                let res = req.send().await.expect("post");
                let status = res.status();
                let v: Value = res.json().await.expect("json");
                (i, status, v["id"].as_str().unwrap_or_default().to_string())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.resume();
    let mut answers = Vec::new();
    for p in posts {
        answers.push(p.await.expect("task"));
    }
    for (i, status, _) in &answers {
        assert_eq!(*status, StatusCode::ACCEPTED, "submission {i}");
    }
    for pair in 0..4 {
        assert_eq!(
            answers[pair * 2].2,
            answers[pair * 2 + 1].2,
            "one key, one job"
        );
    }
    let distinct: std::collections::HashSet<_> = answers.iter().map(|a| a.2.clone()).collect();
    assert_eq!(distinct.len(), 36);
    let after = scrape().await;
    let calls =
        metric(&after, "routeq_submit_calls_total") - metric(&before, "routeq_submit_calls_total");
    let jobs = metric(&after, "routeq_submit_call_jobs_total")
        - metric(&before, "routeq_submit_call_jobs_total");
    assert_eq!(jobs, 40.0, "every submission went through a call");
    assert!(calls < 10.0, "{calls} calls for 40 submissions");
    // Every job is there, queued.
    let mut conn = gw.redis().await;
    for id in &distinct {
        let state: Option<String> = conn
            .hget(format!("{{gw-batch}}:job:{id}"), "state")
            .await
            .expect("hget");
        assert_eq!(state.as_deref(), Some("queued"), "{id}");
    }
}
