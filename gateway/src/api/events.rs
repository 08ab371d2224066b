//! `GET /v1/routes/{id}/events`: the job's life as server-sent events, `queued` (id 1),
//! `running` (id 2, unless it ended before a worker started it), then `finished` (id 3) with the
//! job as `GET` shows it, and the stream ends. `Last-Event-ID: n` resumes after event `n`: every
//! event is derived from the job record, so a reconnect loses nothing.
//!
//! It rides the gateway's one completion subscription ([`crate::waiters`]): the terminal event
//! comes with the job's `done` wake-up. No message announces that a worker started a job, so while
//! it waits the stream also reads the job every 250 ms (one `HGETALL`) to see `running`. A stream
//! takes one of the `--max-waiters` slots and lasts at most `--max-wait-s`; then it ends (a
//! client reconnects with `Last-Event-ID`, as `retry:` tells it).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::{JobRecord, JobState};

use crate::auth::Tenant;
use crate::http::{ApiError, RequestId};
use crate::state::AppState;

/// How often a waiting stream reads the job to see it start.
const RUNNING_POLL: Duration = Duration::from_millis(250);

/// The events of a job as it is now: (id, name) in order.
fn events_of(r: &JobRecord) -> Vec<(u8, &'static str)> {
    let mut out = vec![(1, "queued")];
    let ran = r.started_ms > 0 || r.state == JobState::Running;
    if ran {
        out.push((2, "running"));
    }
    if r.state.is_terminal() {
        out.push((3, "finished"));
    }
    out
}

fn sse_event(id: u8, name: &str, r: &JobRecord) -> Event {
    let data = serde_json::to_string(&r.view()).unwrap_or_else(|_| "{}".to_string());
    Event::default()
        .id(id.to_string())
        .event(name)
        .data(data)
        .retry(Duration::from_secs(1))
}

/// `GET /v1/routes/{id}/events`.
/// Every error code the event stream can answer with before it starts.
pub const ANSWERS: &[Code] = &[
    Code::JobNotFound,
    Code::Unauthorized,
    Code::RateLimited,
    Code::HeadersTooLarge,
    Code::QueueUnavailable,
    Code::InternalError,
];

super::openapi::answers!(
    /// The error responses of the event stream.
    EventAnswers,
    ANSWERS,
    None
);

/// One server-sent event, as its fields arrive (`data` is the job as `GET /v1/routes/{id}`
/// shows it, as JSON text).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SseEvent {
    /// `queued`, `running` or `finished`.
    #[schema(example = "finished")]
    event: String,
    /// `1`, `2` or `3`: send it back as `Last-Event-ID` to resume after this event.
    #[schema(example = "3")]
    id: String,
    /// The job, JSON.
    data: String,
    /// How long a client waits before reconnecting, ms.
    retry: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/routes/{id}/events",
    tag = "routes",
    summary = "Follow a job as server-sent events",
    description = "A `text/event-stream`: `queued` (id 1), `running` (id 2), then `finished` (id 3) whose data is the job as `GET /v1/routes/{id}` shows it, and the stream ends. Send `Last-Event-ID` to resume after that event. A stream lasts at most `--max-wait-s`; reconnect with `Last-Event-ID` to go on.",
    params(
        ("id" = String, Path, description = "The job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (1, 2 or 3)"),
    ),
    responses(
        (status = 200, description = "The event stream: each event as below", content_type = "text/event-stream", body = SseEvent),
        EventAnswers,
    )
)]
pub async fn events(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Code::JobNotFound, &rid, "no such job");
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(not_found());
    }
    let after: u8 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // Armed before the first read: a completion between the read and the wait is not missed.
    let watch = app.waiters.watch(&id);
    let first = app
        .store
        .get(&tenant.id, &id)
        .await
        .map_err(|e| ApiError::queue_unavailable(&rid, &e))?
        .ok_or_else(not_found)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(4);
    let until = Instant::now() + Duration::from_secs(app.cfg.max_wait_s.max(1));
    let state = app.clone();
    let tenant_id = tenant.id.clone();
    tokio::spawn(async move {
        let mut sent = after;
        let mut record = first;
        let mut watch = watch;
        loop {
            for (eid, name) in events_of(&record) {
                if eid > sent {
                    if tx.send(sse_event(eid, name, &record)).await.is_err() {
                        return; // The client left.
                    }
                    sent = eid;
                }
            }
            if record.state.is_terminal() || Instant::now() >= until || tx.is_closed() {
                return;
            }
            match watch.as_mut() {
                // Without a wait slot the stream ends here; the client reconnects.
                None => return,
                Some(w) => {
                    tokio::select! {
                        () = w.next_wake(RUNNING_POLL) => {},
                        () = state.shutdown.cancelled() => return,
                    }
                }
            }
            match state.store.get(&tenant_id, &record.id).await {
                Ok(Some(r)) => record = r,
                // Gone (its TTL passed) or Redis unreachable: end; a reconnect says which.
                Ok(None) | Err(_) => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: JobState, started_ms: u64) -> JobRecord {
        JobRecord {
            id: "j".into(),
            tenant: "t".into(),
            request_id: String::new(),
            request_json: "{}".into(),
            state,
            code: Code::JobQueued,
            submitted_ms: 1,
            deadline_ms: 2,
            started_ms,
            finished_ms: 0,
            attempts: 0,
            outcome: None,
        }
    }

    #[test]
    fn a_job_that_never_ran_has_no_running_event() {
        let names = |r: &JobRecord| events_of(r).into_iter().map(|e| e.1).collect::<Vec<_>>();
        assert_eq!(names(&record(JobState::Queued, 0)), ["queued"]);
        assert_eq!(names(&record(JobState::Running, 5)), ["queued", "running"]);
        assert_eq!(
            names(&record(JobState::Succeeded, 5)),
            ["queued", "running", "finished"]
        );
        assert_eq!(
            names(&record(JobState::Cancelled, 0)),
            ["queued", "finished"]
        );
    }
}
