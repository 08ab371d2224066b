//! Accepting jobs: one script checks each job's idempotency key and the caps, appends the stream
//! entry and writes the record — for one job, or for every job of a partition that a gateway
//! submits together ([`JobStore::submit_calls`]); on a replicated setup it then waits for the
//! replicas.

use sha2::Digest;

use super::{JobStore, NewJob, StoreError};
use crate::redis::connect::Conn;
use crate::redis::scripts::{Submitted, scripts};

/// One job's part of a submit script call, prepared by [`JobStore::prepare_submit`]: its four
/// keys and thirteen arguments (`lua/submit.lua`).
#[derive(Debug, Clone)]
pub struct SubmitCall {
    /// The partition the job belongs to: only calls of one partition go in one script call.
    pub partition: u16,
    keys: [String; 4],
    args: [String; 13],
}

/// The KEYS and ARGV of one submit script call, in `lua/submit.lua`'s order: the partition's
/// three keys and two arguments, then each job's four keys and thirteen arguments.
struct Layout<'a> {
    shared_keys: [String; 3],
    head_args: [String; 2],
    calls: &'a [&'a SubmitCall],
}

impl Layout<'_> {
    fn keys(&self) -> impl Iterator<Item = &str> {
        let each = self.calls.iter().flat_map(|c| c.keys.iter());
        self.shared_keys.iter().chain(each).map(String::as_str)
    }

    fn args(&self) -> impl Iterator<Item = &str> {
        let each = self.calls.iter().flat_map(|c| c.args.iter());
        self.head_args.iter().chain(each).map(String::as_str)
    }

    fn invocation(&self) -> ::redis::ScriptInvocation<'static> {
        let mut inv = scripts().submit.prepare_invoke();
        for k in self.keys() {
            inv.key(k);
        }
        for a in self.args() {
            inv.arg(a);
        }
        inv
    }

    /// One status per job, in order; anything else is an unexpected reply.
    fn decode(&self, replies: Vec<(i64, String)>) -> Result<Vec<Submitted>, StoreError> {
        if replies.len() != self.calls.len() {
            return Err(StoreError::Reply(crate::redis::scripts::ReplyError {
                script: "submit",
                reply: format!("{} statuses for {} jobs", replies.len(), self.calls.len()),
            }));
        }
        Ok(replies
            .into_iter()
            .map(Submitted::decode)
            .collect::<Result<_, _>>()?)
    }
}

impl JobStore {
    /// Accepts a job: one script that checks the idempotency key and the caps, appends the
    /// stream entry and writes the record. Idempotent by job id: sent twice (a retry after a
    /// timeout), it creates the job once.
    pub async fn submit(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<Submitted, StoreError> {
        let call = self.prepare_submit(job).await?;
        let mut out = self.submit_calls(&[&call], max_backlog).await?;
        // submit_calls answers one status per job: exactly one here.
        Ok(out.remove(0))
    }

    /// Accepts several jobs of one partition in one script call (they are taken in order, each
    /// as if alone); their statuses in the same order. `calls` must all name one partition.
    pub async fn submit_calls(
        &self,
        calls: &[&SubmitCall],
        max_backlog: u64,
    ) -> Result<Vec<Submitted>, StoreError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.layout(calls, max_backlog);
        let mut conn = self.conn.clone();
        layout.decode(layout.invocation().invoke_async(&mut conn).await?)
    }

