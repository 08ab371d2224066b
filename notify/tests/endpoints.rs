//! Per-endpoint protection: the circuit breaker opens and defers (no attempt, no request), its
//! half-open trial decides; an endpoint failing longer than the threshold is disabled; an
//! endpoint's queue bound defers instead of piling up.

mod common;

use std::time::{Duration, Instant};

use common::*;
use routeq_notify::{
    BreakerPolicy, BreakerState, Deferral, DelivererConfig, Health, HealthChange, Next, Outcome,
    Secret, Skip,
};
use routeq_receiver::Mode;

fn breaker(n: u32, open_ms: u64) -> BreakerPolicy {
    BreakerPolicy {
        failures_to_open: n,
        open: Duration::from_millis(open_ms),
        open_max: Duration::from_millis(open_ms * 4),
    }
}

#[tokio::test]
async fn the_breaker_opens_defers_and_a_trial_closes_it() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(DelivererConfig {
        breaker: breaker(3, 400),
        ..config()
    });
    let ep = endpoint("ep_breaker", &rx.url("/"), &secret);
    rx.set_mode(Mode {
        status: Some(500),
        ..Mode::default()
    });
    let mut transitions = Vec::new();
    for _ in 0..3 {
        transitions.push(d.deliver(&delivery(&event(), &ep)).await.breaker);
    }
    assert_eq!(transitions, [None, None, Some(BreakerState::Open)]);
    assert_eq!(d.breaker_state("ep_breaker"), Some(BreakerState::Open));

    // While open: deferred, not attempted, no attempt spent, nothing sent.
    let mut job = delivery(&event(), &ep);
    job.attempts_made = 2;
    let report = d.deliver(&job).await;
    assert_eq!(report.outcome, Outcome::Deferred(Deferral::CircuitOpen));
    assert_eq!((report.attempts_made, report.latency), (2, None));
    let Next::RetryIn(wait) = report.next else {
        panic!("{report:?}")
    };
    assert!(wait <= Duration::from_millis(400), "{wait:?}");
    assert_eq!(rx.stats().requests, 3);

    // Past the open period, one trial goes (slowly); a concurrent delivery is still deferred.
    tokio::time::sleep(wait).await;
    rx.set_mode(Mode {
        delay_ms: 300,
        ..Mode::default()
    });
    let trial = tokio::spawn({
        let (d, job) = (d.clone(), delivery(&event(), &ep));
        async move { d.deliver(&job).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(during.outcome, Outcome::Deferred(Deferral::CircuitOpen));
    let trial = trial.await.unwrap();
    assert_eq!(
        (trial.outcome.class(), trial.breaker),
        ("2xx", Some(BreakerState::Closed))
    );
    assert_eq!(rx.stats().requests, 4);
    assert_eq!(
        d.deliver(&delivery(&event(), &ep)).await.outcome.class(),
        "2xx"
    );
}

#[tokio::test]
async fn answers_that_are_not_outages_do_not_open_the_breaker() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(DelivererConfig {
        breaker: breaker(2, 10_000),
        ..config()
    });
    let ep = endpoint("ep_404", &rx.url("/"), &secret);
    for status in [404, 404, 400, 302, 404] {
        rx.set_mode(Mode {
            status: Some(status),
            ..Mode::default()
        });
        let report = d.deliver(&delivery(&event(), &ep)).await;
        assert!(
            matches!(report.outcome, Outcome::Failed(_)),
            "{status}: {report:?}"
        );
        assert_eq!(report.breaker, None);
    }
    assert_eq!(d.breaker_state("ep_404"), Some(BreakerState::Closed));
    assert_eq!(rx.stats().requests, 5);
}

#[tokio::test]
async fn an_endpoint_failing_past_the_threshold_is_disabled() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let config = DelivererConfig {
        disable_after: Duration::from_millis(300),
        breaker: breaker(1_000, 100),
        ..config()
    };
    let d = deliverer(config);
    let ep = endpoint("ep_disable", &rx.url("/"), &secret);
    rx.set_mode(Mode {
        status: Some(500),
        ..Mode::default()
    });
    let started = Instant::now();
    let first = d.deliver(&delivery(&event(), &ep)).await;
    assert!(
        matches!(first.health, Some(HealthChange::Failing { .. })),
        "{first:?}"
    );
    let disabled = loop {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let report = d.deliver(&delivery(&event(), &ep)).await;
        if let Some(change) = report.health {
            assert_eq!(
                report.next,
                Next::DeadLetter,
                "the attempt that disables dead-letters"
            );
            break change;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never disabled");
    };
    assert!(started.elapsed() >= Duration::from_millis(300));
    let HealthChange::Disabled { failures, .. } = disabled else {
        panic!("{disabled:?}")
    };
    let sent = rx.stats().requests;
    assert_eq!(u64::from(failures), sent, "every attempt counted");
    assert!(d.health("ep_disable").unwrap().disabled);

    // Disabled: skipped, dead-lettered, nothing sent.
    let report = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(
        (report.outcome, report.next),
        (Outcome::Skipped(Skip::Disabled), Next::DeadLetter)
    );
    assert_eq!(rx.stats().requests, sent);

    // Re-enabled by the operator, the receiver fixed: delivered again.
    rx.set_mode(Mode::default());
    d.enable("ep_disable");
    assert_eq!(
        d.deliver(&delivery(&event(), &ep)).await.outcome.class(),
        "2xx"
    );
    assert_eq!(d.health("ep_disable"), Some(Health::default()));
}

#[tokio::test]
async fn persisted_health_is_restored_and_a_success_reports_recovery() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(config());
    let ep = endpoint("ep_restore", &rx.url("/"), &secret);
    let disabled = Health {
        disabled: true,
        ..Health::default()
    };
    d.restore_health("ep_restore", disabled);
    assert_eq!(
        d.deliver(&delivery(&event(), &ep)).await.outcome,
        Outcome::Skipped(Skip::Disabled)
    );
    let failing = Health {
        failing_since: Some(std::time::SystemTime::now()),
        consecutive_failures: 7,
        disabled: false,
    };
    d.restore_health("ep_restore", failing);
    let report = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(report.health, Some(HealthChange::Recovered { failures: 7 }));
    assert_eq!(rx.stats().accepted, 1);
}

#[tokio::test]
async fn a_full_endpoint_queue_defers_at_once() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let config = DelivererConfig {
        endpoint_concurrency: 1,
        endpoint_queue: 1,
        busy_retry: Duration::from_millis(250),
        ..config()
    };
    let d = deliverer(config);
    let ep = endpoint("ep_busy", &rx.url("/"), &secret);
    rx.set_mode(Mode {
        delay_ms: 400,
        ..Mode::default()
    });
    let spawn = |d: &routeq_notify::Deliverer| {
        let (d, job) = (d.clone(), delivery(&event(), &ep));
        tokio::spawn(async move { d.deliver(&job).await })
    };
    let t0 = Instant::now();
    let (a, b) = (spawn(&d), spawn(&d));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let busy = d.deliver(&delivery(&event(), &ep)).await;
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "deferred without waiting"
    );
    assert_eq!(busy.outcome, Outcome::Deferred(Deferral::Busy));
    assert_eq!(busy.next, Next::RetryIn(Duration::from_millis(250)));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!((a.outcome.class(), b.outcome.class()), ("2xx", "2xx"));
    // One at a time: the queued one waited for the first (2 × 400 ms).
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(rx.stats().requests, 2);
}
