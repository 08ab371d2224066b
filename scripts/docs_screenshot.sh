#!/usr/bin/env bash
# Renders the gateway's /docs page with headless Chromium into docs/api-docs.png (the picture in
# README.md). Starts a gateway of its own (debug build, a throwaway key prefix) on a free port and
# stops it afterwards. Needs Redis on 127.0.0.1:6379 and chromium (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug/routeq-gateway"
[ -x "$bin" ] || cargo build --bin routeq-gateway
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" --listen "127.0.0.1:$port" --key-prefix "{docshot}" --records off --log-level warn &
gw=$!
trap 'kill "$gw" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,3200 \
  --screenshot=docs/api-docs.png "http://127.0.0.1:$port/docs" 2>/dev/null
echo "wrote docs/api-docs.png"
