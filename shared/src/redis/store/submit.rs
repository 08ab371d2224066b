//! Accepting a job: one script checks the idempotency key and the caps, appends the stream
//! entry and writes the record (and, on a replicated setup, waits for the replicas).

use sha2::Digest;

use super::{JobStore, NewJob, StoreError};
use crate::redis::connect::Conn;
use crate::redis::scripts::{Submitted, scripts};

impl JobStore {
    /// Accepts a job: one script that checks the idempotency key and the caps, appends the
    /// stream entry and writes the record. Idempotent by job id: sent twice (a retry after a
    /// timeout), it creates the job once.
    pub async fn submit(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<Submitted, StoreError> {
        let (keys, args) = self.submit_call(job, max_backlog).await?;
        let mut inv = scripts().submit.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        for a in &args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        Ok(Submitted::decode(inv.invoke_async(&mut conn).await?)?)
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
        let (keys, args) = self.submit_call(job, max_backlog).await?;
        let script = &scripts().submit;
        let mut pipe = ::redis::pipe();
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(keys.len())
            .arg(&keys)
            .arg(&args)
            .cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms);
        let mut c = conn.clone();
        let reply: ::redis::RedisResult<((i64, String), u64)> = pipe.query_async(&mut c).await;
        match reply {
            Ok((submitted, acked)) => Ok((Submitted::decode(submitted)?, acked)),
            Err(e)
                if e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript) =>
            {
                // The script cache is empty (Redis restarted): load it by running it once, then
                // wait for the replicas (the submit is idempotent by job id).
                let mut inv = script.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                for a in &args {
                    inv.arg(a);
                }
                let submitted = Submitted::decode(inv.invoke_async(&mut c).await?)?;
                let mut pipe = ::redis::pipe();
                pipe.cmd("EVALSHA")
                    .arg(script.get_hash())
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(&args)
                    .cmd("WAIT")
                    .arg(replicas)
                    .arg(timeout_ms);
                let (_, acked): ((i64, String), u64) = pipe.query_async(&mut c).await?;
                Ok((submitted, acked))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The submit script's KEYS and ARGV for `job`. [`NewJob::ALL_IF_ANY`] is judged by the
    /// script from the tenant's endpoint set when that shares the job's slot; otherwise (several
    /// partitions) here, with one read first.
    async fn submit_call(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
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
        let mut keys = vec![
            k.job(job.id),
            k.jobs_stream(),
            k.records_stream(),
            k.tenant_open_jobs(job.tenant),
            k.deadlines(),
        ];
        if let Some(key) = job.idempotency_key {
            keys.push(k.idempotency(job.tenant, key));
        }
        if in_script {
            keys.push(k.webhooks(job.tenant));
        }
        let fingerprint = if job.idempotency_key.is_some() {
            // RouteRequest::fingerprint() of the JSON already serialised.
            hex::encode(sha2::Sha256::digest(job.request_json.as_bytes()))
        } else {
            String::new()
        };
        let mut args = vec![
            job.id.to_string(),
            job.tenant.to_string(),
            job.request_id.to_string(),
            job.request_json.to_string(),
            fingerprint,
            job.submitted_ms.to_string(),
            deadline_ms.to_string(),
            ttl_ms.to_string(),
            self.share(max_backlog).to_string(),
            job.idempotency_key.unwrap_or("").to_string(),
            self.recording.flag().to_string(),
            self.share(job.max_open).to_string(),
            webhooks.to_string(),
        ];
        // Only traced jobs send ARGV[14]: untraced submissions are the same call as before.
        if !job.trace.is_empty() {
            args.push(job.trace.to_string());
        }
        Ok((keys, args))
    }
}
