//! Measures the recorder: how many job records per second it writes from the records stream into
//! PostgreSQL, against the rate at which a fleet finishes jobs.
//!
//! Each run fills a private records stream with `--jobs` jobs' worth of real events (an `accepted`
//! and a `finished` event each, as the Lua scripts write them), starts the recorder on a fresh
//! database, and times the drain until every row is in. Prints the median and spread over runs.
//!
//!   cargo run --release -p routeq-worker --example recorder_throughput -- [--jobs N] [--runs N] [--batch N]

use std::time::{Duration, Instant};

use anyhow::Context;
use routeq_shared::Code;
use routeq_shared::job::JobState;
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::record::RecordEvent;
use routeq_worker::ops::recorder::{RecorderConfig, run};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const REDIS: &str = "redis://127.0.0.1:6379";
const PG: &str = "postgres://postgres@127.0.0.1:5432";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (jobs, runs, batch) = (arg("--jobs", 20_000), arg("--runs", 3), arg("--batch", 500));
    let mut rates = Vec::new();
    for run_no in 1..=runs {
        let rate = one_run(jobs, batch).await?;
        eprintln!("run {run_no}: {rate:.0} rows/s");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "recorder: {jobs} jobs ({} events) per run, batch {batch}: median {:.0} rows/s (min {:.0}, max {:.0}) over {runs} runs",
        jobs * 2,
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1]
    );
    Ok(())
}

async fn one_run(jobs: usize, batch: usize) -> anyhow::Result<f64> {
    let name = format!(
        "routeq_rec_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let admin = PgPool::connect(&format!("{PG}/postgres"))
        .await
        .context("PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let pg = PgPool::connect(&format!("{PG}/{name}")).await?;
    routeq_shared::db::migrate(&pg).await?;

    let prefix = format!(
        "{{recbench-{}}}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let args = RedisArgs::new(REDIS, &prefix)?;
    let keys = args.keys()?;
    let settings = args.settings(routeq_shared::redis::connect::Timeouts::WORKER);
    let redis_conn = args.connection(&settings, "bench")?;
    let mut conn = redis_conn.clone();
    let stream = keys.records_stream();
    let request = r#"{"deadline_ms":30000,"destination":{"lat":37.5547,"lon":126.9707},"origin":{"address":"Gangnam Station"},"profile":"car","waypoints":[]}"#;
    let outcome = r#"{"detail":"","result":{"distance_m":10744.7,"duration_s":1294.5,"geometry":"_ibdFuwnfW~rIjlJ","stops":[],"provider":"simulator","simulated":true,"cache":"miss"},"timings":{"queued_us":800,"compute_us":201000,"provider_us":200900}}"#;
    // Fill the stream as the scripts would: pipelined XADDs of whole job hashes.
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(1_000) {
        let mut pipe = redis::pipe();
        for _ in chunk {
            let mut event = RecordEvent {
                finished: false,
                id: uuid::Uuid::now_v7(),
                tenant: "default".into(),
                request_id: "bench".into(),
                idempotency_key: String::new(),
                request: request.into(),
                state: JobState::Queued.as_str().into(),
                code: Code::JobQueued.as_str().into(),
                outcome: String::new(),
                provider: String::new(),
                attempts: 1,
                worker: "w1".into(),
                submitted_ms: 1_764_000_000_000,
                deadline_ms: 1_764_000_030_000,
                started_ms: 1_764_000_000_100,
                finished_ms: 0,
            };
            let accepted = event.encode();
            event.finished = true;
            event.state = JobState::Succeeded.as_str().into();
            event.code = Code::RouteOk.as_str().into();
            event.outcome = outcome.into();
            event.finished_ms = 1_764_000_000_300;
            let finished = event.encode();
            pipe.xadd(&stream, "*", &accepted)
                .ignore()
                .xadd(&stream, "*", &finished)
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
    }

    let token = CancellationToken::new();
    let cfg = RecorderConfig {
        batch,
        block_ms: 200,
        reclaim_idle_ms: 30_000,
        consumer: "bench".into(),
        // Unbounded: the benchmark measures draining, not shedding.
        max_len: 0,
    };
    let started = Instant::now();
    let task = tokio::spawn(run(
        redis_conn.clone(),
        keys.clone(),
        settings.clone(),
        pg.clone(),
        cfg,
        token.clone(),
    ));
    loop {
        let (rows,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM jobs WHERE finished_at IS NOT NULL")
                .fetch_one(&pg)
                .await?;
        if rows as usize >= jobs {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the recorder did not drain in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    token.cancel();
    let _ = task.await;
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await?;
    pg.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    Ok(jobs as f64 / took.as_secs_f64())
}
