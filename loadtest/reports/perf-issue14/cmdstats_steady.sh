#!/usr/bin/env bash
# cmdstats_steady.sh BIN_DIR OUT [RATE] [DURATION]: Redis commands and Redis CPU per job (INFO
# commandstats and INFO cpu of a private Redis) in a Prefer: wait steady run (one gateway, one
# worker at concurrency 200, simulator at 150-250 ms, --auth keys).
set -euo pipefail
bin="$1"; out="$2"; rate="${3:-500}"; duration="${4:-20s}"; mkdir -p "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --logfile "" >"$out/redis.log" 2>&1 &
rp=$!
trap 'kill $rp 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$(dirname "$0")/../../bench/loadtest/run.py" --bin-dir "$bin" --redis-url "redis://127.0.0.1:$port" --scenario steady --workers 1 \
  --concurrency 200 --latency 150-250 --rate "$rate" --duration "$duration" --mode wait --runs 1 --targets routeq --out-dir "$out" --name steady >"$out/run.log" 2>&1 || true
redis-cli -p "$port" INFO commandstats > "$out/commandstats.txt"
python3 - "$out" <<'PY'
import json, sys, re
out = sys.argv[1]
r = json.load(open(f"{out}/steady.json"))["steady"][0]["routeq"]
jobs = r["ok"]
rows = []
for line in open(f"{out}/commandstats.txt"):
    m = re.match(r"cmdstat_(\S+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)", line)
    if m:
        rows.append((m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4))))
rows.sort(key=lambda r: -r[1])
tot = sum(r[1] for r in rows)
print(f"jobs {jobs}; fleet CPU per job {r['cpu_per_job_ms']:.3f} ms (Redis {r['cpu']['redis'] / jobs * 1000:.3f}); "
      f"overhead p50 {r['overhead']['med']:.2f} ms p99 {r['overhead']['p(99)']:.2f} ms")
print(f"commands per job {tot / jobs:.2f} (calls from scripts included); Redis command usec per job {sum(r[2] for r in rows) / jobs:.1f}")
for name, calls, usec, per in rows[:18]:
    print(f"  {name:22s} {calls / jobs:6.2f}/job  {usec / jobs:7.1f} µs/job  {per:6.1f} µs/call")
PY
