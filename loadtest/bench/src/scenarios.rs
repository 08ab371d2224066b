//! The three scenarios. Each starts a fresh fleet with its own key prefix, warms it up, runs
//! `--runs` times and deletes its keys, whether it succeeded or not.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use redis::aio::MultiplexedConnection;

use crate::cli::Args;
use crate::completions::{CompletionLog, Completions};
use crate::cpu::CpuTimes;
use crate::fleet::{Fleet, FleetSpec};
use crate::load;
use crate::redis_ops;
use crate::stats::{Percentiles, window_rate};

/// The simulator's default provider latency, used by the capacity scenario.
pub const CAPACITY_LATENCY_MS: (u64, u64) = (150, 250);
/// No completion for this long means the fleet is stuck.
const STALL: Duration = Duration::from_secs(30);
/// Jobs whose provider time is read back to measure the observed latency in a capacity run.
const LATENCY_SAMPLE: usize = 500;

/// Key prefixes in use, shared with `main` so an interrupted run still cleans up.
pub type Prefixes = Arc<Mutex<Vec<String>>>;

/// What every scenario shares.
pub struct Bench {
    pub args: Args,
    pub redis: redis::Client,
    pub conn: MultiplexedConnection,
    pub ticks_per_s: f64,
    pub log_root: PathBuf,
    pub prefixes: Prefixes,
    /// Plain client for readiness probes.
    pub http: reqwest::Client,
    /// Numbers the next job body, so bodies differ across runs.
    next_job: u64,
    run_id: String,
}

impl Bench {
    pub fn new(
        args: Args,
        redis: redis::Client,
        conn: MultiplexedConnection,
        prefixes: Prefixes,
    ) -> anyhow::Result<Bench> {
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building an HTTP client")?;
        Ok(Bench {
            log_root: std::env::temp_dir().join(format!("routeq-bench-{run_id}")),
            args,
            redis,
            conn,
            ticks_per_s: crate::cpu::clock_ticks_per_s(),
            prefixes,
            http,
            next_job: 0,
            run_id,
        })
    }

    fn take_jobs(&mut self, n: u64) -> u64 {
        let first = self.next_job;
        self.next_job += n;
        first
    }

    /// Starts a fleet for `scenario` and pushes the warm-up jobs through it.
    async fn start_fleet(
        &mut self,
        scenario: &str,
        latency_ms: (u64, u64),
    ) -> anyhow::Result<(Fleet, Vec<reqwest::Client>)> {
        let prefix = format!("{{bench-{}-{scenario}}}", self.run_id);
        if let Ok(mut p) = self.prefixes.lock() {
            p.push(prefix.clone());
        }
        let spec = FleetSpec {
            bin_dir: self.args.bin_dir.clone(),
            redis_url: self.args.redis_url.clone(),
            workers: self.args.workers,
            concurrency: self.args.concurrency,
            latency_min_ms: latency_ms.0,
            latency_max_ms: latency_ms.1,
            log_dir: self.log_root.join(scenario),
            prefix,
        };
        progress(&format!(
            "{scenario}: starting simulator ({}–{} ms), gateway, {} workers × {} (prefix {}, logs in {})",
            latency_ms.0,
            latency_ms.1,
            spec.workers,
            spec.concurrency,
            spec.prefix,
            spec.log_dir.display()
        ));
        let mut fleet = Fleet::start(spec, &self.http).await?;
        let clients = load::make_clients(self.args.clients)?;
        if self.args.warmup_jobs > 0 {
            progress(&format!(
                "{scenario}: warm-up, {} jobs",
                self.args.warmup_jobs
            ));
            let n = self.args.warmup_jobs;
            self.push_through(&mut fleet, &clients, n).await?;
            self.reset(&fleet).await?;
        }
        Ok((fleet, clients))
    }

