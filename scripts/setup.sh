#!/usr/bin/env bash
# Makes sure what routeq needs on this machine is installed and running: Redis and PostgreSQL
# (installed from Debian's packages where missing, started where stopped) with the PostGIS
# extension, Prometheus, promtool, nginx and PyYAML for the observability tests and
# scripts/check_deploy.py, and cargo-nextest when it can be had. Safe to run again: it only acts
# on what is missing.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  # Packages like nginx and prometheus start their own daemons on install; routeq starts what it
  # needs itself, so forbid service starts during the install (policy-rc.d exit 101), unless the
  # machine already has a policy of its own.
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && added=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null || rc=$?
  if [ -n "$added" ]; then $SUDO rm -f "$policy"; fi
  return "$rc"
}

redis_port_open() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
pg_port_open() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

# --- Redis -------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server
fi
if ! redis_port_open; then
  log "starting Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis_port_open && break; sleep 0.1; done
fi
redis_port_open || { log "Redis did not come up on 127.0.0.1:6379"; exit 1; }

# --- PostgreSQL (the durable record) -----------------------------------------------------------
if [ "${ROUTEQ_SKIP_POSTGRES:-}" != "1" ]; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! pg_port_open; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 1 100); do pg_port_open && break; sleep 0.1; done
  fi
  pg_port_open || log "warning: PostgreSQL is not listening on 127.0.0.1:5432"

  # --- PostGIS (charging stations, routeq-stations) ------------------------------------------
  # The stations migrations run CREATE EXTENSION postgis (distance search on geography with a GiST
  # index) in every database, the tests' fresh ones included. It is Debian's
  # postgresql-<major>-postgis-3 for the installed server, installed only when missing and with
  # no daemon started (apt_install's policy); the running server loads it without a restart.
  pg_major="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  if [ -n "$pg_major" ] && [ ! -e "/usr/share/postgresql/$pg_major/extension/postgis.control" ]; then
    apt_install "postgresql-$pg_major-postgis-3"
  fi
fi

# --- Observability and deployment tools ---------------------------------------------------------
# prometheus (with promtool) and nginx: the observability tests start a real Prometheus and a real
# nginx in front of two gateways (never as services: the packages' own daemons are not started
# here); promtool and PyYAML: scripts/check_deploy.py.
tools=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || tools+=(prometheus)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || tools+=(nginx-light)
# chromium: scripts/docs_screenshot.sh renders /docs headless into docs/api-docs.png.
command -v chromium >/dev/null 2>&1 || tools+=(chromium)
if [ ${#tools[@]} -gt 0 ]; then
  apt_install "${tools[@]}"
fi
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  log "installing PyYAML"
  python3 -m pip install --quiet pyyaml || apt_install python3-yaml
fi

# --- A browser for the console's test ------------------------------------------------------------
# Debian's chromium, headless: testkit/tests/console.rs drives the web console through the Chrome
# DevTools protocol (chromium --remote-debugging-port), so no chromium-driver is needed.
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
fi

# --- Alerting and Kubernetes checks (scripts/check_deploy.py) ----------------------------------
# amtool (Debian package prometheus-alertmanager) checks compose/alertmanager/alertmanager.yml and
# its routing tree; kubernetes-validate (PyPI: it bundles the Kubernetes JSON schemas, so nothing
# is downloaded at check time) checks deploy/k8s/ offline, and jsonschema (>= 4.23, newer than
# Debian's) checks the KEDA objects against deploy/k8s/schemas/. Both go into the Python that
# runs check_deploy.py, as the user's packages when that Python is the system's.
if ! command -v amtool >/dev/null 2>&1; then
  apt_install prometheus-alertmanager
fi
pip_user() {
  python3 -m pip install --quiet "$@" 2>/dev/null \
    || python3 -m pip install --quiet --user "$@" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "$@"
}
if ! python3 -c 'import kubernetes_validate, jsonschema, sys; from importlib.metadata import version as v; sys.exit(0 if tuple(int(x) for x in v("jsonschema").split(".")[:2]) >= (4, 23) else 1)' >/dev/null 2>&1; then
  log "installing kubernetes-validate and jsonschema (PyPI)"
  pip_user "kubernetes-validate==1.37.0" "jsonschema>=4.23"
fi

# --- The generated API client (testkit/tests/client/) -------------------------------------------
# openapi-python-client (PyPI) generates a typed Python client from docs/openapi.json; the test
# builds it and calls a live gateway with it. It lives in its own venv (ROUTEQ_CLIENT_VENV,
# default .venv-client at the repository root) so nothing is installed into the system Python.
client_venv="${ROUTEQ_CLIENT_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv-client}"
if ! "$client_venv/bin/openapi-python-client" --version >/dev/null 2>&1; then
  log "installing openapi-python-client into $client_venv"
  python3 -m venv "$client_venv" || { apt_install python3-venv && python3 -m venv "$client_venv"; }
  "$client_venv/bin/pip" install --quiet "openapi-python-client==0.29.1"
fi

# --- cargo-nextest (optional: the test script falls back to cargo test) ------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  log "cargo-nextest not found; tests will run with cargo test"
fi
log "ready"
