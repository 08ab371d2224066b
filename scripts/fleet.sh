#!/usr/bin/env bash
# Starts a routeq fleet on this machine: the provider simulator, one gateway and N workers
# (2 by default) against the local Redis, recording every job in the local PostgreSQL (database
# `routeq`, created and migrated here), installing and starting both first if needed.
# Ctrl-C (or SIGTERM) stops everything, draining the workers.
#
#   scripts/fleet.sh [--workers N] [--release]
#
# Environment: ROUTEQ_LISTEN (gateway, default 127.0.0.1:8080), ROUTEQ_SIM_LISTEN (default
# 127.0.0.1:8090), ROUTEQ_KEY_PREFIX (default {routeq}), ROUTEQ_REDIS_URL, and any other ROUTEQ_*
# setting of the binaries (see --help of each).
set -euo pipefail
cd "$(dirname "$0")/.."

workers=2
profile=debug
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --release) profile=release; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
if [ "$profile" = release ]; then cargo build --release --bins -q; else cargo build --bins -q; fi
bin="target/$profile"
run=.run
mkdir -p "$run"

# The durable record: a local database, migrated (a no-op when it is current).
export ROUTEQ_DATABASE_URL="${ROUTEQ_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/routeq}"
if [ "$ROUTEQ_DATABASE_URL" = "postgres://postgres@127.0.0.1:5432/routeq" ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'routeq'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE routeq"
fi
"$bin/routeq-recorder" migrate >/dev/null

export ROUTEQ_LISTEN="${ROUTEQ_LISTEN:-127.0.0.1:8080}"
export ROUTEQ_SIM_LISTEN="${ROUTEQ_SIM_LISTEN:-127.0.0.1:8090}"
sim_url="http://${ROUTEQ_SIM_LISTEN}"
export ROUTEQ_GEOCODER_URL="${ROUTEQ_GEOCODER_URL:-$sim_url}"
export ROUTEQ_ROUTER_URL="${ROUTEQ_ROUTER_URL:-$sim_url}"

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping fleet..." >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

"$bin/routeq-sim" >"$run/sim.log" 2>&1 & pids+=($!)
"$bin/routeq-gateway" >"$run/gateway.log" 2>&1 & pids+=($!)
base_port=9091
for i in $(seq 1 "$workers"); do
  ROUTEQ_METRICS_LISTEN="127.0.0.1:$((base_port + i - 1))" ROUTEQ_CONSUMER="worker-$i-$$" \
    "$bin/routeq-worker" >"$run/worker-$i.log" 2>&1 & pids+=($!)
done

for _ in $(seq 1 100); do
  if curl -fsS "http://$ROUTEQ_LISTEN/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
cat <<MSG
routeq fleet is up (logs in $run/):
  gateway    http://$ROUTEQ_LISTEN      (/v1/routes, /docs, /openapi.json, /healthz, /readyz, /metrics)
  record     $ROUTEQ_DATABASE_URL  (every job, drained by the workers' recorders)
  simulator  $sim_url      (/_sim/faults, /_sim/stats, /metrics)
  workers    $workers, metrics on 127.0.0.1:$base_port..$((base_port + workers - 1))
Press Ctrl-C to stop.
MSG
wait