    /// Like [`JobStore::submit`], on `conn` (a connection of its own: WAIT holds its connection
    /// while it waits), pipelined with `WAIT replicas timeout_ms`; also returns how many replicas
    /// confirmed. On a cluster the pipeline goes to the job's master, so WAIT counts its replicas.
    pub async fn submit_replicated(
        &self,
        conn: &Conn,
        job: &NewJob<'_>,
        max_backlog: u64,
        replicas: u32,
        timeout_ms: u64,
    ) -> Result<(Submitted, u64), StoreError> {
        let call = self.prepare_submit(job).await?;
        let calls = [&call];
        let layout = self.layout(&calls, max_backlog);
        let keys: Vec<&str> = layout.keys().collect();
        let args: Vec<&str> = layout.args().collect();
        let mut pipe = ::redis::pipe();
        pipe.cmd("EVALSHA")
            .arg(scripts().submit.get_hash())
            .arg(keys.len())
            .arg(&keys)
            .arg(&args)
            .cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms);
        let mut c = conn.clone();
        let reply: ::redis::RedisResult<(Vec<(i64, String)>, u64)> = pipe.query_async(&mut c).await;
        let (statuses, acked) = match reply {
            Ok(r) => r,
            Err(e)
                if e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript) =>
            {
                // The script cache is empty (Redis restarted): load it by running it once, then
                // wait for the replicas (the submit is idempotent by job id).
                let statuses = layout.invocation().invoke_async(&mut c).await?;
                let (_, acked): (Vec<(i64, String)>, u64) = pipe.query_async(&mut c).await?;
                (statuses, acked)
            }
            Err(e) => return Err(e.into()),
        };
        Ok((layout.decode(statuses)?.remove(0), acked))
    }

    fn layout<'a>(&self, calls: &'a [&'a SubmitCall], max_backlog: u64) -> Layout<'a> {
        let k = self
            .keys
            .partition(calls.first().map_or(0, |c| c.partition));
        debug_assert!(calls.iter().all(|c| c.partition == k.index()));
        Layout {
            shared_keys: [k.jobs_stream(), k.records_stream(), k.deadlines()],
            head_args: [
                self.share(max_backlog).to_string(),
                self.recording.flag().to_string(),
            ],
            calls,
        }
    }

    /// `job`'s part of a submit script call. [`NewJob::ALL_IF_ANY`] is judged by the script from
    /// the tenant's endpoint set when that shares the job's slot; otherwise (several partitions)
    /// here, with one read first.
    pub async fn prepare_submit(&self, job: &NewJob<'_>) -> Result<SubmitCall, StoreError> {
        let k = self.keys.for_job(job.id);
        let in_script = job.webhooks == NewJob::ALL_IF_ANY && k.shares_fleet_slot();
        let webhooks = if job.webhooks == NewJob::ALL_IF_ANY && !in_script {
            let mut conn = self.conn.clone();
            let n: u64 = ::redis::AsyncCommands::scard(&mut conn, k.webhooks(job.tenant)).await?;
            if n > 0 { "*" } else { "" }
        } else {
            job.webhooks
        };
        let deadline_ms = job.submitted_ms + job.request.deadline_ms;
        let ttl_ms = job.request.deadline_ms + self.retention.result_ttl_ms;
        let hash = k.job(job.id);
        let idem = match job.idempotency_key {
            Some(key) => k.idempotency(job.tenant, key),
            None => hash.clone(),
        };
        let endpoints = if in_script {
            k.webhooks(job.tenant)
        } else {
            hash.clone()
        };
        let fingerprint = if job.idempotency_key.is_some() {
            // RouteRequest::fingerprint() of the JSON already serialised.
            hex::encode(sha2::Sha256::digest(job.request_json.as_bytes()))
        } else {
            String::new()
        };
        Ok(SubmitCall {
            partition: k.index(),
            keys: [hash, k.tenant_open_jobs(job.tenant), idem, endpoints],
            args: [
                job.id.to_string(),
                job.tenant.to_string(),
                job.request_id.to_string(),
                job.request_json.to_string(),
                fingerprint,
                job.submitted_ms.to_string(),
                deadline_ms.to_string(),
                ttl_ms.to_string(),
                job.idempotency_key.unwrap_or("").to_string(),
                self.share(job.max_open).to_string(),
                webhooks.to_string(),
                job.trace.to_string(),
                if job.wait { "1" } else { "" }.to_string(),
            ],
        })
    }
}
