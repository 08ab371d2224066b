//! The durable record in PostgreSQL: every accepted job has exactly one row with its outcome, even
//! when records are delivered twice, arrive out of order, or PostgreSQL is cut off for a while; GETs
//! after the Redis TTL answer from the record; geocodes are asked once. Each test uses its own
//! database (created and dropped here) and its own Redis key prefix.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_shared::db;
use routeq_shared::redis::record::{RecordEvent, f};
use routeq_sim::{Provider, SimArgs};
use routeq_testkit::{Fleet, REDIS, TcpProxy, TestDb, trip};
use routeq_worker::WorkerConfig;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The record-specific steps on top of the shared fleet harness.
trait Recording {
    /// Starts a worker (with its in-process recorder when `db_url` is set); stop it with the token.
    async fn worker(
        &self,
        db_url: Option<&str>,
        tweak: impl FnOnce(&mut WorkerConfig),
    ) -> CancellationToken;
    async fn backlog(&self) -> u64;
    async fn drained(&self, within: Duration);
    async fn done(&self, id: &str) -> (StatusCode, Value);
}

impl Recording for Fleet {
    async fn worker(
        &self,
        db_url: Option<&str>,
        tweak: impl FnOnce(&mut WorkerConfig),
    ) -> CancellationToken {
        let db_url = db_url.map(str::to_string);
        self.worker_in_process(|cfg| {
            cfg.migrate = db_url.is_some();
            cfg.db.database_url = db_url.map(|u| u.parse().expect("db url"));
            cfg.db.acquire_timeout_ms = 300;
            cfg.block_ms = 200;
            tweak(cfg);
        })
        .await
    }

    async fn backlog(&self) -> u64 {
        let mut conn = self.redis().await;
        redis::AsyncCommands::xlen(&mut conn, format!("{}:records", self.prefix))
            .await
            .expect("xlen")
    }

    async fn drained(&self, within: Duration) {
        let until = Instant::now() + within;
        while self.backlog().await > 0 {
            assert!(Instant::now() < until, "records backlog did not drain");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn done(&self, id: &str) -> (StatusCode, Value) {
        self.finished(id, Duration::from_secs(15)).await
    }
}

/// A fleet whose gateway records every acceptance (even before the first recorder starts) and,
/// with `db`, reads history from PostgreSQL.
async fn recording_fleet(db: Option<String>) -> Fleet {
    Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.db.database_url = db.map(|u| u.parse().expect("db url"));
        cfg.records = routeq_shared::redis::outbox::RecordsMode::On;
    })
    .await
}

