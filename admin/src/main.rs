//! `routeq-admin`: the operator's CLI (see the library's documentation).

use clap::Parser;
use routeq_admin::AdminArgs;

fn main() -> anyhow::Result<()> {
    let args = AdminArgs::parse();
    routeq_shared::telemetry::init_logging(&args.log);
    routeq_shared::runtime::small()?
        .block_on(routeq_admin::run(args, &mut std::io::stdout().lock()))
}
