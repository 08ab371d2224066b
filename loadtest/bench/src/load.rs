//! Load generation: route job bodies, and the HTTP clients that submit them — one keep-alive
//! connection per client, clients pulling job numbers from one shared counter until none are left.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use tokio::task::JoinSet;

/// A route request near Seoul (37.5, 127.0); `n` varies the coordinates by up to ~0.1°.
pub fn route_body(n: u64) -> String {
    let a = (n % 1_000) as f64 * 1e-4;
    let b = ((n / 1_000) % 1_000) as f64 * 1e-4;
    format!(
        r#"{{"origin":{{"lat":{:.5},"lon":{:.5}}},"destination":{{"lat":{:.5},"lon":{:.5}}}}}"#,
        37.5 + a,
        127.0 + b,
        37.55 - b,
        127.05 - a
    )
}

/// One client per connection: a `reqwest::Client` that keeps at most one idle connection, used by
/// one task issuing requests one after another, keeps exactly one connection alive.
pub fn make_clients(n: u64) -> anyhow::Result<Vec<reqwest::Client>> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(60))
                .build()
                .context("building an HTTP client")
        })
        .collect()
}

/// What a batch of fire-and-forget submissions produced.
#[derive(Debug)]
pub struct Submitted {
    /// Ids of the accepted jobs.
    pub ids: Vec<String>,
    pub started: Instant,
    /// When the last 202 was read.
    pub last_accepted: Instant,
}

