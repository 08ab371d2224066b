//! The gateway's operator commands: `routeq-gateway secret …`, and `routeq-gateway keys …`
//! (deprecated: `routeq-admin keys`).

use crate::config::{GatewayConfig, KeysAction, SecretAction};

/// `routeq-gateway keys create|list|revoke`: deprecated, `routeq-admin keys` with a notice on
/// stderr (the Redis flags are the gateway's, before or after the command name).
pub async fn keys(cfg: &GatewayConfig, action: KeysAction) -> anyhow::Result<()> {
    routeq_admin::deprecated("routeq-gateway keys", "routeq-admin keys");
    routeq_admin::keys::run(&cfg.redis, action, &mut std::io::stdout().lock()).await
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
