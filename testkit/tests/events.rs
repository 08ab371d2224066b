//! `GET /v1/routes/{id}/events`: server-sent events of a job, against a real gateway, worker,
//! simulator and Redis.

use std::time::Duration;

use reqwest::StatusCode;
use routeq_testkit::sim::latency as sim_latency;
use routeq_testkit::{Fleet, trip};
use serde_json::Value;

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: String,
    event: String,
    data: String,
}

/// Reads events from `res` until the stream ends or `max` events came.
async fn read_events(mut res: reqwest::Response, max: usize) -> (Vec<Sse>, bool) {
    let mut buf = String::new();
    let mut out = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(15), res.chunk())
            .await
            .expect("the stream stalled");
        let Some(chunk) = chunk.expect("chunk") else {
            return (out, true);
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut e = Sse {
                id: String::new(),
                event: String::new(),
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    e.id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("event:") {
                    e.event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    e.data.push_str(v.trim_start());
                }
            }
            if !e.event.is_empty() {
                out.push(e);
                if out.len() >= max {
                    return (out, false);
                }
            }
        }
    }
}

async fn open(fleet: &Fleet, id: &str, last: Option<&str>) -> reqwest::Response {
    let mut req = fleet
        .http
        .get(fleet.url(&format!("/v1/routes/{id}/events")));
    if let Some(l) = last {
        req = req.header("last-event-id", l);
    }
    let res = req.send().await.expect("get events");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("ct"),
        "text/event-stream"
    );
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_queued_running_then_the_finished_job_and_the_stream_ends() {
    // Each provider call takes 400 ms: the job is seen running.
    let fleet = Fleet::start(sim_latency(400, 400)).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let id = fleet.submit(&trip(1)).await;
    let (events, ended) = read_events(open(&fleet, &id, None).await, 10).await;
    assert!(ended, "the stream must end after the terminal event");
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["queued", "running", "finished"], "{events:?}");
    let ids: Vec<_> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    let last: Value = serde_json::from_str(&events[2].data).expect("json");
    let (status, got) = fleet.get(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        last, got,
        "the terminal event carries the job as GET shows it"
    );

    // Unknown (or another tenant's) job: 404 like GET.
    let res = fleet
        .http
        .get(fleet.url("/v1/routes/0190aaaa-0000-7000-8000-000000000000/events"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_resumes_without_loss() {
    let fleet = Fleet::start(sim_latency(500, 500)).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let id = fleet.submit(&trip(2)).await;
    // The first connection drops after the first event.
    let (first, ended) = read_events(open(&fleet, &id, None).await, 1).await;
    assert!(!ended);
    assert_eq!(first[0].event, "queued");
    let (rest, ended) = read_events(open(&fleet, &id, Some(&first[0].id)).await, 10).await;
    assert!(ended);
    let names: Vec<_> = first
        .iter()
        .chain(rest.iter())
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(names, ["queued", "running", "finished"], "{rest:?}");
    // After the end, resuming after the last event: nothing more, and the stream ends.
    let (none, ended) = read_events(open(&fleet, &id, Some("3")).await, 10).await;
    assert!(ended && none.is_empty(), "{none:?}");
}
