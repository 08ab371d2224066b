"""Prometheus (config, rules and their unit tests) and Grafana (provisioning and panel queries)."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from .compose import Fleet, env_of
from .core import COMPOSE_DIR, ROOT, SCRAPE_JOBS, fail, load_yaml, rel, run

def check_prometheus(fleet: Fleet | None) -> dict | None:
    cfg_path = ROOT / "prometheus" / "prometheus.yml"
    cfg = load_yaml(cfg_path)
    run(["promtool", "check", "config", str(cfg_path)], "promtool check config")
    run(["promtool", "check", "rules", str(ROOT / "prometheus" / "alerts.yml")], "promtool check rules")
    run(["promtool", "test", "rules", str(ROOT / "prometheus" / "alerts_test.yml")], "promtool test rules", cwd=ROOT / "prometheus")
    if not cfg:
        return None
    jobs = {j["job_name"]: j for j in cfg.get("scrape_configs") or []}
    for job, service in SCRAPE_JOBS.items():
        if job not in jobs:
            fail(rel(cfg_path), f"no scrape job {job}")
            continue
        if fleet is None:
            continue
        targets = []
        for sd in jobs[job].get("dns_sd_configs") or []:
            targets += [(n, sd.get("port")) for n in sd.get("names") or []]
        for sc in jobs[job].get("static_configs") or []:
            targets += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in sc.get("targets") or []]
        for host, port in targets:
            if host != service:
                fail(rel(cfg_path), f"job {job} scrapes {host}, expected the {service} service")
            elif host in fleet.services and port != fleet.admin_port(host):
                fail(rel(cfg_path), f"job {job} scrapes {host}:{port}, but it serves /metrics on {fleet.admin_port(host)}")
    for f in cfg.get("rule_files") or []:
        if not (cfg_path.parent / f).exists():
            fail(rel(cfg_path), f"rule file {f} does not exist")
    return cfg


def check_alert_tests() -> None:
    rules = load_yaml(ROOT / "prometheus" / "alerts.yml") or {}
    tests = load_yaml(ROOT / "prometheus" / "alerts_test.yml") or {}
    firing: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for t in tests.get("tests") or []:
        for a in t.get("alert_rule_test") or []:
            bucket = firing if a.get("exp_alerts") else quiet
            bucket[a["alertname"]] = bucket.get(a["alertname"], 0) + 1
    ops = (ROOT / "docs" / "operations.md")
    anchors = set()
    if ops.exists():
        for line in ops.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#+\s+(.*)$", line)
            if m:
                anchors.add(re.sub(r"[^a-z0-9 _-]", "", m.group(1).strip().lower()).replace(" ", "-"))
    for g in rules.get("groups") or []:
        for r in g.get("rules") or []:
            name = r.get("alert")
            if not name:
                continue
            if not firing.get(name):
                fail("prometheus/alerts_test.yml", f"no test where {name} fires")
            if not quiet.get(name):
                fail("prometheus/alerts_test.yml", f"no test where {name} stays quiet")
            runbook = (r.get("annotations") or {}).get("runbook", "")
            m = re.match(r"^docs/operations\.md#(.+)$", runbook)
            if not m:
                fail("prometheus/alerts.yml", f"{name}: runbook must be docs/operations.md#<anchor> (got {runbook!r})")
            elif m.group(1) not in anchors:
                fail("prometheus/alerts.yml", f"{name}: docs/operations.md has no heading for #{m.group(1)}")


def check_grafana(fleet: Fleet) -> None:
    ds_cfg = load_yaml(ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml") or {}
    uids = {d.get("uid") for d in ds_cfg.get("datasources") or []}
    for d in ds_cfg.get("datasources") or []:
        u = urlsplit(d.get("url", ""))
        if u.hostname not in fleet.services or (u.port not in fleet.listen_ports(u.hostname)):
            fail("grafana/provisioning/datasources/prometheus.yaml", f"{d.get('url')} is not a compose service's port")
    prov = load_yaml(ROOT / "grafana" / "provisioning" / "dashboards" / "routeq.yaml") or {}
    mounts = {}
    for v in (fleet.services.get("grafana") or {}).get("volumes") or []:
        parts = str(v).split(":")
        if parts[0].startswith("."):
            mounts[parts[1]] = (COMPOSE_DIR / parts[0]).resolve()
    for p in prov.get("providers") or []:
        path = (p.get("options") or {}).get("path", "")
        host = mounts.get(path)
        if host is None or not host.is_dir() or not list(host.glob("*.json")):
            fail("grafana/provisioning/dashboards/routeq.yaml", f"{path} is not a mounted folder of dashboards")
    home = env_of(fleet.services.get("grafana") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        folder, _, file = home.rpartition("/")
        if folder not in mounts or not (mounts[folder] / file).is_file():
            fail(fleet.where("grafana"), f"home dashboard {home} is not a mounted file")

    exprs: list[tuple[str, str]] = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        try:
            dash = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            fail(rel(path), f"invalid JSON: {e}")
            continue
        ids = set()
        panels = list(dash.get("panels") or [])
        for p in list(panels):
            panels += p.get("panels") or []
        cells: dict[tuple[int, int], str] = {}
        for p in panels:
            g = p.get("gridPos") or {}
            x, y, w, h = g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0)
            if w <= 0 or h <= 0 or x < 0 or x + w > 24:
                fail(rel(path), f"panel {p.get('title')!r}: gridPos {g} is outside the 24-column grid")
            for cx in range(x, x + w):
                for cy in range(y, y + h):
                    if (cx, cy) in cells:
                        fail(rel(path), f"panel {p.get('title')!r} overlaps {cells[(cx, cy)]!r}")
                        break
                    cells[(cx, cy)] = p.get("title")
                else:
                    continue
                break
        for p in panels:
            if p.get("id") in ids:
                fail(rel(path), f"duplicate panel id {p.get('id')}")
            ids.add(p.get("id"))
            if p.get("type") == "row":
                continue
            for t in p.get("targets") or []:
                ds = (t.get("datasource") or p.get("datasource") or {}).get("uid")
                if ds not in uids:
                    fail(rel(path), f"panel {p.get('title')!r} uses data source {ds!r}, not provisioned ({sorted(uids)})")
                if not t.get("expr"):
                    fail(rel(path), f"panel {p.get('title')!r} has a target without expr")
                else:
                    exprs.append((f"{path.stem}: {p.get('title')} [{t.get('refId')}]", t["expr"]))
    # promtool parses PromQL offline when the queries are recording rules.
    with tempfile.TemporaryDirectory() as tmp:
        import yaml

        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:panel_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}
        f = Path(tmp) / "dashboard_rules.yml"
        f.write_text(yaml.safe_dump(rules), encoding="utf-8")
        out = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
        if out.returncode != 0:
            for m in re.finditer(r"group \"dashboard\", rule (\d+)", out.stdout + out.stderr):
                i = int(m.group(1)) - 1
                if 0 <= i < len(exprs):
                    fail(exprs[i][0], f"query does not parse: {exprs[i][1]}")
            fail("grafana/dashboards", f"promtool check rules on the panel queries failed:\n{out.stdout}{out.stderr}")
    print(f"[check_deploy] {len(exprs)} panel queries parse", flush=True)


