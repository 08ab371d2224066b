"""Prometheus (config, rules and their unit tests) and Grafana (provisioning and panel queries)."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from .compose import Fleet, env_of
from .core import COMPOSE_DIR, ROOT, SCRAPE_JOBS, STATIC_JOBS, fail, load_yaml, rel, run

PROM_DIR = ROOT / "prometheus"

def rule_files() -> list[Path]:
    """The rule files prometheus.yml loads (alerts.yml: routeq's own; alerts_infra.yml: its dependencies')."""
    cfg = load_yaml(PROM_DIR / "prometheus.yml") or {}
    return [PROM_DIR / f for f in cfg.get("rule_files") or []]


def test_files() -> list[Path]:
    """The unit-test files of the rules: alerts_test.yml, alerts_infra_test.yml."""
    return sorted(PROM_DIR.glob("*_test.yml"))


def check_prometheus(fleet: Fleet | None) -> dict | None:
    cfg_path = PROM_DIR / "prometheus.yml"
    cfg = load_yaml(cfg_path)
    run(["promtool", "check", "config", str(cfg_path)], "promtool check config")
    files = rule_files()
    run(["promtool", "check", "rules", *map(str, files)], "promtool check rules")
    run(["promtool", "test", "rules", *[t.name for t in test_files()]], "promtool test rules", cwd=PROM_DIR)
    if not cfg:
        return None
    tested = {r for t in test_files() for r in (load_yaml(t) or {}).get("rule_files") or []}
    for f in files:
        if not f.exists():
            fail(rel(cfg_path), f"rule file {f.name} does not exist")
        if f.name not in tested:
            fail("prometheus/*_test.yml", f"no test file loads {f.name}: its alerts are untested")
    jobs = {j["job_name"]: j for j in cfg.get("scrape_configs") or []}
    for job in [*SCRAPE_JOBS, *STATIC_JOBS]:
        if job not in jobs:
            fail(rel(cfg_path), f"no scrape job {job}")
    if fleet is None:
        return cfg
    for job, spec in jobs.items():
        targets = []
        for sd in spec.get("dns_sd_configs") or []:
            targets += [(n, sd.get("port")) for n in sd.get("names") or []]
        for sc in spec.get("static_configs") or []:
            targets += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in sc.get("targets") or []]
        for host, port in targets:
            expected = SCRAPE_JOBS.get(job) or STATIC_JOBS.get(job)
            if expected and host != expected:
                fail(rel(cfg_path), f"job {job} scrapes {host}, expected the {expected} service")
            elif host == "localhost":
                continue
            elif host not in fleet.services:
                fail(rel(cfg_path), f"job {job} scrapes {host}, which is no compose service")
            elif job in SCRAPE_JOBS and port != fleet.admin_port(host):
                fail(rel(cfg_path), f"job {job} scrapes {host}:{port}, but it serves /metrics on {fleet.admin_port(host)}")
            elif job not in SCRAPE_JOBS and port not in fleet.listen_ports(host):
                fail(rel(cfg_path), f"job {job} scrapes {host}:{port}, but {host} listens on {sorted(fleet.listen_ports(host))}")
    # Alerts go to the compose alertmanager service, on the port it listens on.
    managers = [t for am in (cfg.get("alerting") or {}).get("alertmanagers") or []
                for sc in am.get("static_configs") or [] for t in sc.get("targets") or []]
    if not managers:
        fail(rel(cfg_path), "no alerting.alertmanagers: alerts would reach no one")
    for t in managers:
        host, _, port = t.rpartition(":")
        if host not in fleet.services or int(port) not in fleet.listen_ports(host):
            fail(rel(cfg_path), f"alertmanager target {t} is not a compose service's port")
    return cfg


def alert_rules() -> list[tuple[str, dict]]:
    """(file name, rule) for every alerting rule of every rule file."""
    out = []
    for f in rule_files():
        for g in (load_yaml(f) or {}).get("groups") or []:
            out += [(f.name, r) for r in g.get("rules") or [] if r.get("alert")]
    return out


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of docs/operations.md's headings."""
    ops = ROOT / "docs" / "operations.md"
    anchors = set()
    if ops.exists():
        for line in ops.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#+\s+(.*)$", line)
            if m:
                anchors.add(re.sub(r"[^a-z0-9 _-]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def check_alert_tests() -> None:
    """Every alert: a unit test where it fires and one where it stays quiet, a severity the
    Alertmanager routes, a summary, a description, and a runbook_url that resolves."""
    firing: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for t in [t for f in test_files() for t in (load_yaml(f) or {}).get("tests") or []]:
        for a in t.get("alert_rule_test") or []:
            bucket = firing if a.get("exp_alerts") else quiet
            bucket[a["alertname"]] = bucket.get(a["alertname"], 0) + 1
    anchors = runbook_anchors()
    for file, r in alert_rules():
        name = r["alert"]
        where = f"prometheus/{file}"
        if not firing.get(name):
            fail("prometheus/*_test.yml", f"no test where {name} fires")
        if not quiet.get(name):
            fail("prometheus/*_test.yml", f"no test where {name} stays quiet")
        annotations = r.get("annotations") or {}
        for key in ("summary", "description"):
            if not annotations.get(key):
                fail(where, f"{name}: no {key} annotation (the notification text shows it)")
        runbook = annotations.get("runbook_url", "")
        m = re.match(r"^docs/operations\.md#(.+)$", runbook)
        if not m:
            fail(where, f"{name}: runbook_url must be docs/operations.md#<anchor> (got {runbook!r})")
        elif m.group(1) not in anchors:
            fail(where, f"{name}: docs/operations.md has no heading for #{m.group(1)}")
        elif m.group(1) != name.lower():
            fail(where, f"{name}: runbook_url should be #{name.lower()}, the alert's own section")


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




def jobs_selected(expr: str) -> set[str]:
    """The scrape jobs a PromQL expression selects by name (job="..."; regex matchers are not read)."""
    return set(re.findall(r'\bjob\s*=\s*"([^"]+)"', expr))


def check_used_jobs() -> None:
    """Every job an alert rule or a dashboard panel selects is a scrape job: of
    prometheus/prometheus.yml (compose, which loads every rule file and feeds Grafana), and, for
    the rule files prometheus/kubernetes.yml loads, of that one too. A selected job nobody scrapes
    is a panel that stays empty and an alert that never fires."""
    users: list[tuple[str, str]] = []
    for file, r in alert_rules():
        users += [(f"prometheus/{file}: {r['alert']}", j) for j in jobs_selected(str(r.get("expr", "")))]
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        try:
            dash = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue  # check_grafana reports it
        panels = list(dash.get("panels") or [])
        for p in list(panels):
            panels += p.get("panels") or []
        for p in panels:
            for t in p.get("targets") or []:
                users += [(f"{rel(path)}: panel {p.get('title')!r}", j) for j in jobs_selected(str(t.get("expr", "")))]
    compose_jobs = {j.get("job_name") for j in (load_yaml(PROM_DIR / "prometheus.yml") or {}).get("scrape_configs") or []}
    for where, job in users:
        if job not in compose_jobs:
            fail(where, f"selects job={job!r}, which prometheus/prometheus.yml does not scrape")
    k8s_cfg = load_yaml(PROM_DIR / "kubernetes.yml") or {}
    k8s_jobs = {j.get("job_name") for j in k8s_cfg.get("scrape_configs") or []}
    for f in k8s_cfg.get("rule_files") or []:
        for g in (load_yaml(PROM_DIR / f) or {}).get("groups") or []:
            for r in g.get("rules") or []:
                for job in jobs_selected(str(r.get("expr", ""))) - k8s_jobs:
                    fail(f"prometheus/{f}: {r.get('alert') or r.get('record')}",
                         f"selects job={job!r}, which prometheus/kubernetes.yml (which loads {f}) does not scrape")
    print(f"[check_deploy] {len(users)} job selectors of alerts and panels name scraped jobs", flush=True)
