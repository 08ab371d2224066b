//! `routeq-admin stats [--json] [--watch [S]]` and `routeq-admin workers [--json]`: the overview
//! of [`routeq_shared::admin::stats`], the same numbers the gateways' `/metrics` and the console
//! show.

use std::io::Write;
use std::time::Duration;

use routeq_shared::admin::stats::{self, Overview, WorkerView};
use routeq_shared::job::rfc3339_ms;
use routeq_shared::redis::RedisArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct StatsArgs {
    /// One JSON object (per refresh with --watch) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Refresh every S seconds (default 2) until interrupted.
    #[arg(long, num_args = 0..=1, default_missing_value = "2", value_name = "S")]
    pub watch: Option<f64>,
    /// Without a gateway sampling the queue: measure the rates over this long, in ms.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
}

pub async fn run(redis: &RedisArgs, a: &StatsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    let window = Duration::from_millis(a.window_ms);
    loop {
        let o = stats::overview(&conn, &keys, window).await?;
        if a.json {
            writeln!(out, "{}", serde_json::to_string(&o)?)?;
        } else {
            if a.watch.is_some() {
                // Clear the terminal and home the cursor between refreshes.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            print(&o, out)?;
        }
        out.flush()?;
        let Some(every) = a.watch else { return Ok(()) };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs_f64(every.max(0.2))) => {}
        }
    }
}

pub async fn workers(redis: &RedisArgs, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    let s = stats::sample(&conn, &keys).await?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&serde_json::json!({"workers": s.workers}))?
        )?;
    } else {
        print_workers(&s.workers, out)?;
    }
    Ok(())
}

fn print_workers(ws: &[WorkerView], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>6} {:>9} {:>10}  last seen",
        "worker", "alive", "in flight", "idle ms"
    )?;
    for w in ws {
        writeln!(
            out,
            "{:<40} {:>6} {:>9} {:>10}  {}",
            w.name,
            if w.alive { "yes" } else { "no" },
            w.in_flight,
            w.idle_ms,
            rfc3339_ms(w.last_seen_ms)
        )?;
    }
    writeln!(
        out,
        "{} worker(s), {} alive",
        ws.len(),
        ws.iter().filter(|w| w.alive).count()
    )
}

fn print(o: &Overview, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "routeq at {}", rfc3339_ms(o.at_ms))?;
    if let Some(p) = &o.paused {
        writeln!(out, "PAUSED since {} {}", rfc3339_ms(p.since_ms), p.reason)?;
    }
    writeln!(
        out,
        "backlog          {:>10}  (queued {}, in flight {})",
        o.backlog, o.queued, o.in_flight
    )?;
    writeln!(out, "oldest job       {:>10.1} s", o.oldest_age_s)?;
    writeln!(
        out,
        "arrivals         {:>10.1} /s  ({})",
        o.arrival_per_s, o.rates_from
    )?;
    writeln!(out, "completions      {:>10.1} /s", o.completion_per_s)?;
    writeln!(out, "predicted wait   {:>10.1} s", o.predicted_wait_s)?;
    writeln!(out, "dead letters     {:>10}", o.dead_letters)?;
    writeln!(out, "records backlog  {:>10}", o.records_backlog)?;
    for p in &o.providers {
        writeln!(
            out,
            "breaker {:<12} {:<9} (open {}, half-open {}, closed {})",
            p.provider, p.breaker, p.open, p.half_open, p.closed
        )?;
    }
    print_workers(&o.workers, out)
}
