use clap::Parser;
use routeq_gateway::auth::{ApiKeys, valid_tenant};
use routeq_gateway::config::{Command, KeysAction, SecretAction};
use routeq_gateway::{Application, GatewayArgs, GatewayConfig};

/// mimalloc instead of glibc malloc: a job allocates many short-lived buffers (Redis replies,
/// JSON), and glibc's malloc/free was about a quarter of a worker's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // `routeq-gateway healthcheck [--url URL]`: a probe for container health checks (no curl).
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let status = routeq_shared::runtime::small()?.block_on(
            routeq_shared::telemetry::healthcheck_command(
                &["ROUTEQ_ADMIN_LISTEN", "ROUTEQ_LISTEN"],
                "127.0.0.1:8080",
            ),
        );
        std::process::exit(status);
    }
    let args = GatewayArgs::parse();
    routeq_shared::telemetry::init_logging(&args.log);
    match args.command {
        Some(Command::Keys { action }) => {
            routeq_shared::runtime::small()?.block_on(keys(&args.gateway, action))
        }
        Some(Command::Secret { action }) => secret(action),
        // One runtime thread per core unless --threads says otherwise.
        None => args.runtime.build(0)?.block_on(async move {
            let app = Application::build(args.gateway).await?;
            app.run_until(routeq_shared::telemetry::shutdown_signal())
                .await
        }),
    }
}

/// `routeq-gateway keys create|list|revoke`.
async fn keys(cfg: &GatewayConfig, action: KeysAction) -> anyhow::Result<()> {
    let store = ApiKeys::new(cfg.redis.command_connection()?, cfg.redis.keys()?);
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
fn secret(action: SecretAction) -> anyhow::Result<()> {
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
