//! The gateway's operator commands: `routeq-gateway keys …` and `routeq-gateway secret …`.

use crate::auth::{ApiKeys, valid_tenant};
use crate::config::{GatewayConfig, KeysAction, SecretAction};

/// `routeq-gateway keys create|list|revoke`.
pub async fn keys(cfg: &GatewayConfig, action: KeysAction) -> anyhow::Result<()> {
    let store = ApiKeys::new(
        cfg.redis
            .command_connection(routeq_shared::redis::connect::Timeouts::WORKER)?,
        cfg.redis.keys()?,
    );
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
            println!("created key {id} for tenant {tenant}; it is shown only now:");
            println!("{key}");
        }
        KeysAction::List => {
            for k in store.list().await? {
                println!("{}", serde_json::to_string(&k)?);
            }
        }
        KeysAction::Revoke { id } => {
            anyhow::ensure!(store.revoke(&id).await?, "no key with id {id}");
            println!("revoked key {id}");
        }
    }
    Ok(())
}

/// `routeq-gateway secret keygen|encrypt`.
pub fn secret(action: SecretAction) -> anyhow::Result<()> {
    use std::io::Read;
    match action {
        SecretAction::Keygen => {
            let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            // 244 random bits, printed as 64 hex characters.
            println!("{}{}", a.simple(), b.simple());
        }
        SecretAction::Encrypt => {
            let key = std::env::var("ROUTEQ_CONFIG_KEY")
                .or_else(|_| {
                    std::env::var("ROUTEQ_CONFIG_KEY_FILE")
                        .map_err(anyhow::Error::from)
                        .and_then(|p| Ok(std::fs::read_to_string(p)?))
                })
                .map_err(|_| anyhow::anyhow!("set ROUTEQ_CONFIG_KEY or ROUTEQ_CONFIG_KEY_FILE"))?;
            let key = routeq_shared::secrets::parse_key(key.trim())?;
            let mut plain = String::new();
            std::io::stdin().read_to_string(&mut plain)?;
            println!(
                "{}",
                routeq_shared::secrets::encrypt(plain.trim_end_matches(['\r', '\n']), &key)
            );
        }
    }
    Ok(())
}
