//! Delivering to a real receiver on loopback (allowlisted): the Standard Webhooks headers,
//! the classification of every kind of answer, retries until the receiver recovers, the
//! schedule's horizon, rotation and filters.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use routeq_notify::{
    DelivererConfig, Delivery, Endpoint, EventFilter, Failure, HttpConfig, Next, Outcome, Report,
    Schedule, Secret, Skip,
};
use routeq_receiver::Mode;

fn fail(status: u16) -> Mode {
    Mode {
        status: Some(status),
        ..Mode::default()
    }
}

#[tokio::test]
async fn a_delivery_is_signed_and_verified_by_the_receiver() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config());
    let ev = event();
    let ep = endpoint("ep_ok", &rx.url("/hooks/a"), &secret);
    let report = d.deliver(&delivery(&ev, &ep)).await;
    assert_eq!(report.outcome, Outcome::Delivered { status: 200 });
    assert_eq!((report.next, report.attempts_made), (Next::Done, 1));
    assert!(report.latency.is_some());
    let body = report.response.unwrap().body;
    assert_eq!(
        body,
        format!(r#"{{"received":"{}"}}"#, ev.id()),
        "the receiver saw our webhook-id"
    );
    let s = rx.stats();
    assert_eq!(
        (
            s.requests,
            s.verified,
            s.accepted,
            s.unique,
            s.duplicates,
            s.bad_signature
        ),
        (1, 1, 1, 1, 0, 0)
    );
    assert_eq!(s.not_json, 0, "sent as application/json");
}

#[tokio::test]
async fn the_same_webhook_id_on_every_retry() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config());
    let (ev, ep) = (event(), endpoint("ep_retry_id", &rx.url("/"), &secret));
    rx.set_mode(Mode {
        status: Some(503),
        count: Some(2),
        ..Mode::default()
    });
    let mut job = delivery(&ev, &ep);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let report = d.deliver(&job).await;
        outcomes.push(report.outcome.class());
        job.attempts_made = report.attempts_made;
    }
    assert_eq!(outcomes, ["5xx", "5xx", "2xx"]);
    let s = rx.stats();
    let ids = s.ids.unwrap();
    assert_eq!(ids.len(), 1, "one id across three attempts");
    assert_eq!((ids[ev.id()].requests, ids[ev.id()].accepted), (3, 1));
    assert_eq!((s.verified, s.failed_by_mode, s.duplicates), (3, 2, 0));
}

#[tokio::test]
async fn answers_are_classified_per_class() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config());
    let ep = endpoint("ep_classes", &rx.url("/"), &secret);
    let retry = |r: &Report| matches!(r.next, Next::RetryIn(_));
    for (status, retried) in [
        (201, None),
        (204, None),
        (400, Some(false)),
        (410, Some(false)),
        (413, Some(false)),
        (422, Some(false)),
        (401, Some(true)),
        (403, Some(true)),
        (404, Some(true)),
        (408, Some(true)),
        (429, Some(true)),
        (500, Some(true)),
        (502, Some(true)),
        (503, Some(true)),
    ] {
        rx.set_mode(fail(status));
        let report = d.deliver(&delivery(&event(), &ep)).await;
        match retried {
            None => assert_eq!(report.outcome, Outcome::Delivered { status }),
            Some(r) => {
                assert_eq!(
                    report.outcome,
                    Outcome::Failed(Failure::Status {
                        status,
                        retry_after: None
                    })
                );
                assert_eq!(retry(&report), r, "{status}: {report:?}");
                if !r {
                    assert_eq!(report.next, Next::DeadLetter, "{status}");
                }
            }
        }
    }
}

#[tokio::test]
async fn retry_after_is_honoured_within_its_cap() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(DelivererConfig {
        retry_after_max: Duration::from_secs(60),
        ..config()
    });
    let ep = endpoint("ep_retry_after", &rx.url("/"), &secret);
    for (after, want) in [("7", 7), ("3600", 60), ("0", 0)] {
        rx.set_mode(Mode {
            status: Some(429),
            retry_after: Some(after.into()),
            ..Mode::default()
        });
        let report = d.deliver(&delivery(&event(), &ep)).await;
        let Next::RetryIn(delay) = report.next else {
            panic!("{report:?}")
        };
        // The schedule's next delay is 100 ms ±20 %: Retry-After wins when it is longer.
        if want == 0 {
            assert!(delay <= Duration::from_millis(120), "{delay:?}");
        } else {
            assert_eq!(delay, Duration::from_secs(want), "Retry-After {after}");
        }
    }
}

