//! `routeq-bench`: starts a routeq fleet (provider simulator, one gateway, N workers) as child
//! processes on free loopback ports with a unique key prefix, runs the throughput, overhead and
//! capacity scenarios, and prints a Markdown report to stdout (and to `--out`). Progress goes to
//! stderr. See `scripts/bench.sh`.

mod cli;
mod completions;
mod cpu;
mod fleet;
mod load;
mod machine;
mod redis_ops;
mod report;
mod scenarios;
mod stats;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;

use crate::cli::{Args, Scenario};
use crate::scenarios::{Bench, Prefixes};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let prefixes: Prefixes = Arc::new(Mutex::new(Vec::new()));
    let code = tokio::select! {
        r = run(args.clone(), prefixes.clone()) => match r {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!("routeq-bench: a scenario failed (see the report)");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("routeq-bench: {e:#}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("routeq-bench: interrupted");
            ExitCode::from(130)
        }
    };
    // The fleet is gone by now (dropped with `run`); delete what an interrupted scenario left.
    let left: Vec<String> = prefixes.lock().map(|p| p.clone()).unwrap_or_default();
    if !left.is_empty()
        && let Ok((_, mut conn)) = redis_ops::connect(&args.redis_url).await
    {
        for prefix in left {
            match redis_ops::delete_prefix(&mut conn, &prefix, &[]).await {
                Ok(n) => eprintln!("[bench] deleted {n} keys under {prefix}"),
                Err(e) => eprintln!("[bench] warning: keys under {prefix} not deleted: {e:#}"),
            }
        }
    }
    code
}

/// A scenario's runs, or its error as text for the report (logged once here).
fn as_outcome<T>(r: anyhow::Result<Vec<T>>) -> report::Outcome<T> {
    Some(r.map_err(|e| {
        eprintln!("[bench] scenario failed: {e:#}");
        format!("{e:#}")
    }))
}

/// Runs the chosen scenarios and writes the report; `Ok(false)` when a scenario failed.
async fn run(args: Args, prefixes: Prefixes) -> anyhow::Result<bool> {
    for bin in ["routeq-gateway", "routeq-worker", "routeq-sim"] {
        let path = args.bin_dir.join(bin);
        anyhow::ensure!(
            path.is_file(),
            "{} not found (build with `cargo build --release --bins`, or pass --bin-dir)",
            path.display()
        );
    }
    let machine = machine::Machine::probe();
    let (client, mut conn) = redis_ops::connect(&args.redis_url).await?;
    let redis_version = redis_ops::version(&mut conn).await?;
    let mut bench = Bench::new(args.clone(), client, conn, prefixes)?;
    let scenario = args.scenario;

    let throughput = if scenario.includes(Scenario::Throughput) {
        as_outcome(scenarios::throughput(&mut bench).await)
    } else {
        None
    };
    let overhead = if scenario.includes(Scenario::Overhead) {
        as_outcome(scenarios::overhead(&mut bench).await)
    } else {
        None
    };
    let capacity = if scenario.includes(Scenario::Capacity) {
        as_outcome(scenarios::capacity(&mut bench).await)
    } else {
        None
    };
    let ok = [
        throughput.as_ref().map(|r| r.is_ok()),
        overhead.as_ref().map(|r| r.is_ok()),
        capacity.as_ref().map(|r| r.is_ok()),
    ]
    .into_iter()
    .flatten()
    .all(|ok| ok);

    let text = report::Report {
        machine: &machine,
        args: &args,
        redis_version: &redis_version,
        ticks_per_s: bench.ticks_per_s,
        throughput,
        overhead,
        capacity,
    }
    .render();
    print!("{text}");
    if let Some(path) = &args.out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("[bench] report written to {}", path.display());
    }
    Ok(ok)
}
