#!/usr/bin/env bash
# Measures the provider calls that caching and coalescing save, and the peak provider rate
# against the fleet-wide rate limit, on a workload with repeated destinations.
#
#   scripts/bench-provider-savings.sh [--workers N] [--jobs N] [--rate N] [--router-rps R] [--geocoder-rps R]
#
# Starts a private fleet from a release build — the provider simulator (150–250 ms latency),
# one gateway and N workers (2 by default) under their own Redis key prefix, on free ports —
# runs `worker/examples/provider_savings.rs` against it, prints its report and stops the fleet.
# Needs Redis on 127.0.0.1:6379 (scripts/setup.sh installs it). The simulator's /_sim/stats
# counts the calls; the workers' /metrics split the savings into cache hits and coalesced calls.
set -euo pipefail
cd "$(dirname "$0")/.."

workers=2 jobs=2000 rate=100 router_rps=50 geocoder_rps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --router-rps) router_rps="$2"; shift 2 ;;
    --geocoder-rps) geocoder_rps="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

ROUTEQ_SKIP_POSTGRES=1 scripts/setup.sh >/dev/null
cargo build --release -q -p routeq-sim -p routeq-gateway -p routeq-worker --bins --example provider_savings
bin=target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
prefix="{bench-savings-$$}"
sim_port=$(free_port); gw_port=$(free_port)
export ROUTEQ_KEY_PREFIX="$prefix" ROUTEQ_LOG=warn ROUTEQ_TENANT_RATE_PER_S=0
log=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

"$bin/routeq-sim" --listen "127.0.0.1:$sim_port" >"$log/sim.log" 2>&1 & pids+=($!)
"$bin/routeq-gateway" --listen "127.0.0.1:$gw_port" >"$log/gateway.log" 2>&1 & pids+=($!)
metrics=()
for i in $(seq 1 "$workers"); do
  port=$(free_port)
  metrics+=("127.0.0.1:$port")
  "$bin/routeq-worker" --geocoder-url "http://127.0.0.1:$sim_port" --router-url "http://127.0.0.1:$sim_port" \
    --metrics-listen "127.0.0.1:$port" --consumer "bench-$i-$$" \
    --router-rps "$router_rps" --geocoder-rps "$geocoder_rps" >"$log/worker-$i.log" 2>&1 & pids+=($!)
done
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$gw_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 0.5
"$bin/examples/provider_savings" --gateway "http://127.0.0.1:$gw_port" --sim "http://127.0.0.1:$sim_port" \
  --worker-metrics "$(IFS=,; echo "${metrics[*]}")" --jobs "$jobs" --rate "$rate" \
  --router-rps "$router_rps" --geocoder-rps "$geocoder_rps"
echo "(logs in $log)"