#[tokio::test]
async fn a_bad_signature_is_refused_by_the_receiver_and_retried() {
    let (ours, theirs) = (Secret::generate().unwrap(), Secret::generate().unwrap());
    let rx = receiver(&theirs).await;
    let d = deliverer(config());
    let report = d
        .deliver(&delivery(
            &event(),
            &endpoint("ep_badsig", &rx.url("/"), &ours),
        ))
        .await;
    assert_eq!(report.outcome.class(), "4xx");
    assert!(
        matches!(report.next, Next::RetryIn(_)),
        "a 401 is the receiver's to fix"
    );
    let s = rx.stats();
    assert_eq!(
        (s.bad_signature, s.rejected.no_match, s.accepted),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn rotation_overlap_signs_with_both_secrets() {
    let (old, new) = (Secret::generate().unwrap(), Secret::generate().unwrap());
    let rx = receiver(&old).await;
    let d = deliverer(config());
    let ep = Arc::new(
        Endpoint::new(
            "ep_rot",
            &rx.url("/"),
            vec![new.clone(), old],
            EventFilter::all(),
        )
        .unwrap(),
    );
    assert_eq!(
        d.deliver(&delivery(&event(), &ep)).await.outcome.class(),
        "2xx",
        "old secret verifies"
    );
    rx.add_secret(new);
    assert_eq!(
        d.deliver(&delivery(&event(), &ep)).await.outcome.class(),
        "2xx"
    );
    assert_eq!(rx.stats().accepted, 2);
}

#[tokio::test]
async fn timeouts_refused_connections_and_capped_bodies() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let http = HttpConfig {
        timeout: Duration::from_millis(300),
        max_response_bytes: 100,
        ..HttpConfig::default()
    };
    let d = deliverer(DelivererConfig { http, ..config() });
    let ep = endpoint("ep_slow", &rx.url("/"), &secret);
    rx.set_mode(Mode {
        delay_ms: 2_000,
        ..Mode::default()
    });
    let started = Instant::now();
    let report = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(report.outcome, Outcome::Failed(Failure::Timeout));
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(report.next, Next::RetryIn(_)));

    rx.set_mode(Mode {
        body_bytes: Some(1_000_000),
        ..Mode::default()
    });
    let report = d.deliver(&delivery(&event(), &ep)).await;
    let response = report.response.unwrap();
    assert_eq!((response.body.len(), response.truncated), (100, true));
    assert_eq!(report.outcome, Outcome::Delivered { status: 200 });

    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nobody = endpoint("ep_closed", &format!("http://{closed}/"), &secret);
    let report = d.deliver(&delivery(&event(), &nobody)).await;
    assert_eq!(report.outcome.class(), "connect", "{report:?}");
    assert!(matches!(report.next, Next::RetryIn(_)));
}

#[tokio::test]
async fn filtered_events_are_skipped_without_a_request() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config());
    let only_failed = EventFilter::new(["route.failed"]);
    let ep = Arc::new(Endpoint::new("ep_filter", &rx.url("/"), vec![secret], only_failed).unwrap());
    let report = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(
        (report.outcome, report.next),
        (Outcome::Skipped(Skip::Filtered), Next::Done)
    );
    assert_eq!(rx.stats().requests, 0);
}

/// Follows the reports' `next` like a notifier would, until done or dead.
async fn drive(d: &routeq_notify::Deliverer, mut job: Delivery, limit: usize) -> (Report, usize) {
    for calls in 1..=limit {
        let report = d.deliver(&job).await;
        match report.next {
            Next::RetryIn(delay) => {
                tokio::time::sleep(delay).await;
                job.attempts_made = report.attempts_made;
            }
            Next::Done | Next::DeadLetter => return (report, calls),
        }
    }
    panic!("no end after {limit} calls");
}

#[tokio::test]
async fn a_receiver_failing_for_a_while_then_recovering_gets_the_event() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let schedule: Schedule = "0,200ms,400ms,800ms,1600ms,3s".parse().unwrap();
    let d = deliverer(DelivererConfig {
        schedule,
        ..config()
    });
    let (ev, ep) = (event(), endpoint("ep_outage", &rx.url("/"), &secret));
    rx.set_mode(Mode {
        status: Some(500),
        until_s: Some(1.0),
        ..Mode::default()
    });
    let started = Instant::now();
    let (report, _) = drive(&d, delivery(&ev, &ep), 20).await;
    assert_eq!(report.outcome, Outcome::Delivered { status: 200 });
    assert!(report.attempts_made >= 3, "{report:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    let s = rx.stats();
    assert_eq!((s.accepted, s.duplicates, s.unique), (1, 0, 1));
    assert_eq!(s.failed_by_mode, u64::from(report.attempts_made - 1));
}

#[tokio::test]
async fn a_receiver_down_past_the_horizon_makes_a_dead_letter() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config()); // 4 attempts: 0, 100, 200, 400 ms
    rx.set_mode(fail(503));
    let (report, calls) = drive(
        &d,
        delivery(&event(), &endpoint("ep_dead", &rx.url("/"), &secret)),
        20,
    )
    .await;
    assert_eq!(
        (report.next, report.attempts_made, calls),
        (Next::DeadLetter, 4, 4)
    );
    assert_eq!(rx.stats().requests, 4);
}
