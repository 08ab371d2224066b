//! The old spelling of the dead-letter commands, kept for one release:
//! `routeq-worker dead-letters …` is `routeq-admin dead-letters …` ([`routeq_admin::dead_letters`])
//! with a notice on stderr. The Redis flags, `--records` and `--result-ttl-s` are the worker's own
//! (global flags: before or after the command name).

use std::io::Write;

use routeq_admin::dead_letters::{DeadLetterAction, DeadLetterOptions};

use crate::config::WorkerConfig;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Deprecated: use `routeq-admin dead-letters`. Inspect, replay or purge dead letters.
    #[command(name = "dead-letters")]
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

/// Runs a command against the fleet `cfg` names, writing its report to `out`.
pub async fn run(command: Command, cfg: &WorkerConfig, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        Command::DeadLetters { action } => {
            routeq_admin::deprecated("routeq-worker dead-letters", "routeq-admin dead-letters");
            let options = DeadLetterOptions {
                result_ttl_s: cfg.result_ttl_s,
                records: cfg.records,
            };
            routeq_admin::dead_letters::run(&cfg.redis, &options, action, out).await
        }
    }
}
