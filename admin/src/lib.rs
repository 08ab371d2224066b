//! # routeq-admin
//!
//! The operator's commands, one binary that needs only Redis: the queue overview (`stats`,
//! `--watch`), any tenant's job (`jobs show`), the workers, pausing consumption, dead letters and
//! API keys. The reads are [`routeq_shared::admin`] (the console on the gateway's admin listener
//! uses the same functions); this crate parses flags and prints.
//!
//! A crate of its own rather than subcommands of the gateway or the worker: an operator's shell
//! needs neither the HTTP server nor the provider side, and a tool that links only `shared`
//! builds in a fraction of the time. The old spellings (`routeq-worker dead-letters`,
//! `routeq-gateway keys`) call into [`dead_letters`] and [`keys`] for one release.
//!
//! Every command takes the servers' Redis flags and `ROUTEQ_*` variables, before or after its
//! name; every read command takes `--json`.

pub mod cli;
pub mod dead_letters;
pub mod jobs;
pub mod keys;
pub mod pause;
pub mod stats;

pub use cli::{AdminArgs, Command, run};

/// The notice the old spellings print on stderr.
pub fn deprecated(old: &str, new: &str) {
    eprintln!(
        "notice: `{old}` is deprecated and will be removed in the next release; use `{new}` (same flags)"
    );
}