    /// Stops the fleet and deletes its keys.
    async fn finish(&mut self, fleet: Fleet) {
        let prefix = fleet.prefix.clone();
        drop(fleet);
        match redis_ops::delete_prefix(&mut self.conn, &prefix, &[]).await {
            Ok(n) => {
                progress(&format!("deleted {n} keys under {prefix}"));
                if let Ok(mut p) = self.prefixes.lock() {
                    p.retain(|x| x != &prefix);
                }
            }
            Err(e) => progress(&format!(
                "warning: could not delete keys under {prefix}: {e:#}"
            )),
        }
    }

    /// Between runs: deletes what the last run left under the fleet's prefix (job records, the
    /// records outbox no recorder drains here, cached answers), keeping the jobs stream and its
    /// consumer group, so every run starts from the same Redis state.
    async fn reset(&mut self, fleet: &Fleet) -> anyhow::Result<()> {
        let keep = [redis_ops::jobs_stream(&fleet.prefix)?];
        redis_ops::delete_prefix(&mut self.conn, &fleet.prefix, &keep)
            .await
            .context("deleting the last run's keys")?;
        Ok(())
    }

    /// Submits `n` jobs, waits for all of them and checks they succeeded.
    async fn push_through(
        &mut self,
        fleet: &mut Fleet,
        clients: &[reqwest::Client],
        n: u64,
    ) -> anyhow::Result<(load::Submitted, CompletionLog)> {
        let mut completions = Completions::subscribe(&self.redis, &fleet.prefix).await?;
        let first = self.take_jobs(n);
        let submitted = load::submit_all(clients, &fleet.gateway_url, first, n).await?;
        let log = self
            .wait_completions(fleet, &mut completions, &submitted.ids)
            .await?;
        self.check_succeeded(fleet, &submitted.ids).await?;
        Ok((submitted, log))
    }

    async fn wait_completions(
        &mut self,
        fleet: &mut Fleet,
        completions: &mut Completions,
        ids: &[String],
    ) -> anyhow::Result<CompletionLog> {
        let expected: HashSet<String> = ids.iter().cloned().collect();
        if expected.len() != ids.len() {
            bail!(
                "the gateway returned {} distinct ids for {} accepted jobs",
                expected.len(),
                ids.len()
            );
        }
        let log = match completions.wait_all(&expected, STALL).await {
            Ok(log) => log,
            Err(e) => {
                fleet.check_alive()?;
                let states = redis_ops::job_states(&mut self.conn, &fleet.prefix, ids)
                    .await
                    .unwrap_or_default();
                return Err(e.context(format!("job states now: {states:?}")));
            }
        };
        if log.duplicates > 0 {
            bail!(
                "{} completions were published more than once (routeq publishes each job once)",
                log.duplicates
            );
        }
        if log.strangers > 0 {
            progress(&format!(
                "warning: {} completions of ids this run did not submit",
                log.strangers
            ));
        }
        Ok(log)
    }

    /// Every job must have ended `succeeded`.
    async fn check_succeeded(&mut self, fleet: &Fleet, ids: &[String]) -> anyhow::Result<()> {
        let states = redis_ops::job_states(&mut self.conn, &fleet.prefix, ids).await?;
        let ok = states.get("succeeded").copied().unwrap_or(0);
        if ok != ids.len() {
            bail!(
                "{} of {} jobs did not succeed; states: {states:?}",
                ids.len() - ok,
                ids.len()
            );
        }
        Ok(())
    }
}

fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// One throughput run.
#[derive(Debug, Clone)]
pub struct ThroughputRun {
    pub jobs: u64,
    /// First submit → last 202.
    pub submit_s: f64,
    /// First → last completion.
    pub completion_span_s: f64,
    /// First submit → last completion.
    pub wall_s: f64,
    /// Last 202 → last completion: how far the workers trailed the gateway.
    pub drain_lag_s: f64,
    /// CPU used during the run, per process.
    pub cpu: CpuTimes,
}

impl ThroughputRun {
    pub fn submissions_per_s(&self) -> f64 {
        self.jobs as f64 / self.submit_s
    }
    pub fn completions_per_s(&self) -> f64 {
        self.jobs as f64 / self.completion_span_s
    }
    /// CPU milliseconds per job.
    pub fn per_job_ms(&self, cpu_s: f64) -> f64 {
        cpu_s * 1e3 / self.jobs as f64
    }
}

