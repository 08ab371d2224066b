//! The Markdown report: header (date, machine, commit, parameters), one table per scenario with
//! the median and min–max over runs, and the caveats.

use std::fmt::Write;

use crate::cli::Args;
use crate::machine::Machine;
use crate::scenarios::{CAPACITY_LATENCY_MS, CapacityRun, OverheadRun, ThroughputRun};
use crate::stats::Spread;

/// What a scenario produced: its runs, or why it failed.
pub type Outcome<T> = Option<Result<Vec<T>, String>>;

pub struct Report<'a> {
    pub machine: &'a Machine,
    pub args: &'a Args,
    pub redis_version: &'a str,
    pub ticks_per_s: f64,
    pub throughput: Outcome<ThroughputRun>,
    pub overhead: Outcome<OverheadRun>,
    pub capacity: Outcome<CapacityRun>,
}

/// `median | min – max | run1, run2, …` cells with `decimals` places.
fn spread_cells(values: &[f64], decimals: usize) -> String {
    match Spread::of(values) {
        Some(s) => format!(
            "{:.d$} | {:.d$} – {:.d$} | {}",
            s.median,
            s.min,
            s.max,
            values
                .iter()
                .map(|v| format!("{v:.decimals$}"))
                .collect::<Vec<_>>()
                .join(", "),
            d = decimals
        ),
        None => "– | – | –".into(),
    }
}