async fn rows(pool: &PgPool) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as("SELECT id::text, state, code, outcome::text FROM jobs ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_twice_is_a_no_op() {
    let db = TestDb::create().await;
    for _ in 0..2 {
        let out = std::process::Command::new(routeq_testkit::proc::bin("routeq-recorder"))
            .args([
                "--database-url",
                &db.url(),
                "--log-level",
                "warn",
                "migrate",
            ])
            .output()
            .expect("run migrate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pool = db.pool().await;
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(applied as usize, db::MIGRATOR.iter().count());
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('jobs', 'geocodes')",
    )
    .fetch_one(&pool)
    .await
    .expect("tables");
    assert_eq!(tables, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_job_has_exactly_one_row_with_its_outcome() {
    let db = TestDb::create().await;
    let fleet = recording_fleet(Some(db.url())).await;
    // Jobs accepted before any worker runs: the cancelled one never reaches a worker.
    let cancelled = fleet.submit(&trip(999)).await;
    let res = fleet
        .http
        .delete(fleet.url(&format!("/v1/routes/{cancelled}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let _w = fleet.worker(Some(&db.url()), |_| {}).await;
    let mut ids = vec![cancelled.clone()];
    for i in 0..40 {
        ids.push(fleet.submit(&trip(i)).await);
    }
    let unknown = fleet.submit(&json!({"origin": {"address": "Nowhere 1, Atlantis"}, "destination": {"lat": 37.5, "lon": 127.0}})).await;
    ids.push(unknown.clone());
    let mut views = std::collections::HashMap::new();
    for id in &ids {
        let (status, body) = fleet.done(id).await;
        let v = body;
        views.insert(id.clone(), (status, v));
    }
    fleet.drained(Duration::from_secs(15)).await;
    let pool = db.pool().await;
    let rows = rows(&pool).await;
    assert_eq!(rows.len(), ids.len(), "one row per accepted job");
    for (id, state, code, outcome) in &rows {
        let (_, v) = &views[id];
        assert_eq!(v["state"], state.as_str(), "{id}");
        assert_eq!(v["code"], code.as_str(), "{id}");
        assert!(outcome.is_some(), "{id} has its outcome");
    }
    let (_, v) = &views[&unknown];
    assert_eq!(v["code"], "ADDRESS_NOT_FOUND");
    let (_, v) = &views[&cancelled];
    assert_eq!(v["state"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_delivered_twice_or_out_of_order_are_one_row() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    db::migrate(&pool).await.expect("migrate");
    let id = uuid::Uuid::now_v7();
    let base = |ev: &str, state: &str, code: &str, out: &str, fin: i64| {
        let mut fields = std::collections::HashMap::new();
        for (k, v) in [
            (f::EVENT, ev),
            (f::ID, &id.to_string()),
            (f::TENANT, "default"),
            (f::REQUEST_ID, "r-1"),
            (f::IDEMPOTENCY_KEY, ""),
            (
                f::REQUEST,
                r#"{"origin":{"lat":1.0,"lon":2.0},"destination":{"lat":1.5,"lon":2.5},"waypoints":[],"profile":"car","deadline_ms":30000}"#,
            ),
            (f::STATE, state),
            (f::CODE, code),
            (f::OUTCOME, out),
            (f::SUBMITTED, "1700000000000"),
            (f::DEADLINE, "1700000030000"),
            (f::ATTEMPTS, "1"),
            (f::WORKER, "w1"),
            (f::STARTED, "1700000000100"),
            (f::FINISHED, &fin.to_string()),
        ] {
            fields.insert(k.to_string(), v.to_string());
        }
        RecordEvent::decode(&fields).expect("event")
    };
    let accepted = base("accepted", "queued", "JOB_QUEUED", "", 0);
    let finished = base(
        "finished",
        "succeeded",
        "ROUTE_OK",
        r#"{"detail":"","result":{"provider":"simulator"}}"#,
        1_700_000_000_300,
    );
    // The completion lands first, then the acceptance, then both again (redelivery).
    db::write_records(&pool, std::slice::from_ref(&finished))
        .await
        .expect("write");
    db::write_records(&pool, std::slice::from_ref(&accepted))
        .await
        .expect("write");
    db::write_records(
        &pool,
        &[accepted.clone(), finished.clone(), finished.clone()],
    )
    .await
    .expect("write");
    let rows = rows(&pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].1, "succeeded",
        "an acceptance never overwrites a finished row"
    );
    assert_eq!(rows[0].2, "ROUTE_OK");
    let (provider, attempts): (String, i32) = sqlx::query_as("SELECT provider, attempts FROM jobs")
        .fetch_one(&pool)
        .await
        .expect("row");
    assert_eq!(provider, "simulator");
    assert_eq!(attempts, 1);

    // Through the real stream: an entry appended twice is still one row.
    let fleet = recording_fleet(None).await;
    let job = fleet.submit(&trip(1)).await;
    let mut conn = redis::Client::open(REDIS)
        .expect("c")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let stream = format!("{}:records", fleet.prefix);
    let entries: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, &stream)
            .await
            .expect("xrange");
    assert_eq!(
        entries.ids.len(),
        1,
        "the acceptance was recorded by the submit script"
    );
    let fields: Vec<(String, String)> = entries.ids[0]
        .map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                redis::from_redis_value_ref::<String>(v).expect("text"),
            )
        })
        .collect();
    let _: String = redis::AsyncCommands::xadd(&mut conn, &stream, "*", &fields)
        .await
        .expect("duplicate");
    let _w = fleet.worker(Some(&db.url()), |_| {}).await;
    fleet.done(&job).await;
    fleet.drained(Duration::from_secs(15)).await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE id = $1::uuid")
        .bind(&job)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_off_delays_records_but_loses_none() {
    let db = TestDb::create().await;
    db::migrate(&db.pool().await).await.expect("migrate");
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("pg addr")).await;
    let fleet = recording_fleet(None).await;
    let _w = fleet
        .worker(Some(&db.url_via(proxy.addr())), |c| c.migrate = false)
        .await;
    // Warm up: one job recorded through the proxy.
    let first = fleet.submit(&trip(0)).await;
    fleet.done(&first).await;
    fleet.drained(Duration::from_secs(10)).await;

    proxy.cut().await;
    let mut ids = vec![first];
    for i in 1..31 {
        ids.push(fleet.submit(&trip(i)).await);
    }
    // Clients still get their results while the database is unreachable.
    for id in &ids {
        let (status, _) = fleet.done(id).await;
        assert_eq!(status, StatusCode::OK);
    }
    let backlog = fleet.backlog().await;
    assert!(
        backlog >= 60,
        "acceptances and completions wait in Redis: backlog {backlog}"
    );
    let res: Value = fleet
        .http
        .get(fleet.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert!(res["recorder_backlog"].as_u64().unwrap_or(0) >= 60, "{res}");

    proxy.restore();
    fleet.drained(Duration::from_secs(30)).await;
    let pool = db.pool().await;
    let rows = rows(&pool).await;
    assert_eq!(rows.len(), ids.len(), "no record lost");
    assert!(rows.iter().all(|r| r.1 == "succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_after_the_redis_ttl_answers_from_postgres_with_the_same_body() {
    let db = TestDb::create().await;
    let fleet = recording_fleet(Some(db.url())).await;
    let _w = fleet.worker(Some(&db.url()), |c| c.result_ttl_s = 1).await;
    let ok = fleet.submit(&trip(3)).await;
    let failed = fleet.submit(&json!({"origin": {"address": "Nowhere 2, Atlantis"}, "destination": {"lat": 37.5, "lon": 127.0}})).await;
    let mut before = Vec::new();
    for id in [&ok, &failed] {
        before.push(fleet.done(id).await);
    }
    fleet.drained(Duration::from_secs(10)).await;
    // Wait for the Redis record to expire (TTL 1 s after completion).
    let mut conn = redis::Client::open(REDIS)
        .expect("c")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let exists: bool =
            redis::AsyncCommands::exists(&mut conn, format!("{}:job:{ok}", fleet.prefix))
                .await
                .expect("exists");
        if !exists {
            break;
        }
        assert!(Instant::now() < until, "TTL did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (id, (status, body)) in [&ok, &failed].into_iter().zip(before) {
        let (status_after, body_after) = fleet.get(id).await;
        assert_eq!(status_after, status, "{id}");
        let (a, b) = (body, body_after);
        assert_eq!(a, b, "the same body after the TTL");
    }
    // Unknown ids are still 404, not an error.
    let (status, _) = fleet.get("01a21000-0000-7000-8000-000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geocoded_address_is_not_sent_to_the_provider_twice_even_across_restarts() {
    let db = TestDb::create().await;
    let fleet = recording_fleet(None).await;
    let address = routeq_sim::addresses()[2].name;
    let body = json!({"origin": {"address": address}, "destination": {"lat": 37.5, "lon": 127.0}});
    for round in 0..3 {
        let w = fleet.worker(Some(&db.url()), |_| {}).await;
        let id = fleet.submit(&body).await;
        let (status, text) = fleet.done(&id).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v = text;
        assert_eq!(
            v["result"]["stops"][0]["cached"],
            round > 0,
            "round {round}"
        );
        w.cancel(); // a new worker each round: nothing survives in process memory
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        fleet
            .sim
            .control()
            .stats()
            .providers
            .get(Provider::Nominatim)
            .requests(),
        1
    );
    let pool = db.pool().await;
    let (id, provider, place): (i64, String, String) =
        sqlx::query_as("SELECT id, provider, provider_place_id FROM geocodes")
            .fetch_one(&pool)
            .await
            .expect("geocode row");
    assert!(id > 0);
    assert_eq!(provider, "simulator");
    assert!(
        !place.is_empty(),
        "the provider's id is kept as an attribute"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_recorder_nothing_piles_up_and_records_start_when_one_appears() {
    // The default: records are appended only once a recorder exists.
    let fleet = Fleet::start(SimArgs::instant()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A worker without a database: no recorder anywhere, so nothing is appended.
    let w = fleet.worker(None, |_| {}).await;
    for i in 0..5 {
        let id = fleet.submit(&trip(i)).await;
        fleet.done(&id).await;
    }
    assert_eq!(
        fleet.backlog().await,
        0,
        "no recorder: the records stream must not grow"
    );
    w.cancel();
    // A worker with a database brings a recorder: from then on every job is recorded.
    let db = TestDb::create().await;
    let _w2 = fleet.worker(Some(&db.url()), |_| {}).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await; // the gateway notices within 2 s
    let id = fleet.submit(&trip(42)).await;
    fleet.done(&id).await;
    fleet.drained(Duration::from_secs(10)).await;
    let (state,): (String,) = sqlx::query_as("SELECT state FROM jobs WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&db.pool().await)
        .await
        .expect("the job was recorded");
    assert_eq!(state, "succeeded");
}
