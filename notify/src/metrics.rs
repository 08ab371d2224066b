//! The webhook metrics, named here until they move into the shared catalogue
//! (`routeq_shared::metrics`, same shape: name, HELP text, labels). Labels are bounded: a
//! result class (`2xx`…`5xx`, `timeout`, `connect`, `transport`, `resolve`, `refused`,
//! `circuit_open`, `busy`, `filtered`, `disabled`), a next step, a breaker state; never an
//! endpoint id, a URL or an error text.

/// One metric: name, HELP text, label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

/// Every `Deliverer::deliver` call, by what it did and what comes next.
pub const DELIVERIES: Metric = Metric {
    name: "routeq_webhook_deliveries_total",
    help: "Webhook delivery calls by result class and next step (done, retry, dead_letter).",
    labels: &["class", "next"],
};

/// Every HTTP attempt (deferred and skipped deliveries are not attempts).
pub const ATTEMPTS: Metric = Metric {
    name: "routeq_webhook_attempts_total",
    help: "Webhook HTTP attempts by result class.",
    labels: &["class"],
};

/// Failed attempts, by class and whether the event will be retried.
pub const FAILURES: Metric = Metric {
    name: "routeq_webhook_failures_total",
    help: "Failed webhook attempts by result class and retryability.",
    labels: &["class", "retryable"],
};

/// How long attempts took.
pub const ATTEMPT_SECONDS: Metric = Metric {
    name: "routeq_webhook_attempt_seconds",
    help: "Webhook attempt duration (resolution, connection, request, answer) by result class.",
    labels: &["class"],
};

/// Attempts in flight in this process.
pub const IN_FLIGHT: Metric = Metric {
    name: "routeq_webhook_in_flight",
    help: "Webhook attempts in flight in this notifier.",
    labels: &[],
};

/// Per-endpoint breaker transitions.
pub const BREAKER_TRANSITIONS: Metric = Metric {
    name: "routeq_webhook_breaker_transitions_total",
    help: "Per-endpoint circuit breaker transitions by new state.",
    labels: &["to"],
};

/// Endpoints disabled for failing longer than the threshold.
pub const ENDPOINTS_DISABLED: Metric = Metric {
    name: "routeq_webhook_endpoints_disabled_total",
    help: "Webhook endpoints disabled after failing continuously past the threshold.",
    labels: &[],
};

/// Every metric of this crate.
pub const ALL: [Metric; 7] = [
    DELIVERIES,
    ATTEMPTS,
    FAILURES,
    ATTEMPT_SECONDS,
    IN_FLIGHT,
    BREAKER_TRANSITIONS,
    ENDPOINTS_DISABLED,
];

/// Registers the HELP texts with the installed recorder (call once after installing it).
pub fn describe() {
    for m in ALL {
        if m.name.ends_with("_seconds") {
            metrics::describe_histogram!(m.name, metrics::Unit::Seconds, m.help);
        } else if m.name.ends_with("_total") {
            metrics::describe_counter!(m.name, m.help);
        } else {
            metrics::describe_gauge!(m.name, m.help);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_prefixed_and_unique() {
        let mut names: Vec<&str> = super::ALL.iter().map(|m| m.name).collect();
        assert!(names.iter().all(|n| n.starts_with("routeq_webhook_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::ALL.len());
    }
}