/// `median (min–max)` in one cell.
fn spread_cell(values: &[f64], decimals: usize) -> String {
    match Spread::of(values) {
        Some(s) => format!(
            "{:.d$} ({:.d$}–{:.d$})",
            s.median,
            s.min,
            s.max,
            d = decimals
        ),
        None => "–".into(),
    }
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        if let Some(t) = &self.throughput {
            section(&mut out, "Throughput", t, |out, runs| {
                self.throughput(out, runs)
            });
        }
        if let Some(o) = &self.overhead {
            section(&mut out, "Overhead", o, |out, runs| {
                self.overhead(out, runs)
            });
        }
        if let Some(c) = &self.capacity {
            section(&mut out, "Capacity", c, |out, runs| {
                self.capacity(out, runs)
            });
        }
        let _ = writeln!(
            out,
            "**Caveats.** A shared, noisy {}-core machine: the bench client, the simulator, Redis and \
             routeq all run on the same cores, so each steals CPU from the others and absolute numbers \
             are lower bounds of what routeq does on dedicated hardware. Redis CPU is the whole \
             server's (`INFO cpu`), including anything else using that Redis during the run. \
             Median and min–max are over {} run(s) per scenario, each on one fleet warmed up with {} jobs.",
            self.machine.cpus, self.args.runs, self.args.warmup_jobs
        );
        out
    }

    fn header(&self, out: &mut String) {
        let m = self.machine;
        let a = self.args;
        let _ = writeln!(out, "# routeq benchmark\n");
        let _ = writeln!(out, "- **date**: {}", m.date_utc);
        let _ = writeln!(
            out,
            "- **machine**: {} CPUs ({}), {} RAM, Linux {}",
            m.cpus, m.cpu_model, m.mem_total, m.kernel
        );
        let _ = writeln!(out, "- **commit**: {}", m.git);
        let _ = writeln!(
            out,
            "- **Redis**: {} at {} (shared; the bench uses its own key prefix)",
            self.redis_version, a.redis_url
        );
        let _ = writeln!(
            out,
            "- **fleet**: 1 gateway, {} workers × `--concurrency {}`, release binaries from `{}`; \
             {} HTTP/1.1 keep-alive client connections",
            a.workers,
            a.concurrency,
            a.bin_dir.display(),
            a.clients
        );
        let _ = writeln!(
            out,
            "- **parameters**: `--runs {} --jobs {} --clients {} --workers {} --concurrency {} \
             --overhead-jobs {} --overhead-clients {} --capacity-jobs {} --warmup-jobs {}`; CPU clock {} \
             ticks/s. Every job's coordinates are unique (no cache hits, no coalescing); the keys \
             a run leaves are deleted before the next.\n",
            a.runs,
            a.jobs,
            a.clients,
            a.workers,
            a.concurrency,
            a.overhead_jobs,
            a.overhead_clients(),
            a.capacity_jobs,
            a.warmup_jobs,
            self.ticks_per_s
        );
    }

    fn throughput(&self, out: &mut String, runs: &[ThroughputRun]) {
        let a = self.args;
        let _ = writeln!(
            out,
            "Simulator latency 0 ms. {} jobs per run, `POST /v1/routes` from {} clients as fast as \
             they go (every answer 202); completions counted on `{{prefix}}:done`, subscribed before \
             the first submission (every job completed, and every job ended `succeeded`).\n",
            a.jobs, a.clients
        );
        let col = |f: &dyn Fn(&ThroughputRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let _ = writeln!(out, "| metric | median | min – max | runs |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        let rows: Vec<(&str, Vec<f64>, usize)> = vec![
            (
                "submissions/s (jobs ÷ first submit → last 202)",
                col(&|r| r.submissions_per_s()),
                0,
            ),
            (
                "completions/s (jobs ÷ first → last completion)",
                col(&|r| r.completions_per_s()),
                0,
            ),
            (
                "wall time, s (first submit → last completion)",
                col(&|r| r.wall_s),
                2,
            ),
            (
                "last completion after last 202, s",
                col(&|r| r.drain_lag_s),
                2,
            ),
            (
                "**CPU per job, routeq (gateway + workers + Redis), µs**",
                col(&|r| r.per_job_ms(r.cpu.routeq()) * 1e3),
                1,
            ),
            (
                "  ↳ gateway, µs",
                col(&|r| r.per_job_ms(r.cpu.gateway) * 1e3),
                1,
            ),
            (
                "  ↳ workers (all), µs",
                col(&|r| r.per_job_ms(r.cpu.workers) * 1e3),
                1,
            ),
            (
                "  ↳ Redis (whole server), µs",
                col(&|r| r.per_job_ms(r.cpu.redis) * 1e3),
                1,
            ),
            (
                "simulator (the external API's stand-in, not routeq), µs",
                col(&|r| r.per_job_ms(r.cpu.simulator) * 1e3),
                1,
            ),
            (
                "bench client, µs",
                col(&|r| r.per_job_ms(r.cpu.bench) * 1e3),
                1,
            ),
        ];
        for (label, values, d) in rows {
            let _ = writeln!(out, "| {label} | {} |", spread_cells(&values, d));
        }
        let _ = writeln!(
            out,
            "\nCores busy on average over the run (CPU seconds ÷ wall seconds, median): {}; all of \
             these together {} of the machine's {}.\n",
            [
                ("gateway", col(&|r| r.cpu.gateway / r.wall_s)),
                ("workers", col(&|r| r.cpu.workers / r.wall_s)),
                ("Redis", col(&|r| r.cpu.redis / r.wall_s)),
                ("simulator", col(&|r| r.cpu.simulator / r.wall_s)),
                ("bench client", col(&|r| r.cpu.bench / r.wall_s)),
            ]
            .iter()
            .map(|(n, v)| format!("{n} {}", spread_cell(v, 2)))
            .collect::<Vec<_>>()
            .join(", "),
            spread_cell(
                &col(&|r| (r.cpu.routeq() + r.cpu.simulator + r.cpu.bench) / r.wall_s),
                2
            ),
            self.machine.cpus
        );
    }

    fn overhead(&self, out: &mut String, runs: &[OverheadRun]) {
        let a = self.args;
        let clients = a.overhead_clients();
        let load = if clients == 1 {
            "One request at a time: an unloaded fleet.".to_string()
        } else {
            format!(
                "Both under the load of {clients} concurrent requests, so they include queueing \
                 (`--overhead-clients 1` measures an unloaded fleet)."
            )
        };
        let _ = writeln!(
            out,
            "Simulator latency 0 ms. {clients} closed-loop client(s) each send `POST /v1/routes` \
             with `Prefer: wait=30` and wait for the answer before sending the next, {} jobs per \
             run (every answer 200 `succeeded`). e2e = send → whole 200 response read, at the \
             client; overhead = e2e − `timings.provider_us` (what the worker reports as its time \
             waiting on provider calls). {load} Milliseconds; each cell is the median over runs \
             (min–max).\n",
            a.overhead_jobs,
        );
        let _ = writeln!(out, "| ms | p50 | p95 | p99 | max |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for (label, pick) in [
            (
                "end to end",
                (|r: &OverheadRun| r.e2e_ms) as fn(&OverheadRun) -> crate::stats::Percentiles,
            ),
            ("overhead (e2e − provider)", |r: &OverheadRun| {
                r.overhead_ms
            }),
        ] {
            let col = |f: fn(&crate::stats::Percentiles) -> f64| {
                spread_cell(&runs.iter().map(|r| f(&pick(r))).collect::<Vec<_>>(), 3)
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} |",
                col(|p| p.p50),
                col(|p| p.p95),
                col(|p| p.p99),
                col(|p| p.max)
            );
        }
        let _ = writeln!(
            out,
            "\nClosed-loop rate: {} jobs/s; mean provider time per job: {} ms.\n",
            spread_cell(&runs.iter().map(|r| r.jobs_per_s).collect::<Vec<_>>(), 0),
            spread_cell(
                &runs.iter().map(|r| r.provider_mean_ms).collect::<Vec<_>>(),
                3
            )
        );
    }

    fn capacity(&self, out: &mut String, runs: &[CapacityRun]) {
        let a = self.args;
        let (lo, hi) = CAPACITY_LATENCY_MS;
        let _ = writeln!(
            out,
            "Simulator latency uniform in {lo}–{hi} ms (one directions call per job: coordinates \
             need no geocoding). A backlog of {} jobs is submitted as fast as the clients go; the \
             rate is the completions between the moments 10 % and 90 % of the jobs had completed, \
             divided by the time between them (ramp-up and tail excluded). Theoretical capacity = \
             workers × concurrency ÷ mean provider latency = {} × {} ÷ {:.3} s; the observed mean is \
             that of `timings.provider_us` over a sample of jobs read back with `GET /v1/routes/{{id}}`.\n",
            a.capacity_jobs,
            a.workers,
            a.concurrency,
            (lo + hi) as f64 / 2.0 / 1e3
        );
        let col = |f: &dyn Fn(&CapacityRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let _ = writeln!(out, "| metric | median | min – max | runs |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        let rows: Vec<(String, Vec<f64>, usize)> = vec![
            (
                "completions/s, 10–90 % window".into(),
                col(&|r| r.window_rate),
                0,
            ),
            (
                format!(
                    "theoretical, configured mean {:.0} ms, /s",
                    (lo + hi) as f64 / 2.0
                ),
                col(&|r| r.theoretical_cfg),
                0,
            ),
            (
                "**achieved ÷ theoretical (configured), %**".into(),
                col(&|r| 100.0 * r.window_rate / r.theoretical_cfg),
                1,
            ),
            (
                format!(
                    "observed mean provider latency, ms (sample of {})",
                    runs.first().map(|r| r.sampled).unwrap_or(0)
                ),
                col(&|r| r.observed_latency_ms),
                1,
            ),
            (
                "theoretical, observed mean, /s".into(),
                col(&|r| r.theoretical_obs),
                0,
            ),
            (
                "**achieved ÷ theoretical (observed), %**".into(),
                col(&|r| 100.0 * r.window_rate / r.theoretical_obs),
                1,
            ),
            ("backlog submitted in, s".into(), col(&|r| r.submit_s), 2),
            (
                "drained in, s (first submit → last completion)".into(),
                col(&|r| r.drain_s),
                2,
            ),
        ];
        for (label, values, d) in rows {
            let _ = writeln!(out, "| {label} | {} |", spread_cells(&values, d));
        }
        let _ = writeln!(out);
    }
}

fn section<T>(
    out: &mut String,
    title: &str,
    outcome: &Result<Vec<T>, String>,
    body: impl FnOnce(&mut String, &[T]),
) {
    let _ = writeln!(out, "## {title}\n");
    match outcome {
        Ok(runs) => body(out, runs),
        Err(e) => {
            let _ = writeln!(out, "**FAILED**:\n\n```\n{e}\n```\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_median_spread_and_runs() {
        assert_eq!(
            spread_cells(&[3.0, 1.0, 2.0], 1),
            "2.0 | 1.0 – 3.0 | 3.0, 1.0, 2.0"
        );
        assert_eq!(spread_cell(&[1.2344, 1.0, 2.0], 3), "1.234 (1.000–2.000)");
        assert_eq!(spread_cell(&[], 3), "–");
    }
}
