//! The records outbox `{p}:records`: the scripts append an `accepted` and a `finished` event in
//! the same atomic step that changes a job, and recorders drain it into PostgreSQL.
//!
//! Whether the scripts append is decided here ([`RecordsMode`]): with `auto`, nothing is
//! appended until a recorder exists, so a fleet without PostgreSQL does not grow Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ::redis::AsyncCommands;

use super::connect::Conn;
use super::keys::Keys;
use super::store::StoreError;

/// When state changes are appended to the records stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordsMode {
    /// Once a recorder exists (the `recorders` group on the records stream); until then nothing
    /// is appended, so a fleet run without PostgreSQL does not grow Redis without bound. Once a
    /// recorder has run, records keep flowing while it is down and drain when it is back.
    Auto,
    /// Always.
    #[value(alias = "true")]
    On,
    /// Never (no durable record).
    #[value(alias = "false")]
    Off,
}

/// Whether this process's scripts append records now. Cheap to clone (shared flag).
#[derive(Clone)]
pub struct Recording {
    conn: Conn,
    keys: Keys,
    on: Arc<AtomicBool>,
}

impl Recording {
    pub fn new(conn: Conn, keys: Keys, on: bool) -> Recording {
        Recording {
            conn,
            keys,
            on: Arc::new(AtomicBool::new(on)),
        }
    }

    /// Whether records are appended now.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The scripts' argument: `"1"` to append records.
    pub fn flag(&self) -> &'static str {
        if self.is_on() { "1" } else { "0" }
    }

    /// For [`RecordsMode::Auto`]: checks every 2 s until a recorder exists, then records.
    pub async fn watch(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            match self.refresh().await {
                Ok(true) => {
                    tracing::info!("a recorder exists: appending job records");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "cannot check for a recorder yet"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    }

    /// Creates the recorders' group (a recorder is about to run in this process) and records.
    pub async fn ensure_recorders_group(&self) -> Result<(), StoreError> {
        for k in self.keys.all() {
            super::ensure_group(&self.conn, &k.records_stream(), Keys::RECORDERS).await?;
        }
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Turns recording on once a recorder group exists on the records stream (of the first
    /// partition: recorders create every partition's at once). Returns whether records are
    /// appended now.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let groups: ::redis::RedisResult<Vec<HashMap<String, ::redis::Value>>> =
            ::redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(self.keys.partition(0).records_stream())
                .query_async(&mut conn)
                .await;
        let present = match groups {
            Ok(groups) => groups.iter().any(|g| {
                g.get("name")
                    .and_then(|n| ::redis::from_redis_value_ref::<String>(n).ok())
                    .is_some_and(|n| n == Keys::RECORDERS)
            }),
            // No stream yet: no recorder has ever run.
            Err(e) if e.to_string().contains("no such key") => false,
            Err(e) => return Err(e.into()),
        };
        if present {
            self.on.store(true, Ordering::Relaxed);
        }
        Ok(self.is_on())
    }

    /// Records written by the fleet and not yet in PostgreSQL (the recorder deletes what it
    /// committed, so the stream's length is the backlog).
    pub async fn backlog(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut total = 0u64;
        for k in self.keys.all() {
            total += conn.xlen::<_, u64>(k.records_stream()).await?;
        }
        Ok(total)
    }
}
