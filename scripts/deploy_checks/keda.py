"""KEDA on Kubernetes: the ScaledObject scales the worker Deployment on the predicted wait
(Prometheus) with the consumer-group lag (Redis) as the fallback, on the names the code uses,
with Redis auth from a TriggerAuthentication; and the in-cluster Prometheus config
(prometheus/kubernetes.yml) scrapes the jobs that query and the alerts select."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from .core import ROOT, SCRAPE_JOBS, fail, load_yaml, rel, run
from .k8s import NAMESPACE, Obj, pod_spec

K8S_PROM = ROOT / "prometheus" / "kubernetes.yml"
# KEDA's redis-streams TriggerAuthentication parameters.
REDIS_AUTH_PARAMS = {"password", "username", "tls", "ca", "cert", "key"}


def env_of_deployment(o: Obj) -> dict[str, str]:
    c = ((pod_spec(o) or {}).get("containers") or [{}])[0]
    return {e["name"]: str(e.get("value", "")) for e in c.get("env") or [] if "name" in e}


def check_keda(objs: list[Obj]) -> None:
    scaled = [o for o in objs if o.kind == "ScaledObject"]
    auths = {o.name: o for o in objs if o.kind == "TriggerAuthentication"}
    deployments = {o.name: o for o in objs if o.kind == "Deployment"}
    if not scaled:
        fail(rel(ROOT / "deploy" / "k8s"), "no ScaledObject: the workers do not autoscale")
    keys_rs = (ROOT / "shared" / "src" / "redis" / "keys.rs").read_text(encoding="utf-8")
    group = re.search(r'const GROUP: &\'static str = "([^"]+)"', keys_rs)
    stream_suffix = re.search(r'fn jobs_stream\(&self\) -> String \{\s*format!\("\{\}:([a-z]+)"', keys_rs)
    for so in scaled:
        spec = so.doc.get("spec") or {}
        target = deployments.get((spec.get("scaleTargetRef") or {}).get("name", ""))
        if target is None or (spec.get("scaleTargetRef") or {}).get("kind", "Deployment") != "Deployment":
            fail(so.where, f"scaleTargetRef {spec.get('scaleTargetRef')} is no Deployment of deploy/k8s/")
            continue
        if "replicas" in (target.doc.get("spec") or {}):
            fail(target.where, "sets replicas, which KEDA owns: every apply would reset the count")
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if lo < 1:
            fail(so.where, "minReplicaCount < 1: RouteqNoWorkersAlive would fire whenever the fleet is idle")
        if lo > hi:
            fail(so.where, f"minReplicaCount {lo} > maxReplicaCount {hi}")
        prefix = env_of_deployment(target).get("ROUTEQ_KEY_PREFIX", "{routeq}")
        triggers = spec.get("triggers") or []
        types = [t.get("type") for t in triggers]
        if types.count("prometheus") != 1 or types.count("redis-streams") != 1:
            fail(so.where, f"triggers {types}: one prometheus (predicted wait) and one redis-streams (lag fallback) expected")
        for t in triggers:
            md = t.get("metadata") or {}
            if t.get("type") == "prometheus":
                check_query(so.where, md.get("query", ""))
                if t.get("metricType") != "Value":
                    fail(so.where, "the predicted-wait trigger must be metricType Value (a wait is not divided among replicas)")
                if md.get("ignoreNullValues") != "false":
                    fail(so.where, "ignoreNullValues must be \"false\": no series is not a wait of 0")
            elif t.get("type") == "redis-streams":
                if not group or md.get("consumerGroup") != group.group(1):
                    fail(so.where, f"consumerGroup {md.get('consumerGroup')!r}, the workers use {group and group.group(1)!r}")
                if not stream_suffix or md.get("stream") != f"{prefix}:{stream_suffix.group(1)}":
                    fail(so.where, f"stream {md.get('stream')!r}, the fleet's is {prefix}:{stream_suffix and stream_suffix.group(1)}")
                if "lagCount" not in md:
                    fail(so.where, "scale on lagCount (consumer-group lag)")
                if any(k in md for k in ("password", "passwordFromEnv")):
                    fail(so.where, "Redis auth belongs in a TriggerAuthentication, not the trigger")
                ref = (t.get("authenticationRef") or {}).get("name")
                auth = auths.get(ref or "")
                if auth is None:
                    fail(so.where, f"redis-streams authenticationRef {ref!r} is no TriggerAuthentication of deploy/k8s/")
                    continue
                refs = (auth.doc.get("spec") or {}).get("secretTargetRef") or []
                if "password" not in {r.get("parameter") for r in refs}:
                    fail(auth.where, "no secretTargetRef for the Redis password")
                for r in refs:
                    if r.get("parameter") not in REDIS_AUTH_PARAMS:
                        fail(auth.where, f"parameter {r.get('parameter')} is not one redis-streams reads {sorted(REDIS_AUTH_PARAMS)}")
            else:
                fail(so.where, f"trigger {t.get('type')}: not checked here (prometheus, redis-streams)")


def check_query(where: str, query: str) -> None:
    """The query names the predicted wait of a gateway scrape job, and parses (promtool)."""
    import yaml

    if "routeq_queue_predicted_wait_seconds" not in query:
        fail(where, f"query {query!r} does not read routeq_queue_predicted_wait_seconds")
    jobs = re.findall(r'job="([^"]+)"', query)
    scraped = {j.get("job_name") for j in (load_yaml(K8S_PROM) or {}).get("scrape_configs") or []}
    for j in jobs:
        if j not in scraped:
            fail(where, f"query selects job={j!r}, which prometheus/kubernetes.yml does not scrape")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "keda_query.yml"
        f.write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": [{"record": "keda:query", "expr": query}]}]}))
        out = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
        if out.returncode != 0:
            fail(where, f"query does not parse: {query}\n{out.stdout}{out.stderr}")


def check_k8s_prometheus(objs: list[Obj]) -> None:
    """Each routeq scrape job of prometheus/kubernetes.yml resolves a headless Service of
    deploy/k8s/ that publishes every pod, on the port where its binary serves /metrics."""
    run(["promtool", "check", "config", str(K8S_PROM)], "promtool check config prometheus/kubernetes.yml")
    cfg = load_yaml(K8S_PROM) or {}
    jobs = {j["job_name"]: j for j in cfg.get("scrape_configs") or []}
    services = {o.name: o for o in objs if o.kind == "Service"}
    for job in ("routeq-gateway", "routeq-worker", "routeq-notifier"):
        if job not in jobs:
            fail(rel(K8S_PROM), f"no scrape job {job}")
            continue
        for sd in jobs[job].get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                svc_name, _, rest = name.partition(".")
                svc = services.get(svc_name)
                if svc is None or not rest.startswith(f"{NAMESPACE}.svc"):
                    fail(rel(K8S_PROM), f"job {job}: {name} is no Service of deploy/k8s/ in {NAMESPACE}")
                    continue
                spec = svc.doc.get("spec") or {}
                if spec.get("clusterIP") != "None" or not spec.get("publishNotReadyAddresses"):
                    fail(svc.where, "a metrics Service must be headless with publishNotReadyAddresses (one address per pod, ready or not)")
                if sd.get("port") not in [p.get("port") for p in spec.get("ports") or []]:
                    fail(rel(K8S_PROM), f"job {job} scrapes port {sd.get('port')}, {svc_name} has {[p.get('port') for p in spec.get('ports') or []]}")
                app = (spec.get("selector") or {}).get("app.kubernetes.io/name")
                if app != job or SCRAPE_JOBS.get(job) is None:
                    fail(svc.where, f"selects {app}, but job {job} means the {job} pods")
