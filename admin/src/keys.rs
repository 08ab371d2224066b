//! `routeq-admin keys create|list|revoke` (and, for one release, `routeq-gateway keys`).

use std::io::Write;

use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::apikeys::{ApiKeys, valid_tenant};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysAction {
    /// Create a key for a tenant and print it once (it is stored only as a hash).
    Create {
        #[arg(long)]
        tenant: String,
        /// Requests per second this tenant may send (0 = the gateway's --tenant-rate-per-s).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Jobs this tenant may have queued at once (0 = the gateway's --tenant-max-queued).
        #[arg(long, default_value_t = 0)]
        max_queued: u64,
    },
    /// List keys (ids, tenants, limits; never the keys), one JSON object per line.
    List {
        /// Accepted for symmetry with the other read commands (the output is JSON anyway).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id: requests with it are refused at once.
    Revoke { id: String },
}

pub async fn run(
    redis: &RedisArgs,
    action: KeysAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    let store = ApiKeys::new(conn, keys);
    match action {
        KeysAction::Create {
            tenant,
            rate,
            max_queued,
        } => {
            anyhow::ensure!(
                valid_tenant(&tenant),
                "--tenant must be 1-64 characters of letters, digits, '-', '_' or '.'"
            );
            let (id, key) = store.create(&tenant, rate, max_queued).await?;
            writeln!(
                out,
                "created key {id} for tenant {tenant}; it is shown only now:"
            )?;
            writeln!(out, "{key}")?;
        }
        KeysAction::List { json: _ } => {
            for k in store.list().await? {
                writeln!(out, "{}", serde_json::to_string(&k)?)?;
            }
        }
        KeysAction::Revoke { id } => {
            anyhow::ensure!(store.revoke(&id).await?, "no key with id {id}");
            writeln!(out, "revoked key {id}")?;
        }
    }
    Ok(())
}
