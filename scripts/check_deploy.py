#!/usr/bin/env python3
"""Checks that what SREs deploy agrees with the code, without Docker or a cluster (CI has neither).

    python3 scripts/check_deploy.py [--no-build] [--no-live]

What it proves, each a separate check with its own error messages (code in scripts/deploy_checks/):

1. compose (compose/compose.yaml merged with compose.dev.yaml and with compose.prod.yaml, and
   the optional layers compose.sentinel.yaml on dev, compose.otel.yaml on dev and prod):
   every routeq service's command flags, subcommands, ROUTEQ_* variables (compose environment
   and the Dockerfile's ENV) and enum/boolean values exist in the real binary's --help (or are
   announced, ANNOUNCED_ENV in core.py); listen addresses bind every interface; URLs naming a
   compose service (in environments and commands, every host of a multi-host URL) use the port
   it listens on; health checks call the service's own binary (`healthcheck --url`) on the port
   it listens on; published/exposed ports are ports the service listens on; scalable services
   (gateway, worker) have no container_name and no host ports; depends_on conditions are
   satisfiable; every referenced file (build context, Dockerfile and target, bind mounts,
   secrets) exists or is documented; no unescaped `$` that compose would interpolate.
   The Sentinel layer: group, quorum, ports, announced names, min-replicas-* on every data node,
   the fleet's redis+sentinel:// URL; the OTel layer: the Collector's pipelines, ports, exporters.
2. nginx: the upstream names the gateway service and its API port; nginx listens where its
   health check and published port say.
3. prometheus: `promtool check config`, `promtool check rules` (alerts.yml, alerts_infra.yml),
   `promtool test rules`; scrape jobs target the services' metrics ports; alerts go to the
   alertmanager service; every alert has a unit test that fires and one that does not, a
   summary, a description and a runbook_url that resolves to its own docs/operations.md section;
   every job="..." an alert or a panel selects is scraped (prometheus.yml; kubernetes.yml for
   the rule files it loads).
4. alertmanager: `amtool check-config`; each severity the rules use reaches the intended
   receivers (`amtool config routes test`); every receiver's secret is mounted; the Redis
   exporter reads the fleet's streams; and (unless --no-live) one page sent to a real
   Alertmanager running this config reaches both receivers of the dev sink (compose/alertmanager/sink.py).
5. grafana: provisioning is valid YAML, the data source uid is the one the dashboard uses and
   points at the prometheus service; the dashboard is valid JSON and every panel query parses
   (each expr becomes a recording rule checked by `promtool check rules`).
6. Kubernetes (deploy/k8s/): every object against the Kubernetes schemas (kubernetes-validate
   --strict), the KEDA objects against deploy/k8s/schemas/ (jsonschema); every container against
   its binary (command, flags, variables, ports, probes, secrets as mounted files, image,
   resources, shutdown budget); Services and budgets select real pods; Secret keys documented;
   KEDA scales the worker Deployment on the predicted wait and the lag of the stream and group
   the code uses, with Redis auth from a TriggerAuthentication; prometheus/kubernetes.yml
   scrapes the headless metrics Services.

It needs PyYAML, promtool (Debian package `prometheus`), amtool and prometheus-alertmanager
(`prometheus-alertmanager`), kubernetes-validate and jsonschema (PyPI) and the debug binaries
(built with `cargo build --bins` unless --no-build, looked up under CARGO_TARGET_DIR when set);
scripts/setup.sh installs the tools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from deploy_checks import core
from deploy_checks.alerting import check_alertmanager, check_delivery, check_redis_exporter
from deploy_checks.compose import Fleet, check_nginx, check_secrets, merge
from deploy_checks.core import COMPOSE_DIR, ROOT, fail, load_yaml
from deploy_checks.images import Dockerfile, check_dockerfiles
from deploy_checks.k8s import check_objects, check_schemas, load_manifests
from deploy_checks.keda import check_k8s_prometheus, check_keda
from deploy_checks.overlays import check_otel, check_sentinel
from deploy_checks.monitoring import check_alert_tests, check_grafana, check_prometheus, check_used_jobs

# Optional compose layers (compose/compose.<layer>.yaml) and the environments each is checked on.
OVERLAYS = {"sentinel": ("dev",), "otel": ("dev", "prod")}

# --------------------------------------------------------------------------------------------
# Tools


def ensure_tools() -> None:
    missing = []
    for module, package in (("yaml", "PyYAML"), ("kubernetes_validate", "kubernetes-validate"), ("jsonschema", "jsonschema")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if missing:
        print(f"[check_deploy] missing {', '.join(missing)}: running scripts/setup.sh", flush=True)
        subprocess.run([str(ROOT / "scripts" / "setup.sh")], check=True)


def build_binaries() -> None:
    print("[check_deploy] cargo build --bins", flush=True)
    subprocess.run(["cargo", "build", "--bins", "--locked", "-q"], cwd=ROOT, check=True)


# --------------------------------------------------------------------------------------------


def main() -> int:
    ensure_tools()
    if "--no-build" not in sys.argv:
        build_binaries()
    base = load_yaml(COMPOSE_DIR / "compose.yaml")
    if not base:
        return report()
    dockerfiles: dict[Path, Dockerfile] = {}
    for df in COMPOSE_DIR.glob("Dockerfile*"):
        dockerfiles[df.resolve()] = Dockerfile(df)
    check_dockerfiles(dockerfiles)
    fleets = []
    # Each environment override, then the optional layers on top of it (OVERLAYS).
    for label in ("dev", "prod"):
        over = load_yaml(COMPOSE_DIR / f"compose.{label}.yaml")
        if over is None:
            continue
        config = merge(base, over)
        fleets.append(Fleet(label, config, dockerfiles))
        for layer, envs in OVERLAYS.items():
            if label in envs:
                extra = load_yaml(COMPOSE_DIR / f"compose.{layer}.yaml")
                if extra is not None:
                    fleets.append(Fleet(f"{label}+{layer}", merge(config, extra), dockerfiles))
    for fleet in fleets:
        if fleet.label.endswith("+sentinel"):
            check_sentinel(fleet)
        if fleet.label.endswith("+otel"):
            check_otel(fleet)
        check_nginx(fleet)
        fleet.check()
        check_secrets(fleet)
        if "sim" in fleet.services and fleet.label.startswith("prod"):
            fail(f"compose[{fleet.label}]", "the simulator runs in production")
    dev = next((f for f in fleets if f.label == "dev"), None)
    check_prometheus(dev)
    check_alert_tests()
    check_used_jobs()
    check_alertmanager(fleets)
    if dev:
        check_grafana(dev)
        check_redis_exporter(dev)
    manifests = load_manifests()
    check_schemas(manifests)
    check_objects(manifests)
    check_keda(manifests)
    check_k8s_prometheus(manifests)
    if "--no-live" not in sys.argv:
        check_delivery()
    return report()


def report() -> int:
    if core.errors:
        print(f"\ncheck_deploy: {len(core.errors)} problem(s)", file=sys.stderr)
        for e in core.errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print("check_deploy: compose, nginx, prometheus, alertmanager, grafana and Kubernetes files agree with the binaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
