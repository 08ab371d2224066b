//! `routeq-admin`: the operator's CLI (see the library's documentation).

use clap::Parser;
use routeq_admin::AdminArgs;

fn main() -> anyhow::Result<()> {
    let args = AdminArgs::parse();
    // Logs to stderr: stdout is the command's report.
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    routeq_shared::runtime::small()?
        .block_on(routeq_admin::run(args, &mut std::io::stdout().lock()))
}
