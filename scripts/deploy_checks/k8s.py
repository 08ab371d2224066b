"""deploy/k8s/: every object validates offline against its schema (kubernetes-validate --strict
for Kubernetes' own kinds, deploy/k8s/schemas/ for KEDA's), and every workload agrees with the
binary it runs: command, flags and variables from --help, listen ports, probes on the port and
path the binary serves, secrets mounted as files (never literal), resources, shutdown budget;
Services, disruption budgets and the headless metrics Services select real pods."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .compose import port_of
from .core import ADMIN_LISTEN_ENV, LISTEN_ENV, ROOT, ROUTEQ_BINARIES, check_args, check_env, fail, help_of, rel

K8S_DIR = ROOT / "deploy" / "k8s"
SCHEMA_DIR = K8S_DIR / "schemas"
K8S_VERSION = "1.30.0"
NAMESPACE = "routeq"
# The image each binary ships in (compose/Dockerfile's targets).
IMAGES = {"routeq-gateway": "routeq-gateway", "routeq-worker": "routeq-worker",
          "routeq-recorder": "routeq-worker", "routeq-sim": "routeq-sim", "routeq-notifier": "routeq-notifier"}
# Probes each long-running binary must have: kind -> path.
PROBES = {"routeq-gateway": {"livenessProbe": "/healthz", "readinessProbe": "/readyz"},
          "routeq-worker": {"livenessProbe": "/healthz", "readinessProbe": "/healthz"},
          "routeq-notifier": {"livenessProbe": "/healthz", "readinessProbe": "/healthz"}}


class Obj:
    def __init__(self, path: Path, doc: dict):
        self.path, self.doc = path, doc
        self.kind = doc.get("kind", "")
        self.name = (doc.get("metadata") or {}).get("name", "")
        self.where = f"{rel(path)}[{self.kind}/{self.name}]"


def load_manifests() -> list[Obj]:
    import yaml

    objs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as e:
            fail(rel(path), f"not readable YAML: {e}")
            continue
        objs += [Obj(path, d) for d in docs if d]
    return objs


def check_schemas(objs: list[Obj]) -> None:
    import jsonschema
    import kubernetes_validate

    for o in objs:
        api = o.doc.get("apiVersion", "")
        if api.startswith("keda.sh/"):
            schema_path = SCHEMA_DIR / f"{api.replace('/', '_')}_{o.kind}.json"
            if not schema_path.exists():
                fail(o.where, f"no schema {rel(schema_path)} for {api} {o.kind}")
                continue
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            for e in jsonschema.Draft202012Validator(schema).iter_errors(o.doc):
                fail(o.where, f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(o.doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(o.where, f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            fail(o.where, f"no Kubernetes {K8S_VERSION} schema: {e}")
    print(f"[check_deploy] {len(objs)} Kubernetes objects validate (kubernetes-validate --strict {K8S_VERSION}, deploy/k8s/schemas/)", flush=True)


def pod_spec(o: Obj) -> dict | None:
    spec = o.doc.get("spec") or {}
    if o.kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return (spec.get("template") or {}).get("spec") or {}
    return None


def pod_labels(o: Obj) -> dict:
    return (((o.doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def secret_refs(objs: list[Obj]) -> set[tuple[str, str]]:
    """(Secret name, key) of every secret a workload mounts or KEDA reads."""
    refs = set()
    for o in objs:
        spec = pod_spec(o)
        for v in (spec or {}).get("volumes") or []:
            s = v.get("secret")
            if s:
                refs |= {(s.get("secretName", ""), i.get("key", "")) for i in s.get("items") or []}
        if o.kind == "TriggerAuthentication":
            refs |= {(r.get("name", ""), r.get("key", "")) for r in (o.doc.get("spec") or {}).get("secretTargetRef") or []}
    return refs


def version() -> str:
    m = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(encoding="utf-8"), re.M | re.S)
    return m.group(1) if m else "?"


def check_container(o: Obj, spec: dict, c: dict) -> None:
    where = f"{o.where}.{c.get('name')}"
    cmd = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
    binary = os.path.basename(cmd[0]) if cmd else None
    if binary not in ROUTEQ_BINARIES:
        fail(where, f"command {cmd[:1]} is not a routeq binary (the images have no default command to rely on)")
        return
    image = str(c.get("image", ""))
    if image.rpartition(":")[0].rsplit("/", 1)[-1] != IMAGES[binary] or image.rpartition(":")[2] != version():
        fail(where, f"image {image}: {binary} ships in {IMAGES[binary]}:{version()} (the workspace version)")
    helps = check_args(f"{where}.command", binary, cmd[1:])
    env = {e["name"]: str(e.get("value", "")) for e in c.get("env") or [] if "name" in e}
    check_env(f"{where}.env", binary, helps, env)
    all_env = {k: v for h in helps + [help_of(binary)] if h for k, v in h.env.items()}
    # Secrets are files: a setting that has a *_FILE twin is never given literally.
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for var, value in env.items():
        if f"{var}_FILE" in all_env:
            fail(f"{where}.env", f"{var} given literally: mount the secret and set {var}_FILE")
        if var.endswith("_FILE") and var.startswith("ROUTEQ_"):
            folder, _, file = value.rpartition("/")
            vol = volumes.get(mounts.get(folder, ""), {})
            items = [i.get("path") for i in (vol.get("secret") or {}).get("items") or []]
            if not vol.get("secret") or file not in items:
                fail(f"{where}.env", f"{var}={value} is not a file of a mounted Secret volume (items {items})")
    # Ports: what the binary listens on, and the probes on its admin port.
    h = help_of(binary)
    defaults = h.defaults if h else {}
    listening = {port_of(env.get(v) or defaults.get(v, "")) for v in LISTEN_ENV if v in all_env}
    listening.discard(None)
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    for name, number in ports.items():
        if number not in listening:
            fail(f"{where}.ports", f"{name}: {number}, but {binary} listens on {sorted(listening)}")
    admin = next((port_of(env.get(v) or defaults.get(v, "")) for v in ADMIN_LISTEN_ENV.get(binary, [])
                  if env.get(v) or defaults.get(v)), None)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(kind)
        if probe is None:
            continue
        if "exec" in probe:
            ex = [str(x) for x in probe["exec"].get("command") or []]
            if not ex or os.path.basename(ex[0]) not in ROUTEQ_BINARIES:
                fail(f"{where}.{kind}", "the images have no shell: exec a routeq binary's own subcommand")
            else:
                check_args(f"{where}.{kind}", os.path.basename(ex[0]), ex[1:])
            continue
        get = probe.get("httpGet") or {}
        port = ports.get(get.get("port"), get.get("port"))
        if admin is None:
            fail(f"{where}.{kind}", f"{binary} serves no HTTP port to probe")
        elif port != admin:
            fail(f"{where}.{kind}", f"probes port {get.get('port')} ({port}), but {binary} serves /healthz on {admin}")
        want = PROBES.get(binary, {}).get(kind)
        if want and get.get("path") != want:
            fail(f"{where}.{kind}", f"path {get.get('path')}: {binary}'s {kind} is {want}")
    if o.kind == "Deployment":
        for kind in PROBES.get(binary, {}):
            if kind not in c:
                fail(where, f"no {kind}")
    ann = (((o.doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    if "prometheus.io/port" in ann and str(admin) != ann["prometheus.io/port"]:
        fail(f"{where}", f"prometheus.io/port {ann['prometheus.io/port']}, but /metrics is on {admin}")
    # Resources, hardening, and room to drain on SIGTERM.
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                fail(f"{where}.resources", f"no {part}.{r}")
    sc, psc = c.get("securityContext") or {}, spec.get("securityContext") or {}
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
        fail(where, "runAsNonRoot is not set")
    if not sc.get("readOnlyRootFilesystem"):
        fail(where, "readOnlyRootFilesystem is not set (routeq writes no files)")
    grace_ms = int(env.get("ROUTEQ_SHUTDOWN_GRACE_MS") or defaults.get("ROUTEQ_SHUTDOWN_GRACE_MS") or 0)
    pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    budget = int(spec.get("terminationGracePeriodSeconds", 30))
    if grace_ms and budget * 1000 < grace_ms + pre_stop * 1000 + 2000:
        fail(where, f"terminationGracePeriodSeconds {budget} leaves no room for preStop {pre_stop} s + ROUTEQ_SHUTDOWN_GRACE_MS {grace_ms}")


def check_objects(objs: list[Obj]) -> None:
    names = {(o.kind, o.name) for o in objs}
    if ("Namespace", NAMESPACE) not in names:
        fail(rel(K8S_DIR), f"no Namespace {NAMESPACE}")
    workloads = [o for o in objs if o.kind == "Deployment"]
    for o in objs:
        if o.kind != "Namespace" and (o.doc.get("metadata") or {}).get("namespace") != NAMESPACE:
            fail(o.where, f"not in namespace {NAMESPACE}")
        spec = pod_spec(o)
        if spec is None:
            continue
        if o.kind == "Deployment":
            sel = ((o.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if not selects(sel, pod_labels(o)):
                fail(o.where, f"selector {sel} does not match its own pods' labels {pod_labels(o)}")
            pdbs = [p for p in objs if p.kind == "PodDisruptionBudget"
                    and selects(((p.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}, pod_labels(o))]
            if len(pdbs) != 1:
                fail(o.where, f"{len(pdbs)} PodDisruptionBudgets select it (one expected)")
        if spec.get("automountServiceAccountToken") is not False:
            fail(o.where, "mounts a service account token it does not need")
        for c in spec.get("containers") or []:
            check_container(o, spec, c)
    for o in objs:
        spec = o.doc.get("spec") or {}
        if o.kind == "PodDisruptionBudget":
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            if not any(selects(sel, pod_labels(w)) for w in workloads):
                fail(o.where, f"selects no Deployment's pods ({sel})")
        if o.kind == "Service":
            targets = [w for w in workloads if selects(spec.get("selector") or {}, pod_labels(w))]
            if not targets:
                fail(o.where, f"selects no Deployment's pods ({spec.get('selector')})")
            for p in spec.get("ports") or []:
                for w in targets:
                    cports = {cp.get("name"): cp.get("containerPort") for c in pod_spec(w).get("containers") or []
                              for cp in c.get("ports") or []}
                    t = p.get("targetPort", p.get("port"))
                    if t not in cports and t not in cports.values():
                        fail(o.where, f"port {p.get('name')}: targetPort {t} is no container port of {w.name}")
    documented = secrets_documented()
    for name, key in sorted(secret_refs(objs)):
        if (name, key) not in documented:
            fail(rel(K8S_DIR), f"Secret {name} key {key} is used but docs/operations.md does not say how to create it (kubectl create secret generic {name} --from-...={key}=...)")


def secrets_documented() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").replace("\\\n", " ")
    out = set()
    for line in text.splitlines():
        m = re.search(r"create secret generic ([a-z0-9-]+)(.*)$", line)
        if m:
            out |= {(m.group(1), k) for k in re.findall(r"--from-(?:literal|file)=([A-Za-z0-9_.-]+)=", m.group(2))}
    return out
