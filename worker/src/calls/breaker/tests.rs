//! The wrapper's contract, on real timers (failsafe's clock cannot be paused).

use super::*;
use std::sync::atomic::AtomicUsize;

fn policy(failures: u32, open_ms: u64) -> BreakerPolicy {
    BreakerPolicy {
        consecutive_failures: failures,
        failure_rate: 0.0,
        window: Duration::from_secs(30),
        min_calls: 10,
        open: Duration::from_millis(open_ms),
        open_max: Duration::from_millis(open_ms * 4),
    }
}

/// A fake provider call that counts how often it was actually started.
fn call(
    started: &Arc<AtomicUsize>,
    answer: Result<u32, ProviderError>,
    takes: Duration,
) -> impl Future<Output = Result<u32, ProviderError>> + use<> {
    let started = started.clone();
    async move {
        started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(takes).await;
        answer
    }
}

fn unavailable() -> Result<u32, ProviderError> {
    Err(ProviderError::Unavailable("503".into()))
}

#[tokio::test]
async fn opens_after_consecutive_transient_failures_and_then_refuses_without_calling() {
    let b = Breaker::new("t-open", &policy(3, 60_000));
    let n = Arc::new(AtomicUsize::new(0));
    let t = Duration::from_secs(1);
    for _ in 0..2 {
        assert!(
            b.call(t, call(&n, unavailable(), Duration::ZERO))
                .await
                .is_err()
        );
        assert_eq!(b.state(), BreakerState::Closed);
    }
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    assert_eq!(b.state(), BreakerState::Open);
    for _ in 0..5 {
        let r = b.call(t, call(&n, Ok(1), Duration::ZERO)).await;
        assert_eq!(r, Err(ProviderError::CircuitOpen));
    }
    assert_eq!(n.load(Ordering::SeqCst), 3, "an open breaker must not call");
}

#[tokio::test]
async fn only_provider_faults_count() {
    let b = Breaker::new("t-domain", &policy(2, 60_000));
    let n = Arc::new(AtomicUsize::new(0));
    let t = Duration::from_secs(1);
    for answer in [
        Err(ProviderError::NotFound),
        Err(ProviderError::NoRoute("x".into())),
        Err(ProviderError::Refused("400".into())),
    ] {
        for _ in 0..5 {
            let _ = b.call(t, call(&n, answer.clone(), Duration::ZERO)).await;
        }
    }
    assert_eq!(b.state(), BreakerState::Closed);
    // A domain answer between two 503s resets the consecutive count (documented: the
    // provider is answering).
    for _ in 0..5 {
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        let _ = b
            .call(t, call(&n, Err(ProviderError::NotFound), Duration::ZERO))
            .await;
    }
    assert_eq!(b.state(), BreakerState::Closed);
    for transient in [
        Err(ProviderError::RateLimited { retry_after: None }),
        Err(ProviderError::Server("500".into())),
    ] {
        let _ = b.call(t, call(&n, transient, Duration::ZERO)).await;
    }
    assert_eq!(b.state(), BreakerState::Open, "429 and 5xx count");
    for broken in [
        ProviderError::Malformed("html".into()),
        ProviderError::Unauthorized("401".into()),
    ] {
        let b = Breaker::new("t-broken", &policy(2, 60_000));
        for _ in 0..2 {
            let _ = b
                .call(t, call(&n, Err(broken.clone()), Duration::ZERO))
                .await;
        }
        assert_eq!(b.state(), BreakerState::Open, "{broken:?} counts");
    }
}

