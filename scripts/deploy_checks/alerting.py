"""Alertmanager: its config and templates parse (amtool 0.25), every severity the rules use is
routed to the receivers we mean, every receiver's secret is mounted by compose, the Redis
exporter watches the fleet's streams, and one real notification goes all the way through a real
Alertmanager to the dev alert sink."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .compose import Fleet, urls_in
from .core import COMPOSE_DIR, fail, load_yaml, rel, run
from .monitoring import alert_rules

AM_DIR = COMPOSE_DIR / "alertmanager"
AM_CONFIG = AM_DIR / "alertmanager.yml"
# Who hears of each severity (docs/operations.md, "How alerts reach someone").
RECEIVERS = {"page": "pager,chat", "warning": "chat", "ticket": "chat"}
SECRET_DIR = "/run/secrets/"


def secret_files(cfg: dict) -> dict[str, str]:
    """receiver name -> the secret each of its *_file settings reads (a /run/secrets/ name)."""
    out: dict[str, str] = {}

    def walk(receiver: str, node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("_file") and isinstance(v, str):
                    if not v.startswith(SECRET_DIR):
                        fail(rel(AM_CONFIG), f"receiver {receiver}: {k} {v} is not a Docker secret ({SECRET_DIR}...)")
                    out[v.removeprefix(SECRET_DIR)] = receiver
                else:
                    walk(receiver, v)
        elif isinstance(node, list):
            for v in node:
                walk(receiver, v)

    for r in cfg.get("receivers") or []:
        walk(r.get("name", "?"), r)
    return out


def check_alertmanager(fleets: list[Fleet]) -> None:
    amtool = shutil.which("amtool")
    cfg = load_yaml(AM_CONFIG) or {}
    if amtool is None:
        fail("amtool", "not installed (Debian package prometheus-alertmanager; scripts/setup.sh)")
        return
    run([amtool, "check-config", str(AM_CONFIG)], "amtool check-config")
    severities = {r.get("labels", {}).get("severity") for _, r in alert_rules()}
    for sev in sorted(severities, key=str):
        if sev not in RECEIVERS:
            fail("prometheus/alerts*.yml", f"severity {sev!r} has no receivers in alerting.py's RECEIVERS (page, warning, ticket)")
            continue
        out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={AM_CONFIG}",
                              f"severity={sev}"], capture_output=True, text=True)
        got = out.stdout.strip()
        if got != RECEIVERS[sev]:
            fail(rel(AM_CONFIG), f"severity={sev} reaches {got or out.stderr.strip()!r}, expected {RECEIVERS[sev]}")
    print(f"[check_deploy] alert routing: {', '.join(f'{s}->{RECEIVERS[s]}' for s in sorted(severities & RECEIVERS.keys()))}", flush=True)

    secrets = secret_files(cfg)
    for fleet in fleets:
        am = fleet.services.get("alertmanager")
        if am is None:
            fail(f"compose[{fleet.label}]", "no alertmanager service")
            continue
        mounted = {s if isinstance(s, str) else s.get("source") for s in am.get("secrets") or []}
        declared = fleet.config.get("secrets") or {}
        for name, receiver in secrets.items():
            if name not in mounted:
                fail(fleet.where("alertmanager"), f"receiver {receiver} reads {SECRET_DIR}{name}, which is not mounted")
            spec = declared.get(name)
            path = (COMPOSE_DIR / (spec or {}).get("file", "")).resolve()
            # Committed URL files (dev) must name a compose service on a port it listens on.
            if spec and path.is_file():
                for url, host, port in urls_in(path.read_text(encoding="utf-8")):
                    if host not in fleet.services or port not in fleet.listen_ports(host):
                        fail(f"{rel(path)}", f"{url}: not a compose service's port")


def check_redis_exporter(fleet: Fleet) -> None:
    """The exporter reads the streams of the fleet's key prefix."""
    keys_rs = (COMPOSE_DIR.parent / "shared" / "src" / "redis" / "keys.rs").read_text(encoding="utf-8")
    suffixes = [m for m in ("jobs", "records") if re.search(rf'format!\("\{{\}}:{m}"', keys_rs)]
    prefix = fleet.env("worker").get("ROUTEQ_KEY_PREFIX", "{routeq}")
    cmd = [str(a) for a in fleet.command("redis-exporter")]
    streams = next((a.partition("=")[2] for a in cmd if a.startswith("-check-single-streams=")), "")
    want = {f"{prefix}:{s}" for s in suffixes}
    if set(streams.split(",")) != want:
        fail(fleet.where("redis-exporter"), f"-check-single-streams={streams}, the fleet's streams are {','.join(sorted(want))}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, until: float) -> bool:
    while time.monotonic() < until:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def check_delivery() -> None:
    """A page posted to a real Alertmanager running alertmanager.yml (the secret paths pointed at
    files naming a local sink.py) reaches both the pager and the chat receiver, rendered by the
    template with its runbook link."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        fail("alert delivery", "prometheus-alertmanager is not installed (scripts/setup.sh)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sink_port, am_port = free_port(), free_port()
        text = AM_CONFIG.read_text(encoding="utf-8").replace(SECRET_DIR, f"{tmp}/secrets/")
        text = text.replace("templates/*.tmpl", f"{AM_DIR}/templates/*.tmpl")
        (tmp_path / "secrets").mkdir()
        for name, receiver in secret_files(load_yaml(AM_CONFIG) or {}).items():
            (tmp_path / "secrets" / name).write_text(f"http://127.0.0.1:{sink_port}/{receiver}\n")
        (tmp_path / "alertmanager.yml").write_text(text)
        sink_log = open(tmp_path / "sink.log", "w+")
        am_log = open(tmp_path / "am.log", "w+")
        sink = subprocess.Popen([sys.executable, str(AM_DIR / "sink.py"), "--host", "127.0.0.1", "--port", str(sink_port)],
                                stdout=sink_log, stderr=subprocess.STDOUT)
        am = subprocess.Popen([binary, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                              stdout=am_log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{am_port}"
            until = time.monotonic() + 30
            if not wait_http(f"{base}/-/ready", until) or not wait_http(f"http://127.0.0.1:{sink_port}/healthz", until):
                am_log.seek(0)
                fail("alert delivery", f"Alertmanager or the sink did not start:\n{am_log.read()[-2000:]}")
                return
            alert = [{"labels": {"alertname": "RouteqDeliveryCheck", "severity": "page", "job": "routeq-gateway"},
                      "annotations": {"summary": "delivery check", "description": "check_deploy's test page",
                                      "runbook_url": "docs/operations.md#how-alerts-reach-someone"}}]
            req = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(alert).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            got: dict[str, str] = {}
            until = time.monotonic() + 40   # the pager route's group_wait is 10 s
            while time.monotonic() < until and len(got) < 2:
                time.sleep(0.5)
                sink_log.seek(0)
                for line in sink_log.read().splitlines():
                    if line.startswith("{"):
                        n = json.loads(line)
                        got[n["receiver"]] = json.dumps(n["message"])
            for receiver in ("pager", "chat"):
                msg = got.get(receiver)
                if msg is None:
                    am_log.seek(0)
                    fail("alert delivery", f"the page never reached {receiver}; Alertmanager said:\n{am_log.read()[-2000:]}")
                elif "RouteqDeliveryCheck" not in msg or "docs/operations.md#how-alerts-reach-someone" not in msg:
                    fail("alert delivery", f"{receiver} got a message without the alert name or runbook: {msg[:400]}")
            if len(got) == 2:
                print("[check_deploy] alert delivery: a page reached pager and chat through a real Alertmanager", flush=True)
        finally:
            for p in (am, sink):
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
            sink_log.close()
            am_log.close()
