#!/usr/bin/env bash
# Schema-based fuzzing of the HTTP API: schemathesis (from PyPI) generates valid and invalid
# requests from the served /openapi.json and checks that no answer is a 5xx and none contradicts
# the document (status, content type, body schema). Bounded: --max-examples per operation and an
# overall timeout. Starts its own gateway on a free port under a private key prefix, with a
# PostgreSQL database of its own holding the station schema.
#
#   scripts/fuzz_api.sh [--max-examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples=40
if [ "${1:-}" = "--max-examples" ]; then max_examples="$2"; fi

scripts/setup.sh
if ! command -v st >/dev/null 2>&1; then
  echo "[fuzz] installing schemathesis" >&2
  python3 -m pip install --quiet --disable-pip-version-check schemathesis >&2
fi
cargo build -q -p routeq-gateway --bin routeq-gateway -p routeq-stations --bin routeq-stations

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prefix="{fuzz-$$-$RANDOM}"
log=$(mktemp)
# A database of its own with the station schema, so the station endpoints answer for real.
db="routeq_fuzz_$$_$RANDOM"
createdb -h 127.0.0.1 -U postgres "$db"
export ROUTEQ_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
target/debug/routeq-stations migrate >/dev/null
# No worker runs here, so the sweeper would end every fuzzed job `expired` at its deadline plus the
# grace, and GET would then answer the documented final 504 JOB_EXPIRED, which the "no 5xx" check
# cannot tell from a crash: the grace is set past the run's length.
target/debug/routeq-gateway --listen "127.0.0.1:$port" --key-prefix "$prefix" \
  --log-level warn --tenant-rate-per-s 0 --admission false --max-wait-s 2 \
  --sweep-grace-ms 3600000 >"$log" 2>&1 &
gw=$!
cleanup() {
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

# Checks: no 5xx; status codes, content types, headers and bodies as documented.
timeout 600 st run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --generation-deterministic \
  --request-timeout 10 \
  --suppress-health-check all
echo "[fuzz] no 5xx and no answer that contradicts the document"
