//! A slow PostgreSQL never holds a job or a request past its budget: the geocode store's lookup
//! and write on a job's path, and the gateway's history read, each give up after the query
//! timeout. The test makes PostgreSQL slow for real: another session holds an exclusive lock on
//! the table the query needs.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_shared::db;
use routeq_sim::SimArgs;
use routeq_testkit::{Fleet, TestDb, coords};

/// Holds an ACCESS EXCLUSIVE lock on `table` until the returned transaction is dropped.
async fn lock(db: &TestDb, table: &'static str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    let sql = match table {
        "jobs" => "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE",
        _ => "LOCK TABLE geocodes IN ACCESS EXCLUSIVE MODE",
    };
    sqlx::query(sql).execute(&mut *tx).await.expect("lock");
    tx
}
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_read_blocked_in_postgresql_answers_503_within_the_query_timeout() {
    let db = TestDb::create().await;
    db::migrate(&db.pool().await).await.expect("migrate");
    let url = db.url();
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.db.database_url = Some(url.parse().expect("db url"));
    })
    .await;
    // Warm: an unknown id is looked up in the history (a pooled connection now exists).
    let (status, _) = fleet.get("01a21000-0000-7000-8000-000000000001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let held = lock(&db, "jobs").await;
    let t0 = Instant::now();
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        fleet.get("01a21000-0000-7000-8000-000000000002"),
    )
    .await;
    let took = t0.elapsed();
    drop(held);
    let (status, v) = got.expect("the history read hung past 5 s");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "STORE_UNAVAILABLE");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geocode_store_blocked_in_postgresql_is_skipped_and_the_job_still_succeeds_in_time() {
    let db = TestDb::create().await;
    db::migrate(&db.pool().await).await.expect("migrate");
    let url = db.url();
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w = fleet
        .worker_in_process(|cfg| {
            cfg.db.database_url = Some(url.parse().expect("db url"));
            cfg.block_ms = 100;
        })
        .await;
    let places: Vec<_> = routeq_sim::addresses()
        .iter()
        .filter(|p| p.country_code == "kr")
        .collect();
    // Warm: one address is looked up and stored.
    let warm = fleet
        .submit(&json!({"origin": {"address": places[0].name}, "destination": coords(37.5, 127.0)}))
        .await;
    let (status, v) = fleet.finished(&warm, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let held = lock(&db, "geocodes").await;
    let t0 = Instant::now();
    let id = fleet
        .submit(&json!({"origin": {"address": places[1].name}, "destination": coords(37.5, 127.0), "deadline_ms": 5_000}))
        .await;
    let (status, v): (StatusCode, Value) = fleet.finished(&id, Duration::from_secs(10)).await;
    let took = t0.elapsed();
    drop(held);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        took < Duration::from_secs(3),
        "the store held the job {took:?}"
    );
}
