#!/usr/bin/env bash
# Profiles routeq under load: runs a load-test scenario (scripts/loadtest.sh, same arguments), waits
# --delay seconds for it to warm up, samples every CPU of the machine for --seconds with
# `perf record -e cpu-clock` (a software clock: it works where hardware counters do not, as on
# this kind of VM), waits for the scenario to end, and writes to --out:
#   perf.data      the samples (perf report -i perf.data)
#   profile.txt    CPU by process and by library or binary, then the hottest symbols of the
#                  gateway, the workers and Redis
# Installs perf (Debian's linux-perf) if it is missing.
#
#   scripts/profile.sh [--delay 20] [--seconds 15] [--out DIR] -- <scripts/loadtest.sh arguments>
#   scripts/profile.sh --delay 20 --seconds 15 --out /tmp/prof-500 -- \
#       --scenario steady --workers 2 --concurrency 64 --rate 500 --duration 45s --mode wait \
#       --runs 1 --targets routeq --out-dir /tmp/prof-500/report
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
delay=20
seconds=15
out="$root/.run/profile"
while [ $# -gt 0 ]; do
  case "$1" in
    --delay) delay="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (loadtest arguments go after --)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "give the scenario after --, e.g. -- --scenario steady --rate 500" >&2; exit 2; }

if ! command -v perf >/dev/null; then
  echo "[profile] installing linux-perf" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf >/dev/null
fi
mkdir -p "$out"

"$root/scripts/loadtest.sh" "$@" >"$out/loadtest.log" 2>&1 &
load=$!
sleep "$delay"
if ! kill -0 "$load" 2>/dev/null; then
  echo "[profile] the scenario ended before the profile started; see $out/loadtest.log" >&2
  exit 1
fi
echo "[profile] sampling all CPUs for ${seconds}s" >&2
perf record -a -e cpu-clock -F 999 -o "$out/perf.data" -- sleep "$seconds" 2>>"$out/loadtest.log"
wait "$load"

report() { perf report -i "$out/perf.data" --stdio "$@" 2>/dev/null | grep -v -e '^#' -e '^$' || true; }
{
  echo "# CPU samples by process (thread name) and binary or library"
  report --sort comm,dso --percent-limit 0.5
  for bin in routeq-gateway routeq-worker redis-server; do
    echo
    echo "# hottest symbols of $bin (percent of its own samples)"
    # Tokio threads are all named tokio-rt-worker: select the binary through its thread ids.
    tids=$(report --sort pid,dso | awk -v b="$bin" '$0 ~ b {split($2, p, ":"); print p[1]}' \
      | sort -u | paste -sd, -)
    if [ -n "$tids" ]; then
      report --tid "$tids" --percentage relative --sort dso,sym --percent-limit 1 | head -25
    fi
  done
} >"$out/profile.txt"
echo "[profile] wrote $out/profile.txt and $out/perf.data" >&2
