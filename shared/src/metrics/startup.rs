//! Registration at start-up, so every series a dashboard or an alert reads exists before the
//! event it counts: [`start`] gives each metric of the catalogue its HELP text, sets
//! [`BUILD_INFO`], and describes the process metrics; [`register`] creates a metric's series at
//! zero for each combination of the label values a component knows it will use (a provider it
//! was configured with, a code it can end a job with). Without this a counter first appears on
//! its first increment, which `rate()` never sees, and panels say "No data" on a healthy fleet.

use super::{Kind, Metric};

/// `routeq_build_info{component, version, commit}`: always 1; joins other series to a build.
pub const BUILD_INFO: Metric = Metric::gauge(
    "routeq_build_info",
    "Always 1: the component, crate version and git commit of this process.",
    &["component", "version", "commit"],
);

pub const ALL: &[&Metric] = &[&BUILD_INFO];

/// The git commit the binary was built from (`ROUTEQ_GIT_COMMIT` at build time), else `unknown`.
pub const COMMIT: &str = match option_env!("ROUTEQ_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// Describes every metric of the catalogue and the process metrics, and sets
/// `routeq_build_info` for `component` (`gateway`, `worker`, `recorder`). Call after the recorder
/// is installed ([`crate::telemetry::metrics_handle`] does both).
pub fn start(component: &'static str) {
    for m in super::all() {
        m.describe();
    }
    crate::telemetry::process_collector().describe();
    metrics::gauge!(
        BUILD_INFO.name,
        "component" => component,
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => COMMIT
    )
    .set(1.0);
}

/// Creates `metric`'s series at zero (a gauge keeps its value) for every combination of
/// `labels`' values: `[("provider", &["osrm"]), ("outcome", &["ok", "timeout"])]` makes two
/// series. A metric without labels gets its one series.
pub fn register(metric: &Metric, labels: &[(&'static str, &[&str])]) {
    debug_assert!(
        labels.iter().all(|(l, _)| metric.labels.contains(l)),
        "{} has no such label",
        metric.name
    );
    let mut combos: Vec<Vec<metrics::Label>> = vec![Vec::new()];
    for (label, values) in labels {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push(metrics::Label::new(*label, v.to_string()));
                    c
                })
            })
            .collect();
    }
    for combo in combos {
        match metric.kind {
            Kind::Counter => metrics::counter!(metric.name, combo).increment(0),
            Kind::Gauge => metrics::gauge!(metric.name, combo).increment(0.0),
            Kind::Histogram => {
                // Registering the handle is enough: the exporter renders it with empty buckets.
                let _ = metrics::histogram!(metric.name, combo);
            }
        }
    }
}

/// [`register`] for metrics without labels.
pub fn register_plain(metrics: &[&Metric]) {
    for m in metrics {
        register(m, &[]);
    }
}
