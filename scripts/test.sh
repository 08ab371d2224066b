#!/usr/bin/env bash
# Runs routeq's whole test suite against the real Redis (and PostgreSQL) on this machine,
# installing and starting them first where they are missing. Extra arguments go to the runner.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Some tests run other packages' binaries (the gateway next to a worker): build them all first.
cargo build --bins -q
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
