//! Every metric routeq exports, in one catalogue: name, kind, HELP text and labels, grouped by
//! concern ([`http`], [`queue`], [`jobs`], [`providers`], [`recorder`], [`redis`], [`webhooks`]). Dashboards, alert rules
//! and tests name these; code records through them (`metrics::counter!(jobs::FINISHED.name, …)`),
//! so a name lives in exactly one place. Labels are bounded (route templates, methods, states,
//! codes, provider adapters, outcomes): never an id or an error text.

pub mod http;
pub mod jobs;
pub mod providers;
pub mod queue;
pub mod recorder;
pub mod redis;
pub mod sim;
pub mod startup;
pub mod webhooks;

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

impl Metric {
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Counter,
            help,
            labels,
        }
    }
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Gauge,
            help,
            labels,
        }
    }
    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Histogram,
            help,
            labels,
        }
    }

    /// Registers the HELP text with the installed recorder.
    pub fn describe(&self) {
        match self.kind {
            Kind::Counter => metrics::describe_counter!(self.name, self.help),
            Kind::Gauge => metrics::describe_gauge!(self.name, self.help),
            Kind::Histogram => metrics::describe_histogram!(self.name, self.help),
        }
    }
}

/// Every metric, all concerns.
pub fn all() -> impl Iterator<Item = &'static Metric> {
    http::ALL
        .iter()
        .chain(queue::ALL)
        .chain(jobs::ALL)
        .chain(providers::ALL)
        .chain(recorder::ALL)
        .chain(redis::ALL)
        .chain(startup::ALL)
        .chain(sim::ALL)
        .chain(webhooks::ALL)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut names: Vec<_> = all().map(|m| m.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a metric is listed twice");
        for m in all() {
            assert!(m.name.starts_with("routeq_"), "{}", m.name);
            assert!(!m.help.is_empty(), "{} has no HELP", m.name);
            if m.kind == Kind::Counter {
                assert!(
                    m.name.ends_with("_total"),
                    "counter {} must end in _total",
                    m.name
                );
            }
        }
    }
}
