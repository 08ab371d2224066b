"""The optional compose layers: Sentinel (compose.sentinel.yaml) and OpenTelemetry
(compose.otel.yaml). Neither Sentinel's nor the Collector's own binary runs here, so these check
what ties the files together: names, ports and the settings the layer promises."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .compose import Fleet, port_of, urls_in
from .core import COMPOSE_DIR, fail, load_yaml, rel

SENTINEL_CONF = COMPOSE_DIR / "sentinel" / "sentinel.conf"
COLLECTOR_CONF = COMPOSE_DIR / "otel" / "collector.yaml"
# What every data node of the Sentinel layer must run with (docs/operations.md).
DATA_NODE_FLAGS = {"--min-replicas-to-write": "1", "--min-replicas-max-lag": "2"}


def flag(cmd: list[str], name: str, n: int = 1) -> list[str] | None:
    """The n values after `name` in a command, or None when it is absent."""
    words = " ".join(cmd).split()
    if name not in words:
        return None
    i = words.index(name)
    return words[i + 1 : i + 1 + n]


def check_sentinel(fleet: Fleet) -> None:
    conf = SENTINEL_CONF.read_text(encoding="utf-8") if SENTINEL_CONF.exists() else ""
    m = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf, re.M)
    if not m:
        fail(rel(SENTINEL_CONF), "no `sentinel monitor <name> <host> <port> <quorum>`")
        return
    group, master, master_port, quorum = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
    if "sentinel resolve-hostnames yes" not in conf:
        fail(rel(SENTINEL_CONF), "monitors a host name without `sentinel resolve-hostnames yes`")
    sentinels = sorted(n for n, s in fleet.services.items()
                       if "sentinel.conf" in " ".join(map(str, s.get("volumes") or [])))
    if len(sentinels) < 3:
        fail(f"compose[{fleet.label}]", f"{len(sentinels)} sentinels; a failover needs a majority of at least 3")
    if not len(sentinels) // 2 < quorum <= len(sentinels):
        fail(rel(SENTINEL_CONF), f"quorum {quorum} is not a majority of the {len(sentinels)} sentinels")
    if master not in fleet.services or master_port not in fleet.listen_ports(master):
        fail(rel(SENTINEL_CONF), f"monitors {master}:{master_port}, not a compose service's port")
    pm = re.search(r"^port (\d+)$", conf, re.M)
    port = int(pm.group(1)) if pm else None
    for name in sentinels:
        cmd = [str(a) for a in fleet.command(name)]
        where = fleet.where(name)
        if flag(cmd, "--port") != [str(port)]:
            fail(where, f"--port {flag(cmd, '--port')} differs from sentinel.conf's port {port}")
        if flag(cmd, "announce-ip") != [name]:
            fail(where, f"announces {flag(cmd, 'announce-ip')}, not its own name {name}")
        if "--sentinel" not in " ".join(cmd).split():
            fail(where, "does not run redis-server in --sentinel mode")
    # Data nodes: the first master and every replica of it.
    nodes = [master] + sorted(n for n in fleet.services if flag([str(a) for a in fleet.command(n)], "--replicaof", 2))
    if len(nodes) < 3:
        fail(f"compose[{fleet.label}]", f"data nodes {nodes}: a master and two replicas expected")
    for name in nodes:
        cmd = [str(a) for a in fleet.command(name)]
        where = fleet.where(name)
        for f, value in DATA_NODE_FLAGS.items():
            if flag(cmd, f) != [value]:
                fail(where, f"runs without {f} {value}")
        if flag(cmd, "--replica-announce-ip") != [name]:
            fail(where, f"announces {flag(cmd, '--replica-announce-ip')}, not its own name {name}")
        replicaof = flag(cmd, "--replicaof", 2)
        if name != master and replicaof != [master, str(master_port)]:
            fail(where, f"--replicaof {replicaof}, the master is {master} {master_port}")
    # The fleet asks the sentinels for that group.
    for svc in ("gateway", "worker"):
        url = fleet.env(svc).get("ROUTEQ_REDIS_URL", "")
        parts = urlsplit(url)
        where = f"{fleet.where(svc)}.environment.ROUTEQ_REDIS_URL"
        if parts.scheme != "redis+sentinel":
            fail(where, f"{url}: the Sentinel layer's fleet uses redis+sentinel://")
            continue
        if parts.path.strip("/") != group:
            fail(where, f"asks for group {parts.path.strip('/')!r}, sentinel.conf monitors {group!r}")
        hosts = sorted(h for _, h, _ in urls_in(url))
        if hosts != sentinels:
            fail(where, f"lists sentinels {hosts}, the layer runs {sentinels}")


def check_otel(fleet: Fleet) -> None:
    cfg = load_yaml(COLLECTOR_CONF) or {}
    svc = fleet.services.get("otel-collector")
    if svc is None:
        fail(f"compose[{fleet.label}]", "no otel-collector service")
        return
    cmd = [str(a) for a in fleet.command("otel-collector")]
    config_path = next((a.partition("=")[2] for a in cmd if a.startswith("--config=")), None)
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in svc.get("volumes") or []}
    if config_path not in mounts or (COMPOSE_DIR / mounts[config_path]).resolve() != COLLECTOR_CONF.resolve():
        fail(fleet.where("otel-collector"), f"--config={config_path} is not compose/otel/collector.yaml mounted")
    pipelines = ((cfg.get("service") or {}).get("pipelines") or {})
    if "traces" not in pipelines:
        fail(rel(COLLECTOR_CONF), "no traces pipeline")
    for pname, p in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for comp in p.get(kind) or []:
                if comp not in (cfg.get(kind) or {}):
                    fail(rel(COLLECTOR_CONF), f"pipeline {pname} uses {kind[:-1]} {comp}, which is not defined")
    http = ((((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}).get("http") or {})
    http_port = port_of(str(http.get("endpoint", "")))
    for svc_name in ("gateway", "worker"):
        ep = fleet.env(svc_name).get("ROUTEQ_OTLP_ENDPOINT")
        where = f"{fleet.where(svc_name)}.environment.ROUTEQ_OTLP_ENDPOINT"
        if not ep:
            fail(where, "not set: the OpenTelemetry layer's fleet exports to the collector")
        elif urlsplit(ep).hostname != "otel-collector" or urlsplit(ep).port != http_port:
            fail(where, f"{ep}, but the collector receives OTLP/HTTP on otel-collector:{http_port}")
    for name, exp in (cfg.get("exporters") or {}).items():
        endpoint = str((exp or {}).get("endpoint", ""))
        host, _, port = endpoint.rpartition(":")
        if endpoint and (host not in fleet.services or not port.isdigit() or int(port) not in fleet.listen_ports(host)):
            fail(rel(COLLECTOR_CONF), f"exporter {name} sends to {endpoint}, not a compose service's port")
