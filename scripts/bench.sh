#!/usr/bin/env bash
# Benchmarks routeq on this machine: makes sure Redis runs (scripts/setup.sh, without PostgreSQL),
# builds the release binaries, then runs routeq-bench, which starts its own fleet (simulator, one
# gateway, N workers) on free loopback ports with a unique key prefix, runs the scenarios and
# prints a Markdown report to stdout (progress on stderr). Its keys are deleted afterwards.
#
#   scripts/bench.sh [--scenario throughput|overhead|capacity|all] [--runs N] [--jobs N]
#                    [--clients N] [--workers N] [--concurrency N] [--overhead-jobs N]
#                    [--overhead-clients N] [--capacity-jobs N] [--warmup-jobs N]
#                    [--redis-url URL] [--bin-dir DIR] [--out FILE]
#   scripts/bench.sh --help     every flag, with its default
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

ROUTEQ_SKIP_POSTGRES=1 "$root/scripts/setup.sh"
cargo build --release --bins -q --manifest-path "$root/Cargo.toml"

# The binaries of this checkout, unless the caller names a --bin-dir.
args=("$@")
bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
case " $* " in
  *" --bin-dir "* | *" --bin-dir="*) ;;
  *) args+=(--bin-dir "$bin_dir") ;;
esac
exec "$bin_dir/routeq-bench" "${args[@]}"