#[tokio::test]
async fn the_timeout_is_inside_and_counts_as_a_failure() {
    let b = Breaker::new("t-timeout", &policy(2, 60_000));
    let n = Arc::new(AtomicUsize::new(0));
    let slow = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let r = b
        .call(Duration::from_millis(50), call(&n, Ok(1), slow))
        .await;
    assert_eq!(r, Err(ProviderError::Timeout));
    assert!(
        started.elapsed() < slow,
        "the call must stop at its timeout"
    );
    let _ = b
        .call(Duration::from_millis(50), call(&n, Ok(1), slow))
        .await;
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test]
async fn half_open_admits_a_single_trial_whose_success_closes() {
    let b = Arc::new(Breaker::new("t-trial", &policy(1, 100)));
    let n = Arc::new(AtomicUsize::new(0));
    let t = Duration::from_secs(2);
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // 20 concurrent callers once the open period is over: one trial, 19 refusals.
    let trial_calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (b, c) = (b.clone(), trial_calls.clone());
        tasks.push(tokio::spawn(async move {
            b.call(t, call(&c, Ok(7), Duration::from_millis(100))).await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(7) => ok += 1,
            Err(ProviderError::CircuitOpen) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (1, 19));
    assert_eq!(
        trial_calls.load(Ordering::SeqCst),
        1,
        "one trial per process"
    );
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.call(t, call(&n, Ok(8), Duration::ZERO)).await, Ok(8));
}

#[tokio::test]
async fn a_failed_trial_reopens_and_a_cancelled_trial_frees_the_slot() {
    let b = Breaker::new("t-reopen", &policy(1, 80));
    let n = Arc::new(AtomicUsize::new(0));
    let t = Duration::from_secs(2);
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    assert_eq!(b.state(), BreakerState::Open, "a failed trial re-opens");
    assert_eq!(n.load(Ordering::SeqCst), 2);
    // The next open period is longer (backoff doubles): still refused after 100 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        b.call(t, call(&n, Ok(1), Duration::ZERO)).await,
        Err(ProviderError::CircuitOpen)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A trial that is dropped mid-call (its job was cancelled) must not hold the slot.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(20),
        b.call(t, call(&n, Ok(1), Duration::from_secs(5))),
    )
    .await;
    assert!(abandoned.is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.call(t, call(&n, Ok(2), Duration::ZERO)).await, Ok(2));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_straggler_admitted_while_closed_does_not_decide_the_trial() {
    let b = Arc::new(Breaker::new("t-straggler", &policy(1, 50)));
    let n = Arc::new(AtomicUsize::new(0));
    let t = Duration::from_secs(2);
    // A slow successful call admitted while closed...
    let slow = {
        let (b, n) = (b.clone(), n.clone());
        tokio::spawn(async move { b.call(t, call(&n, Ok(1), Duration::from_millis(200))).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // ...then a failure opens the breaker, and its open period passes.
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // The trial fails; the straggler's later success must not close the breaker.
    let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
    assert_eq!(slow.await.expect("join"), Ok(1));
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test]
async fn state_is_mirrored_into_the_metrics() {
    let handle = routeq_shared::telemetry::metrics_handle();
    let b = Breaker::new("t-metrics", &policy(1, 60_000));
    let n = Arc::new(AtomicUsize::new(0));
    let _ = b
        .call(
            Duration::from_secs(1),
            call(&n, unavailable(), Duration::ZERO),
        )
        .await;
    let _ = b
        .call(Duration::from_secs(1), call(&n, Ok(1), Duration::ZERO))
        .await;
    let text = handle.render();
    assert!(
        text.contains(r#"routeq_breaker_state{provider="t-metrics"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"routeq_breaker_transitions_total{provider="t-metrics",to="open"} 1"#));
    assert!(text.contains(r#"routeq_breaker_rejected_total{provider="t-metrics"} 1"#));
}

#[test]
fn open_backoff_doubles_and_jitters_from_a_second() {
    let mut b = OpenBackoff {
        next: Duration::from_millis(300),
        max: Duration::from_secs(4),
    };
    assert_eq!(b.next(), Some(Duration::from_millis(300)));
    assert_eq!(b.next(), Some(Duration::from_millis(600)));
    let d = b.next().expect("1.2 s, jittered");
    assert!(
        (Duration::from_millis(600)..=Duration::from_millis(1200)).contains(&d),
        "{d:?}"
    );
    for _ in 0..5 {
        assert!(b.next().expect("capped") <= Duration::from_secs(4));
    }
}
