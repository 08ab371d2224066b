//! The receiver over HTTP: verification, counting by webhook-id, duplicates, the admin API.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use routeq_notify::Secret;
use routeq_notify::signature::signature_header;
use routeq_receiver::{Receiver, ReceiverConfig, ReceiverHandle, Stats};
use serde_json::{Value, json};

async fn start(secrets: Vec<Secret>) -> ReceiverHandle {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Receiver::bind(any, ReceiverConfig::new(secrets))
        .await
        .unwrap()
        .spawn()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn post(
    rx: &ReceiverHandle,
    secret: &Secret,
    id: &str,
    ts: i64,
    body: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(rx.url("/hook"))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            signature_header(std::slice::from_ref(secret), id, ts, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn stats(rx: &ReceiverHandle) -> Stats {
    let url = rx.url("/_receiver/stats?ids=true");
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn admin(rx: &ReceiverHandle, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(rx.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn verifies_counts_and_reports_duplicates() {
    let secret = Secret::generate().unwrap();
    let rx = start(vec![secret.clone()]).await;
    assert_eq!(post(&rx, &secret, "msg_1", now(), "{}").await.status(), 200);
    assert_eq!(post(&rx, &secret, "msg_1", now(), "{}").await.status(), 200);
    assert_eq!(post(&rx, &secret, "msg_2", now(), "{}").await.status(), 200);
    let forged = Secret::generate().unwrap();
    assert_eq!(post(&rx, &forged, "msg_3", now(), "{}").await.status(), 401);
    assert_eq!(
        post(&rx, &secret, "msg_4", now() - 301, "{}")
            .await
            .status(),
        401
    );
    let unsigned = reqwest::Client::new()
        .post(rx.url("/x"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let s = stats(&rx).await;
    assert_eq!((s.requests, s.verified, s.accepted, s.unique), (6, 3, 3, 2));
    assert_eq!(
        (s.duplicates, s.duplicate_ids.clone()),
        (1, vec!["msg_1".to_string()])
    );
    assert_eq!(
        (
            s.bad_signature,
            s.rejected.no_match,
            s.rejected.outside_tolerance
        ),
        (3, 1, 1)
    );
    assert_eq!(s.rejected.missing_header, 1);
    assert_eq!(s.not_json, 1, "the unsigned post had no content-type");
    assert_eq!(s.ids.as_ref().unwrap()["msg_1"].accepted, 2);
    assert_eq!(s, rx.stats(), "the HTTP and in-process views agree");

    let reset = reqwest::Client::new()
        .post(rx.url("/_receiver/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(stats(&rx).await.requests, 0);
}

#[tokio::test]
async fn fails_and_slows_on_command() {
    let secret = Secret::generate().unwrap();
    let rx = start(vec![secret.clone()]).await;
    let mode = json!({"status": 503, "delay_ms": 200, "count": 1, "retry_after": "7"});
    assert_eq!(admin(&rx, "/_receiver/mode", mode).await.status(), 200);
    let started = Instant::now();
    let r = post(&rx, &secret, "msg_a", now(), "{}").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (503, "7")
    );
    assert_eq!(
        post(&rx, &secret, "msg_a", now(), "{}").await.status(),
        200,
        "count spent"
    );
    let s = stats(&rx).await;
    assert_eq!((s.failed_by_mode, s.accepted, s.duplicates), (1, 1, 0));

    for bad in [
        json!({"status": 42}),
        json!({"nope": 1}),
        json!({"until_s": -1}),
    ] {
        assert_eq!(admin(&rx, "/_receiver/mode", bad).await.status(), 400);
    }
    let current: Value = reqwest::get(rx.url("/_receiver/mode"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["status"], Value::Null, "back to normal");
}

#[tokio::test]
async fn learns_secrets_at_run_time() {
    let secret = Secret::generate().unwrap();
    let rx = start(vec![]).await;
    assert_eq!(post(&rx, &secret, "msg_s", now(), "{}").await.status(), 401);
    let bad = admin(
        &rx,
        "/_receiver/secrets",
        json!({"secrets": ["whsec_short"]}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let ok = admin(
        &rx,
        "/_receiver/secrets",
        json!({"secrets": [secret.expose()]}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(post(&rx, &secret, "msg_s", now(), "{}").await.status(), 200);
    let s = stats(&rx).await;
    assert_eq!((s.rejected.no_secret, s.accepted), (1, 1));
}
