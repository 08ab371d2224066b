#!/usr/bin/env bash
# cmdstats_backlog.sh BIN_DIR OUT [JOBS]: Redis commands per job (INFO commandstats of a private Redis) in a
# Prefer: wait steady run.
set -euo pipefail
bin="$1"; out="$2"; mkdir -p "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --logfile "" >"$out/redis.log" 2>&1 &
rp=$!
trap 'kill $rp 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$(dirname "$0")/../../bench/loadtest/run.py" --bin-dir "$bin" --redis-url "redis://127.0.0.1:$port" --scenario backlog --workers 1 \
  --concurrency 50 --latency 0 --provider estimate --jobs "${3:-20000}" --clients 50 --runs 1 --out-dir "$out" --name backlog >"$out/run.log" 2>&1 || true
redis-cli -p "$port" INFO commandstats > "$out/commandstats.txt"
python3 - "$out" <<'PY'
import json, sys, re
out = sys.argv[1]
j = {"ok": json.load(open(f"{out}/backlog.json"))[0]["drained"]}
# warm-up: 2 s at 20/s (~40 jobs) also counted
jobs = j["ok"]
rows = []
for line in open(f"{out}/commandstats.txt"):
    m = re.match(r"cmdstat_(\S+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)", line)
    if m:
        rows.append((m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4))))
rows.sort(key=lambda r: -r[1])
tot = sum(r[1] for r in rows)
print(f"jobs ~{jobs}; commands per job {tot / jobs:.2f}; Redis command usec per job {sum(r[2] for r in rows) / jobs:.1f}")
for name, calls, usec, per in rows[:16]:
    print(f"  {name:22s} {calls / jobs:6.2f}/job  {usec / jobs:7.1f} µs/job  {per:6.1f} µs/call")
PY
