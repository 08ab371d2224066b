//! Every Lua script routeq runs, loaded once per process, and one typed decoder of each script's
//! reply.
//!
//! The sources in `lua/` never spell a field, code or state: they write `F.state`, `C.JOB_QUEUED`,
//! `S.running` and `R.finished`, and [`assemble`] replaces each with the quoted name from the one
//! table that owns it ([`record::FIELDS`], [`Code::ALL`], [`JobState`], [`record::event`]). An
//! unknown name fails the assembly (and the test that assembles every script). A line
//! `--@include <name>` is replaced by `lua/lib/<name>.lua`: the terminal write of a job
//! (`lib/finish.lua`) is one fragment shared by the four scripts that end a job.
//!
//! Scripts run with EVALSHA (EVAL on a script-cache miss, which re-loads them after Redis
//! restarts), so every state change costs one round trip.

use std::sync::LazyLock;

use ::redis::Script;

use super::record::{self, FIELDS};
use crate::codes::Code;
use crate::job::JobState;

/// Fragments a script may include with `--@include <name>`.
const LIBRARY: &[(&str, &str)] = &[("finish", include_str!("../lua/lib/finish.lua"))];

/// Every script source, by name.
pub const SOURCES: &[(&str, &str)] = &[
    ("submit", include_str!("../lua/submit.lua")),
    ("start", include_str!("../lua/start.lua")),
    ("complete", include_str!("../lua/complete.lua")),
    ("cancel", include_str!("../lua/cancel.lua")),
    ("dead_letter", include_str!("../lua/dead_letter.lua")),
    ("dead_replay", include_str!("../lua/dead_replay.lua")),
    ("dead_purge", include_str!("../lua/dead_purge.lua")),
    ("rate_limit", include_str!("../lua/rate_limit.lua")),
    ("tenant_rate", include_str!("../lua/tenant_rate.lua")),
    ("coalesce_claim", include_str!("../lua/coalesce_claim.lua")),
    (
        "coalesce_finish",
        include_str!("../lua/coalesce_finish.lua"),
    ),
    ("touch", include_str!("../lua/touch.lua")),
    ("sweep", include_str!("../lua/sweep.lua")),
    ("consumer_sweep", include_str!("../lua/consumer_sweep.lua")),
];

/// The scripts of one process.
pub struct Scripts {
    /// Accept a job (idempotency, caps, enqueue, record).
    pub submit: Script,
    /// Start a batch of delivered entries.
    pub start: Script,
    /// End a batch of jobs, each exactly once.
    pub complete: Script,
    /// Cancel a queued job.
    pub cancel: Script,
    /// Park a poison job in the dead-letter stream.
    pub dead_letter: Script,
    /// Put a dead letter back on the jobs stream.
    pub dead_replay: Script,
    /// Delete a dead letter; its job ends failed.
    pub dead_purge: Script,
    /// Reserve a call slot under a provider's fleet-wide rate.
    pub rate_limit: Script,
    /// Count a request in its tenant's one-second window.
    pub tenant_rate: Script,
    /// A cached provider answer, or the lease to compute it.
    pub coalesce_claim: Script,
    /// Store a leased answer and release the lease.
    pub coalesce_finish: Script,
    /// Refresh the idle time of a live worker's entries.
    pub touch: Script,
    /// End the jobs past their deadline plus the grace that nobody ended.
    pub sweep: Script,
    /// Remove a group's idle consumers that hold nothing.
    pub consumer_sweep: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let load = |name: &str| {
        let (_, src) = SOURCES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no script named {name}"));
        // The sources are compiled in and every one is assembled by a unit test: a failure here
        // is a bug in this crate, never in its input.
        Script::new(&assemble(src).unwrap_or_else(|e| panic!("lua/{name}.lua: {e}")))
    };
    Scripts {
        submit: load("submit"),
        start: load("start"),
        complete: load("complete"),
        cancel: load("cancel"),
        dead_letter: load("dead_letter"),
        dead_replay: load("dead_replay"),
        dead_purge: load("dead_purge"),
        rate_limit: load("rate_limit"),
        tenant_rate: load("tenant_rate"),
        coalesce_claim: load("coalesce_claim"),
        coalesce_finish: load("coalesce_finish"),
        touch: load("touch"),
        sweep: load("sweep"),
        consumer_sweep: load("consumer_sweep"),
    }
});

/// This process's scripts (assembled on first use).
pub fn scripts() -> &'static Scripts {
    &SCRIPTS
}

/// The quoted Lua literal for `table.name`, or why there is none.
fn literal(table: char, name: &str) -> Result<String, String> {
    let found = match table {
        'F' => FIELDS
            .iter()
            .find(|(lua, _)| *lua == name)
            .map(|(_, wire)| (*wire).to_string()),
        'C' => Code::parse(name).map(|c| c.as_str().to_string()),
        'S' => JobState::parse(name).map(|s| s.as_str().to_string()),
        'R' => [record::event::ACCEPTED, record::event::FINISHED]
            .into_iter()
            .find(|e| *e == name)
            .map(str::to_string),
        _ => None,
    };
    found
        .map(|w| format!("'{w}'"))
        .ok_or_else(|| format!("unknown name {table}.{name}"))
}

/// Expands `--@include` lines and substitutes `F.`/`C.`/`S.`/`R.` names (see the module docs).
pub fn assemble(src: &str) -> Result<String, String> {
    let mut expanded = String::with_capacity(src.len() * 2);
    for line in src.lines() {
        match line.trim().strip_prefix("--@include ") {
            Some(name) => {
                let (_, lib) = LIBRARY
                    .iter()
                    .find(|(n, _)| *n == name.trim())
                    .ok_or_else(|| format!("no fragment lua/lib/{}.lua", name.trim()))?;
                expanded.push_str(lib);
            }
            None => expanded.push_str(line),
        }
        expanded.push('\n');
    }
    let bytes = expanded.as_bytes();
    let mut out = String::with_capacity(expanded.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts_name = matches!(c, b'F' | b'C' | b'S' | b'R')
            && bytes.get(i + 1) == Some(&b'.')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts_name {
            let start = i + 2;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            if end > start {
                out.push_str(&literal(c as char, &expanded[start..end])?);
                i = end;
                continue;
            }
        }
        out.push(c as char);
        i += 1;
    }
    Ok(out)
}

mod replies;

pub use replies::{
    Cancelled, Claim, Completed, JobStart, Parked, Purged, Replayed, ReplyError, Slot, Started,
    StartedBatch, Submitted,
};

#[cfg(test)]
mod tests;