pub async fn throughput(b: &mut Bench) -> anyhow::Result<Vec<ThroughputRun>> {
    let (mut fleet, clients) = b.start_fleet("throughput", (0, 0)).await?;
    let result = async {
        let mut runs = Vec::new();
        for run in 1..=b.args.runs {
            let jobs = b.args.jobs;
            progress(&format!(
                "throughput run {run}/{}: {jobs} jobs",
                b.args.runs
            ));
            let pids = fleet.pids();
            let mut completions = Completions::subscribe(&b.redis, &fleet.prefix).await?;
            let before = CpuTimes::sample(&pids, b.ticks_per_s, &mut b.conn).await?;
            let first = b.take_jobs(jobs);
            let submitted = load::submit_all(&clients, &fleet.gateway_url, first, jobs).await?;
            let log = b
                .wait_completions(&mut fleet, &mut completions, &submitted.ids)
                .await?;
            let after = CpuTimes::sample(&pids, b.ticks_per_s, &mut b.conn).await?;
            b.check_succeeded(&fleet, &submitted.ids).await?;
            let (Some(&first_done), Some(&last_done)) = (log.times.first(), log.times.last())
            else {
                bail!("no completions recorded");
            };
            let r = ThroughputRun {
                jobs,
                submit_s: secs(submitted.started, submitted.last_accepted),
                completion_span_s: secs(first_done, last_done),
                wall_s: secs(submitted.started, last_done),
                drain_lag_s: secs(submitted.last_accepted, last_done),
                cpu: after.since(&before),
            };
            progress(&format!(
                "  {:.0} submissions/s, {:.0} completions/s, wall {:.2} s, routeq CPU {:.3} ms/job",
                r.submissions_per_s(),
                r.completions_per_s(),
                r.wall_s,
                r.per_job_ms(r.cpu.routeq())
            ));
            runs.push(r);
            fleet.check_alive()?;
            b.reset(&fleet).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(runs)
    }
    .await;
    b.finish(fleet).await;
    result
}

/// One overhead run: per-job times in milliseconds.
#[derive(Debug, Clone)]
pub struct OverheadRun {
    pub e2e_ms: Percentiles,
    pub overhead_ms: Percentiles,
    pub provider_mean_ms: f64,
    pub jobs_per_s: f64,
}

pub async fn overhead(b: &mut Bench) -> anyhow::Result<Vec<OverheadRun>> {
    let (mut fleet, _) = b.start_fleet("overhead", (0, 0)).await?;
    let clients = load::make_clients(b.args.overhead_clients())?;
    let result = async {
        let mut runs = Vec::new();
        for run in 1..=b.args.runs {
            let jobs = b.args.overhead_jobs;
            progress(&format!(
                "overhead run {run}/{}: {jobs} jobs from {} clients, Prefer: wait=30",
                b.args.runs,
                clients.len()
            ));
            let first = b.take_jobs(jobs);
            let (waited, ids, wall) =
                match load::submit_and_wait_all(&clients, &fleet.gateway_url, first, jobs).await {
                    Ok(x) => x,
                    Err(e) => {
                        fleet.check_alive()?;
                        return Err(e);
                    }
                };
            b.check_succeeded(&fleet, &ids).await?;
            let e2e: Vec<f64> = waited.iter().map(|w| w.e2e.as_secs_f64() * 1e3).collect();
            let overhead: Vec<f64> = waited
                .iter()
                .map(|w| w.e2e.as_secs_f64() * 1e3 - w.provider_us as f64 / 1e3)
                .collect();
            let provider_mean_ms = waited.iter().map(|w| w.provider_us as f64).sum::<f64>()
                / 1e3
                / waited.len().max(1) as f64;
            let r = OverheadRun {
                e2e_ms: Percentiles::of(&e2e).context("no samples")?,
                overhead_ms: Percentiles::of(&overhead).context("no samples")?,
                provider_mean_ms,
                jobs_per_s: jobs as f64 / wall.as_secs_f64(),
            };
            progress(&format!(
                "  e2e p50 {:.3} ms p99 {:.3} ms; overhead p50 {:.3} ms p99 {:.3} ms; {:.0} jobs/s",
                r.e2e_ms.p50, r.e2e_ms.p99, r.overhead_ms.p50, r.overhead_ms.p99, r.jobs_per_s
            ));
            runs.push(r);
            fleet.check_alive()?;
            b.reset(&fleet).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(runs)
    }
    .await;
    b.finish(fleet).await;
    result
}

/// One capacity run.
#[derive(Debug, Clone)]
pub struct CapacityRun {
    /// First submit → last 202.
    pub submit_s: f64,
    /// First submit → last completion.
    pub drain_s: f64,
    /// Completions/s between 10 % and 90 % of jobs completed.
    pub window_rate: f64,
    /// workers × concurrency / configured mean latency.
    pub theoretical_cfg: f64,
    /// Mean `timings.provider_us` of the sampled jobs, in ms.
    pub observed_latency_ms: f64,
    /// workers × concurrency / observed mean latency.
    pub theoretical_obs: f64,
    pub sampled: usize,
}

pub async fn capacity(b: &mut Bench) -> anyhow::Result<Vec<CapacityRun>> {
    let (mut fleet, clients) = b.start_fleet("capacity", CAPACITY_LATENCY_MS).await?;
    let slots = (b.args.workers * b.args.concurrency) as f64;
    let cfg_mean_s = (CAPACITY_LATENCY_MS.0 + CAPACITY_LATENCY_MS.1) as f64 / 2.0 / 1e3;
    let result = async {
        let mut runs = Vec::new();
        for run in 1..=b.args.runs {
            let jobs = b.args.capacity_jobs;
            progress(&format!(
                "capacity run {run}/{}: backlog of {jobs} jobs",
                b.args.runs
            ));
            let mut completions = Completions::subscribe(&b.redis, &fleet.prefix).await?;
            let first = b.take_jobs(jobs);
            let submitted = load::submit_all(&clients, &fleet.gateway_url, first, jobs).await?;
            let log = b
                .wait_completions(&mut fleet, &mut completions, &submitted.ids)
                .await?;
            let times: Vec<f64> = log
                .times
                .iter()
                .map(|t| secs(submitted.started, *t))
                .collect();
            let window = window_rate(&times, 0.1, 0.9).context("empty completion window")?;
            let step = (submitted.ids.len() / LATENCY_SAMPLE).max(1);
            let sample: Vec<String> = submitted
                .ids
                .iter()
                .step_by(step)
                .take(LATENCY_SAMPLE)
                .cloned()
                .collect();
            let provider_us = load::provider_us_of(&clients, &fleet.gateway_url, &sample).await?;
            let observed_s =
                provider_us.iter().map(|u| *u as f64).sum::<f64>() / 1e6 / sample.len() as f64;
            b.check_succeeded(&fleet, &submitted.ids).await?;
            let r = CapacityRun {
                submit_s: secs(submitted.started, submitted.last_accepted),
                drain_s: times.last().copied().unwrap_or(0.0),
                window_rate: window,
                theoretical_cfg: slots / cfg_mean_s,
                observed_latency_ms: observed_s * 1e3,
                theoretical_obs: slots / observed_s,
                sampled: sample.len(),
            };
            progress(&format!(
                "  {:.0} completions/s in the 10–90 % window = {:.1} % of {:.0}/s; observed provider latency {:.1} ms → {:.1} % of {:.0}/s",
                r.window_rate,
                100.0 * r.window_rate / r.theoretical_cfg,
                r.theoretical_cfg,
                r.observed_latency_ms,
                100.0 * r.window_rate / r.theoretical_obs,
                r.theoretical_obs
            ));
            runs.push(r);
            fleet.check_alive()?;
            b.reset(&fleet).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(runs)
    }
    .await;
    b.finish(fleet).await;
    result
}