/// Submits jobs `first..first + count` (`POST /v1/routes`, expecting 202) as fast as the clients
/// go. Fails, after every request has been answered, if any was not a 202.
pub async fn submit_all(
    clients: &[reqwest::Client],
    gateway_url: &str,
    first: u64,
    count: u64,
) -> anyhow::Result<Submitted> {
    let url = format!("{gateway_url}/v1/routes");
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for client in clients {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        set.spawn(async move {
            let mut ids = Vec::new();
            let mut failures = Vec::new();
            let mut last = started;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                match submit_one(&client, &url, route_body(first + i)).await {
                    Ok(id) => {
                        last = Instant::now();
                        ids.push(id);
                    }
                    Err(e) => failures.push(format!("{e:#}")),
                }
            }
            (ids, failures, last)
        });
    }
    let mut ids = Vec::with_capacity(count as usize);
    let mut failures = Vec::new();
    let mut last_accepted = started;
    while let Some(joined) = set.join_next().await {
        let (mut i, mut f, last) = joined.context("a client task panicked")?;
        ids.append(&mut i);
        failures.append(&mut f);
        last_accepted = last_accepted.max(last);
    }
    if !failures.is_empty() {
        bail!(
            "{} of {count} submissions were not accepted with 202; first: {}",
            failures.len(),
            failures
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    Ok(Submitted {
        ids,
        started,
        last_accepted,
    })
}

async fn submit_one(client: &reqwest::Client, url: &str, body: String) -> anyhow::Result<String> {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .context("POST /v1/routes")?;
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read the whole body, so the connection is reused.
    let bytes = res.bytes().await.context("reading the 202 body")?;
    if status != StatusCode::ACCEPTED {
        bail!(
            "status {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
    }
    location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .context("202 without a Location naming the job")
}

/// One closed-loop `Prefer: wait` request.
#[derive(Debug, Clone, Copy)]
pub struct Waited {
    /// From sending the request to having read the whole 200 response.
    pub e2e: Duration,
    /// `timings.provider_us` of the finished job.
    pub provider_us: u64,
}

/// The part of a job body the bench reads.
#[derive(Debug, serde::Deserialize)]
struct JobBody {
    id: String,
    state: String,
    timings: JobTimings,
}

#[derive(Debug, serde::Deserialize)]
struct JobTimings {
    provider_us: u64,
}

/// Each client submits with `Prefer: wait=30` and waits for the answer before sending the next,
/// for jobs `first..first + count`. Every answer must be 200 with state `succeeded`.
pub async fn submit_and_wait_all(
    clients: &[reqwest::Client],
    gateway_url: &str,
    first: u64,
    count: u64,
) -> anyhow::Result<(Vec<Waited>, Vec<String>, Duration)> {
    let url = format!("{gateway_url}/v1/routes");
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for client in clients {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                match submit_and_wait(&client, &url, route_body(first + i)).await {
                    Ok(w) => out.push(w),
                    Err(e) => failures.push(format!("{e:#}")),
                }
            }
            (out, failures)
        });
    }
    let mut waited = Vec::with_capacity(count as usize);
    let mut ids = Vec::with_capacity(count as usize);
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (out, mut f) = joined.context("a client task panicked")?;
        for (w, id) in out {
            waited.push(w);
            ids.push(id);
        }
        failures.append(&mut f);
    }
    let wall = started.elapsed();
    if !failures.is_empty() {
        bail!(
            "{} of {count} waited submissions did not answer 200 succeeded; first: {}",
            failures.len(),
            failures
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    Ok((waited, ids, wall))
}

async fn submit_and_wait(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> anyhow::Result<(Waited, String)> {
    let sent = Instant::now();
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("prefer", "wait=30")
        .body(body)
        .send()
        .await
        .context("POST /v1/routes with Prefer: wait=30")?;
    let status = res.status();
    let bytes = res.bytes().await.context("reading the answer")?;
    let e2e = sent.elapsed();
    let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if status != StatusCode::OK {
        bail!("status {status}: {}", text());
    }
    let job: JobBody = serde_json::from_slice(&bytes)
        .with_context(|| format!("unexpected 200 body: {}", text()))?;
    if job.state != "succeeded" {
        bail!("job {} ended {}: {}", job.id, job.state, text());
    }
    Ok((
        Waited {
            e2e,
            provider_us: job.timings.provider_us,
        },
        job.id,
    ))
}

/// `timings.provider_us` of finished jobs, read with `GET /v1/routes/{id}` (each must be 200
/// `succeeded`), spread over the clients.
pub async fn provider_us_of(
    clients: &[reqwest::Client],
    gateway_url: &str,
    ids: &[String],
) -> anyhow::Result<Vec<u64>> {
    let ids = Arc::new(ids.to_vec());
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for client in clients {
        let (client, ids, next) = (client.clone(), ids.clone(), next.clone());
        let base = format!("{gateway_url}/v1/routes");
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(i) else { break };
                let res = client
                    .get(format!("{base}/{id}"))
                    .send()
                    .await
                    .with_context(|| format!("GET /v1/routes/{id}"))?;
                let status = res.status();
                let bytes = res.bytes().await.context("reading a job")?;
                if status != StatusCode::OK {
                    bail!(
                        "GET /v1/routes/{id}: status {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                    );
                }
                let job: JobBody = serde_json::from_slice(&bytes)
                    .with_context(|| format!("GET /v1/routes/{id}: unexpected body"))?;
                if job.state != "succeeded" {
                    bail!("job {id} ended {}", job.state);
                }
                out.push(job.timings.provider_us);
            }
            Ok(out)
        });
    }
    let mut all = Vec::with_capacity(ids.len());
    while let Some(joined) = set.join_next().await {
        all.append(&mut joined.context("a client task panicked")??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_vary_and_stay_near_seoul() {
        let a: serde_json::Value = serde_json::from_str(&route_body(0)).expect("json");
        let b: serde_json::Value = serde_json::from_str(&route_body(123_456)).expect("json");
        assert_ne!(a, b);
        for v in [a, b] {
            for end in ["origin", "destination"] {
                let lat = v[end]["lat"].as_f64().expect("lat");
                let lon = v[end]["lon"].as_f64().expect("lon");
                assert!((37.4..37.7).contains(&lat) && (126.9..127.2).contains(&lon));
            }
        }
    }
}
