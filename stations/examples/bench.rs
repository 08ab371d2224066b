//! Benchmark of the stations data half on this machine's PostgreSQL, in a database of its own
//! (created, migrated, dropped at the end):
//!
//! 1. import a national file of `--rows` charger rows (generated, the service's JSON body);
//! 2. a full reload of it (every key reshuffled, moves, removals, additions, traps);
//! 3. a status feed of every charger through the aliases;
//! 4. nearest-station queries at random points near where people are, p50/p99.
//!
//! ```text
//! cargo run --release -p routeq-stations --example bench -- [--rows 100000] [--queries 5000]
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routeq_stations::feed::Format;
use routeq_stations::generate::{self, reload::Rates};
use routeq_stations::import::{ImportOptions, ImportReport};
use routeq_stations::model::{ChargerKind, Filters};

struct Args {
    rows: usize,
    queries: usize,
    seed: u64,
    admin_url: String,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        rows: 100_000,
        queries: 5_000,
        seed: 1,
        admin_url: "postgres://postgres@127.0.0.1:5432/postgres".to_string(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rows" => a.rows = value.parse()?,
            "--queries" => a.queries = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--admin-url" => a.admin_url = value,
            _ => anyhow::bail!("unknown flag {flag} (--rows, --queries, --seed, --admin-url)"),
        }
    }
    Ok(a)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn line(what: &str, r: &ImportReport, rows: usize) {
    let s = r.elapsed_ms as f64 / 1000.0;
    println!(
        "| {what} | {rows} | {:.2} s | {:.0} rows/s | stations {}: kept {}, moved {}, new {}, retired {}, to review {} |",
        s,
        rows as f64 / s,
        r.stations_read,
        r.kept,
        r.moved,
        r.new,
        r.retired,
        r.ambiguous
    );
    let phases: Vec<String> = r
        .phases
        .iter()
        .map(|(p, ms)| format!("{p} {ms} ms"))
        .collect();
    println!("|   phases | | | | {} |", phases.join(", "));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let name = format!("routeq_stations_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&a.admin_url)
        .await
        .context("admin connection")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let url = match a.admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => anyhow::bail!("--admin-url must end with /<database>"),
    };
    let result = run(&a, &url).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn run(a: &Args, url: &str) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    routeq_shared::db::migrate(&pool).await?;
    let dir = std::env::temp_dir();
    let file_a = dir.join(format!(
        "routeq-stations-bench-{}-a.json",
        std::process::id()
    ));
    let file_b = dir.join(format!(
        "routeq-stations-bench-{}-b.json",
        std::process::id()
    ));
    let file_s = dir.join(format!(
        "routeq-stations-bench-{}-status.csv",
        std::process::id()
    ));

    let t = Instant::now();
    let d = generate::generate_rows(a.rows, a.seed);
    generate::write::write(&d.stations, &file_a, Format::Json)?;
    let size = std::fs::metadata(&file_a)?.len();
    println!(
        "generated {} stations, {} chargers, {:.1} MB of JSON in {:.2} s\n",
        d.stations.len(),
        d.rows(),
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    println!("| step | rows | time | rate | result |\n|---|---|---|---|---|");
    let mut opts = ImportOptions::new("keco");
    opts.full = true;
    let first = routeq_stations::import::import(&pool, &file_a, &opts).await?;
    line("import (empty database)", &first, d.rows());
    let again = routeq_stations::import::import(&pool, &file_a, &opts).await?;
    println!(
        "| same file again | {} | {:.3} s | (digest only: no-op) | unchanged since #{} |",
        d.rows(),
        again.elapsed_ms as f64 / 1000.0,
        again.unchanged_since.unwrap_or_default()
    );

    let r = generate::reload::reload(&d, a.seed + 1, &Rates::default());
    generate::write::write(&r.records, &file_b, Format::Json)?;
    let rows_b: usize = r.records.iter().map(|s| s.chargers.len()).sum();
    let reload = routeq_stations::import::import(&pool, &file_b, &opts).await?;
    line("full reload, every key changed", &reload, rows_b);

    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file_s)?);
        writeln!(w, "statId,chgerId,stat,statUpdDt")?;
        let mut rng = StdRng::seed_from_u64(a.seed + 2);
        for s in &r.records {
            for c in &s.chargers {
                writeln!(
                    w,
                    "{},{},{},20261203{:02}{:02}00",
                    s.stat_id,
                    c.chger_id,
                    [2, 3][rng.random_range(0..2)],
                    rng.random_range(0..24),
                    rng.random_range(0..60)
                )?;
            }
        }
        w.flush()?;
    }
    let st = routeq_stations::status::apply(&pool, &file_s, "keco", None).await?;
    let s = st.elapsed_ms as f64 / 1000.0;
    println!(
        "| status feed, every charger | {} | {:.2} s | {:.0} rows/s | applied {}, stale {}, unknown {} |\n",
        st.rows_read,
        s,
        st.rows_read as f64 / s,
        st.applied,
        st.stale,
        st.unknown
    );

    // Nearest: points within 3 km of a random station (where drivers are), one connection.
    let mut rng = StdRng::seed_from_u64(a.seed + 3);
    let points: Vec<(f64, f64)> = (0..a.queries)
        .map(|_| {
            let s = &r.next.stations[rng.random_range(0..r.next.stations.len())];
            generate::offset(
                s.lat,
                s.lng,
                rng.random_range(0.0..3000.0),
                rng.random_range(0.0..std::f64::consts::TAU),
            )
        })
        .collect();
    println!(
        "| nearest query | queries | p50 | p90 | p99 | max | stations answered (mean) |\n|---|---|---|---|---|---|---|"
    );
    let dc_free = Filters {
        charger_type: Some(ChargerKind::Dc),
        min_kw: None,
        available: true,
    };
    for (what, radius, filters) in [
        ("radius 5 km, limit 10", 5000.0, Filters::default()),
        (
            "radius 5 km, limit 10, DC available",
            5000.0,
            dc_free.clone(),
        ),
        (
            "radius 50 km, limit 10, DC available, ≥ 100 kW",
            50_000.0,
            Filters {
                min_kw: Some(100.0),
                ..dc_free.clone()
            },
        ),
    ] {
        for (lat, lon) in points.iter().take(100) {
            routeq_stations::nearest(&pool, *lat, *lon, radius, 10, &filters).await?;
        }
        let mut times = Vec::with_capacity(points.len());
        let mut found = 0usize;
        for (lat, lon) in &points {
            let t = Instant::now();
            found += routeq_stations::nearest(&pool, *lat, *lon, radius, 10, &filters)
                .await?
                .len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| {what} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} |",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            percentile(&times, 0.99),
            percentile(&times, 1.0),
            found as f64 / times.len() as f64
        );
    }
    for f in [file_a, file_b, file_s] {
        let _ = std::fs::remove_file(f);
    }
    Ok(())
}
