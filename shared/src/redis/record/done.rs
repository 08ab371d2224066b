//! The completion message (`{p}:done`, published by `lua/lib/finish.lua`): one per script call
//! that ended jobs.
//!
//! ```text
//! <id> <id> <id>␠           the jobs this call ended, separated by single spaces (and one after)
//! ["id","…","state",…]      then one line per job, in the same order: the job as it ended,
//!                           a JSON list of field, value, field, value… (what a client reads),
//! ["id","…","state",…]      or an empty line for a job nobody waits for
//! ```
//!
//! Only jobs whose submitter waits for them (`Prefer: wait`, the hash's `wt` field) are carried:
//! the message goes to every gateway, and carrying every job cost Redis about 4 µs of I/O per job
//! per subscriber in a backlog drain. A message that carries no job is the first line alone.
//!
//! A reader that only counts completions reads the first line; a gateway waiting for one of the
//! jobs takes its record from the message instead of reading the hash again. The space before
//! the first newline keeps older readers, which split the whole message on spaces, finding
//! every id.

use std::collections::HashMap;

use crate::job::JobRecord;

/// One completion message, borrowed from its payload.
#[derive(Debug, Clone, Copy)]
pub struct DoneMessage<'a> {
    ids: &'a str,
    jobs: &'a str,
}

impl<'a> DoneMessage<'a> {
    pub fn parse(payload: &'a str) -> DoneMessage<'a> {
        let (ids, jobs) = payload.split_once('\n').unwrap_or((payload, ""));
        DoneMessage { ids, jobs }
    }

    /// The ids of the jobs the message names, in order.
    pub fn ids(&self) -> impl Iterator<Item = &'a str> {
        self.ids.split(' ').filter(|id| !id.is_empty())
    }

    /// Every id with its job's line (`None` when the publisher sent ids only), in order; the
    /// line decodes with [`decode_job`].
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        let mut lines = self.jobs.split('\n');
        self.ids()
            .map(move |id| (id, lines.next().filter(|l| !l.is_empty())))
    }
}

/// One job line of a completion message; `None` when it is not a job record, or not the job
/// `id` (the message is then read as ids only).
pub fn decode_job(id: &str, line: &str) -> Option<JobRecord> {
    let flat: Vec<String> = serde_json::from_str(line).ok()?;
    let mut fields = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        fields.insert(k, v);
    }
    JobRecord::decode(&fields).filter(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;

    #[test]
    fn ids_alone_and_ids_with_jobs_both_read() {
        let only = DoneMessage::parse("a b");
        assert_eq!(only.ids().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            only.entries().collect::<Vec<_>>(),
            [("a", None), ("b", None)]
        );
        let line = r#"["id","b","tenant","t","state","succeeded","code","ROUTE_OK","sub","5"]"#;
        let payload = format!("a b \n[\"not\",\"a job\"]\n{line}");
        let msg = DoneMessage::parse(&payload);
        let entries: Vec<_> = msg.entries().collect();
        assert_eq!(entries[0].0, "a");
        assert_eq!(entries[1], ("b", Some(line)));
        assert!(decode_job("a", entries[0].1.unwrap_or("")).is_none());
        let job = decode_job("b", line).expect("a job");
        assert_eq!(
            (job.state, job.submitted_ms, job.tenant.as_str()),
            (JobState::Succeeded, 5, "t")
        );
        // A line naming another job is not taken for this one.
        assert!(decode_job("a", line).is_none());
        // A reader of an older release splits the whole message on spaces: it finds every id.
        let old: Vec<&str> = payload.split(' ').collect();
        assert_eq!(&old[..2], ["a", "b"]);
    }
}
