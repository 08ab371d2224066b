#!/usr/bin/env python3
"""Checks that what SREs deploy agrees with the code, without Docker (CI has none).

    python3 scripts/check_deploy.py [--no-build]

What it proves, each a separate check with its own error messages:

1. compose (compose/compose.yaml merged with compose.dev.yaml, and with compose.prod.yaml):
   every routeq service's command flags, subcommands, ROUTEQ_* variables (compose environment
   and the Dockerfile's ENV) and enum/boolean values exist in the real binary's --help; listen
   addresses bind every interface; URLs naming a compose service use the port it listens on;
   health checks call the service's own binary (`healthcheck --url`) on the port it listens
   on; published/exposed ports are ports the service listens on; scalable services (gateway,
   worker) have no container_name and no host ports; depends_on conditions are satisfiable;
   every referenced file (build context, Dockerfile and target, bind mounts, secrets) exists;
   no unescaped `$` that compose would interpolate.
2. nginx: the upstream names the gateway service and its API port; nginx listens where its
   health check and published port say.
3. prometheus: `promtool check config`, `promtool check rules`, `promtool test rules`; scrape
   jobs are routeq-gateway/routeq-worker/routeq-sim and target the services' metrics ports;
   every alert has a unit test that fires and one that does not; every runbook link resolves.
4. grafana: provisioning is valid YAML, the data source uid is the one the dashboard uses and
   points at the prometheus service; the dashboard is valid JSON and every panel query parses
   (each expr becomes a recording rule checked by `promtool check rules`).
5. the KEDA example scales on the stream and consumer group the code uses.

It needs PyYAML, promtool (Debian package `prometheus`) and the debug binaries (built here
with `cargo build --bins` unless --no-build); scripts/setup.sh installs the tools.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "compose"
BIN_DIR = ROOT / "target" / "debug"

ROUTEQ_BINARIES = {"routeq-gateway", "routeq-worker", "routeq-recorder", "routeq-sim"}
# Variables that are not routeq flags but are read by a routeq binary, and which binaries read them.
FOREIGN_ENV = {
    # routeq-sim's log filter (tracing's EnvFilter); the others use ROUTEQ_LOG.
    "RUST_LOG": {"routeq-sim"},
}
# Where each routeq binary serves /healthz and /metrics: the first variable that is set wins.
ADMIN_LISTEN_ENV = {
    "routeq-gateway": ["ROUTEQ_ADMIN_LISTEN", "ROUTEQ_LISTEN"],
    "routeq-worker": ["ROUTEQ_METRICS_LISTEN"],
    "routeq-sim": ["ROUTEQ_SIM_LISTEN"],
}
LISTEN_ENV = {"ROUTEQ_LISTEN", "ROUTEQ_ADMIN_LISTEN", "ROUTEQ_METRICS_LISTEN", "ROUTEQ_SIM_LISTEN"}
# Ports of third-party images (their documented defaults; nginx's comes from routeq.conf).
IMAGE_PORTS = {"redis": {6379}, "postgres": {5432}, "prom/prometheus": {9090}, "grafana/grafana": {3000}}
SCRAPE_JOBS = {"routeq-gateway": "gateway", "routeq-worker": "worker", "routeq-sim": "sim"}
SCALABLE = {"gateway", "worker"}
LIST_MERGE_KEYS = {"ports", "expose", "volumes", "secrets", "configs", "dns", "extra_hosts"}

errors: list[str] = []


def fail(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------------------------
# Tools


def ensure_tools() -> None:
    missing = []
    try:
        import yaml  # noqa: F401
    except ImportError:
        missing.append("PyYAML")
    for tool in ("promtool",):
        if shutil.which(tool) is None:
            missing.append(tool)
    if missing:
        print(f"[check_deploy] missing {', '.join(missing)}: running scripts/setup.sh", flush=True)
        subprocess.run([str(ROOT / "scripts" / "setup.sh")], check=True)


def build_binaries() -> None:
    print("[check_deploy] cargo build --bins", flush=True)
    subprocess.run(["cargo", "build", "--bins", "--locked", "-q"], cwd=ROOT, check=True)


def load_yaml(path: Path):
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(rel(path), f"not readable YAML: {e}")
        return None


# --------------------------------------------------------------------------------------------
# The binaries' real flags


class Help:
    """What one `--help` says: flags, variables, and the values each accepts."""

    def __init__(self, text: str):
        self.text = text
        self.flags: dict[str, list[str] | None] = {}
        self.env: dict[str, list[str] | None] = {}
        self.defaults: dict[str, str] = {}
        self.commands: set[str] = set()
        block: list[str] = []
        in_commands = False
        for line in text.splitlines():
            if re.match(r"^Commands:", line):
                in_commands = True
                continue
            if re.match(r"^\S", line):
                in_commands = False
            if in_commands:
                m = re.match(r"^\s{2}([a-z][a-z0-9-]*)\s", line)
                if m and m.group(1) != "help":
                    self.commands.add(m.group(1))
                continue
            if re.match(r"^\s+(?:-\w, )?--[a-z0-9-]+", line):
                self._take(block)
                block = [line]
            elif block:
                block.append(line)
        self._take(block)

    def _take(self, block: list[str]) -> None:
        if not block:
            return
        text = "\n".join(block)
        flag = re.match(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", block[0]).group(1)
        values = None
        m = re.search(r"\[possible values: ([^\]]+)\]", text)
        if m:
            values = [v.strip() for v in m.group(1).split(",")]
        elif "Possible values:" in text:
            values = re.findall(r"^\s+- ([A-Za-z0-9_-]+)(?::|\s*$)", text, re.M)
        self.flags[flag] = values
        env = re.search(r"\[env: ([A-Z0-9_]+)[=\]]", text)
        default = re.search(r"\[default: ([^\]]*)\]", text)
        if env:
            self.env[env.group(1)] = values
            if default:
                self.defaults[env.group(1)] = default.group(1)


_help_cache: dict[tuple[str, ...], Help] = {}


def help_of(binary: str, *sub: str) -> Help | None:
    key = (binary, *sub)
    if key not in _help_cache:
        path = BIN_DIR / binary
        if not path.exists():
            fail(binary, f"{rel(path)} is missing (build with `cargo build --bins`)")
            return None
        out = subprocess.run([str(path), *sub, "--help"], capture_output=True, text=True)
        if out.returncode != 0:
            fail(binary, f"`{binary} {' '.join(sub)} --help` exited {out.returncode}: {out.stderr.strip()}")
            return None
        _help_cache[key] = Help(out.stdout)
    return _help_cache[key]


def check_value(where: str, name: str, value: str, allowed: list[str] | None) -> None:
    if allowed and value not in allowed:
        fail(where, f"{name}={value!r} is not one of {allowed}")


def check_args(where: str, binary: str, args: list[str]) -> list[Help]:
    """Checks a command line against the binary's help; returns the helps that apply."""
    top = help_of(binary)
    if top is None:
        return []
    helps = [top]
    current = top
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, _, inline = a.partition("=")
            if name not in current.flags and not any(name in h.flags for h in helps):
                fail(where, f"`{binary}` has no flag {name} (see `{binary} --help`)")
            else:
                allowed = next(h.flags[name] for h in reversed(helps) if name in h.flags)
                value = inline if inline else (args[i + 1] if i + 1 < len(args) and allowed else None)
                if value is not None and allowed:
                    check_value(where, name, value, allowed)
                    if not inline:
                        i += 1
        elif a == "healthcheck" and i == 0:
            sub = help_of(binary, "healthcheck")
            if sub is None:
                return helps
            helps, current = [sub], sub
        elif not a.startswith("-") and a in current.commands:
            sub = help_of(binary, *[x for x in args[: i + 1] if not x.startswith("-")])
            if sub is None:
                return helps
            helps.append(sub)
            current = sub
        i += 1
    return helps


# --------------------------------------------------------------------------------------------
# Dockerfile


class Dockerfile:
    def __init__(self, path: Path):
        self.path = path
        self.targets: dict[str, dict] = {}
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\\\n", " ", text)
        current = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if m:
                base, name = m.group(1), m.group(2)
                parent = self.targets.get(base)
                current = {
                    "env": dict(parent["env"]) if parent else {},
                    "cmd": parent["cmd"] if parent else None,
                    "healthcheck": parent["healthcheck"] if parent else None,
                    "user": parent["user"] if parent else None,
                }
                if name:
                    self.targets[name] = current
                continue
            if current is None:
                continue
            m = re.match(r"^ENV\s+(.*)$", line, re.I)
            if m:
                for k, v in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", m.group(1)):
                    current["env"][k] = v
            m = re.match(r"^CMD\s+(\[.*\])$", line, re.I)
            if m:
                current["cmd"] = json.loads(m.group(1))
            m = re.match(r"^HEALTHCHECK\s+.*?CMD\s+(\[.*\])$", line, re.I)
            if m:
                current["healthcheck"] = json.loads(m.group(1))
            m = re.match(r"^USER\s+(\S+)", line, re.I)
            if m:
                current["user"] = m.group(1)


# --------------------------------------------------------------------------------------------
# compose


def merge(base, over, key=None):
    """Compose's merge of an override file, for the keys this project uses."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(over, list) and key in LIST_MERGE_KEYS:
        return base + [x for x in over if x not in base]
    return over


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def port_of(addr: str) -> int | None:
    m = re.search(r":(\d+)$", addr.strip())
    return int(m.group(1)) if m else None


def check_dollars(where: str, node) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            check_dollars(f"{where}.{k}", v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            check_dollars(f"{where}[{i}]", v)
    elif isinstance(node, str) and re.search(r"(?<!\$)\$(?!\$)", node):
        fail(where, f"{node!r} contains `$`, which compose interpolates (write `$$`)")


class Fleet:
    """One merged compose configuration (base + an override)."""

    def __init__(self, label: str, config: dict, dockerfiles: dict[Path, Dockerfile]):
        self.label = label
        self.config = config
        self.services: dict[str, dict] = config.get("services") or {}
        self.dockerfiles = dockerfiles
        self.nginx_port: int | None = None

    def where(self, name: str) -> str:
        return f"compose[{self.label}].{name}"

    def dockerfile_target(self, name: str) -> dict | None:
        build = self.services[name].get("build")
        if not isinstance(build, dict):
            return None
        df = (COMPOSE_DIR / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
        d = self.dockerfiles.get(df)
        if d is None:
            return None
        return d.targets.get(build.get("target", ""))

    def command(self, name: str) -> list[str]:
        cmd = self.services[name].get("command")
        if isinstance(cmd, str):
            fail(self.where(name), "command must be a list (exec form), not a string")
            return cmd.split()
        if cmd is None:
            target = self.dockerfile_target(name)
            cmd = target["cmd"] if target else None
        return list(cmd or [])

    def binary(self, name: str) -> str | None:
        cmd = self.command(name)
        b = os.path.basename(cmd[0]) if cmd else None
        return b if b in ROUTEQ_BINARIES else None

    def env(self, name: str) -> dict[str, str]:
        target = self.dockerfile_target(name)
        env = dict(target["env"]) if target else {}
        env.update(env_of(self.services[name]))
        return env

    def listen_ports(self, name: str) -> set[int]:
        """Ports the service's process listens on inside its container."""
        binary = self.binary(name)
        if binary:
            env = self.env(name)
            h = help_of(binary)
            ports = set()
            for var in sorted(LISTEN_ENV):
                if h is None or var not in h.env:
                    continue
                value = env.get(var) or h.defaults.get(var)
                if value and port_of(value):
                    ports.add(port_of(value))
            return ports
        image = str(self.services[name].get("image", ""))
        if "nginx" in image:
            return {self.nginx_port} if self.nginx_port else set()
        for prefix, ports in IMAGE_PORTS.items():
            if image.startswith(prefix + ":") or image == prefix:
                return ports
        return set()

    def admin_port(self, name: str) -> int | None:
        binary = self.binary(name)
        env = self.env(name)
        h = help_of(binary) if binary else None
        for var in ADMIN_LISTEN_ENV.get(binary or "", []):
            value = env.get(var) or (h.defaults.get(var) if h else None)
            if value:
                return port_of(value)
        return None

    def has_healthcheck(self, name: str) -> bool:
        hc = self.services[name].get("healthcheck")
        if hc is not None:
            return not hc.get("disable", False)
        target = self.dockerfile_target(name)
        return bool(target and target["healthcheck"])

    # ----------------------------------------------------------------------------------------

    def check(self) -> None:
        check_dollars(f"compose[{self.label}]", self.config)
        for name in self.services:
            self.check_service(name)

    def check_service(self, name: str) -> None:
        svc = self.services[name]
        where = self.where(name)
        self.check_files(name)
        binary = self.binary(name)
        cmd = self.command(name)
        helps: list[Help] = []
        if binary:
            helps = check_args(f"{where}.command", binary, cmd[1:])
            env_helps = helps + [h for h in [help_of(binary)] if h and h not in helps]
            # Compose's variables are checked against the service's binary, the image's ENV
            # against the binary its CMD runs (check_dockerfiles).
            for var, value in env_of(svc).items():
                if var.startswith("ROUTEQ_"):
                    match = [h for h in env_helps if var in h.env]
                    if not match:
                        fail(f"{where}.environment", f"`{binary}` reads no {var} (see `{binary} --help`)")
                        continue
                    check_value(f"{where}.environment", var, value, match[0].env[var])
                elif var in FOREIGN_ENV:
                    if binary not in FOREIGN_ENV[var]:
                        fail(f"{where}.environment", f"{var} is not read by {binary}")
                if var in LISTEN_ENV and value:
                    host = value.rsplit(":", 1)[0]
                    if host not in ("0.0.0.0", "[::]", "::"):
                        fail(f"{where}.environment", f"{var}={value} is unreachable from other containers (bind 0.0.0.0)")
            target = self.dockerfile_target(name)
            if target and target["user"] in (None, "root", "0", "0:0"):
                fail(where, "the image runs as root (USER missing in the Dockerfile target)")
        elif any(str(x).startswith("--") for x in cmd) and "image" in svc and "routeq" in str(svc["image"]):
            fail(where, "a routeq image whose binary is unknown")

        # URLs that name a compose service use a port that service listens on.
        for var, value in env_of(svc).items():
            for url in re.findall(r"[a-z]+://[^\s,]+", value):
                parts = urlsplit(url)
                if parts.hostname in self.services:
                    port = parts.port
                    listening = self.listen_ports(parts.hostname)
                    if port is None or (listening and port not in listening):
                        fail(f"{where}.environment.{var}", f"{url} but {parts.hostname} listens on {sorted(listening)}")
                    if parts.hostname == name:
                        fail(f"{where}.environment.{var}", "points at itself")

        self.check_healthcheck(name, binary)
        self.check_ports(name)
        self.check_depends(name)

    def check_healthcheck(self, name: str, binary: str | None) -> None:
        where = f"{self.where(name)}.healthcheck"
        restart = str(self.services[name].get("restart", "no"))
        if restart != "no" and not self.has_healthcheck(name):
            fail(where, "a long-running service without a health check")
        hc = self.services[name].get("healthcheck")
        if hc and hc.get("disable"):
            return
        test = (hc or {}).get("test")
        if not test:
            target = self.dockerfile_target(name)
            test = ["CMD", *target["healthcheck"]] if target and target["healthcheck"] else None
            if not test:
                return
        if isinstance(test, str) or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            fail(where, "test must be a list starting with CMD (exec form: the routeq images have no shell)")
            return
        args = test[1:]
        listening = self.listen_ports(name)
        if binary:
            if test[0] != "CMD":
                fail(where, "routeq images have no shell: use CMD, not CMD-SHELL")
            if not args or os.path.basename(args[0]) != binary or args[1:2] != ["healthcheck"]:
                fail(where, f"should run `{binary} healthcheck` (got {args})")
                return
            check_args(where, binary, args[1:])
            url = args[args.index("--url") + 1] if "--url" in args else None
            admin = self.admin_port(name)
            port = urlsplit(url).port if url else admin
            if url and urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
                fail(where, f"{url}: a health check probes its own container (127.0.0.1)")
            if port != admin:
                fail(where, f"probes port {port} but {binary} serves /healthz on {admin}")
            if url and urlsplit(url).path != "/healthz":
                fail(where, f"{url}: the routeq health endpoint is /healthz")
            return
        text = " ".join(map(str, args))
        ports = {int(p) for p in re.findall(r"https?://[^:/\s]+:(\d+)", text)}
        ports |= {int(p) for p in re.findall(r"(?:^|\s)-p\s+(\d+)", text)}
        for p in ports:
            if listening and p not in listening:
                fail(where, f"probes port {p} but the service listens on {sorted(listening)}")

    def check_ports(self, name: str) -> None:
        svc = self.services[name]
        where = self.where(name)
        listening = self.listen_ports(name)
        if name in SCALABLE:
            if "container_name" in svc:
                fail(where, "a scaled service cannot have a container_name")
            if svc.get("ports"):
                fail(where, "a scaled service cannot publish host ports (`--scale` would collide)")
        for p in svc.get("ports") or []:
            container = str(p).split(":")[-1].split("/")[0]
            if not container.isdigit() or (listening and int(container) not in listening):
                fail(f"{where}.ports", f"{p}: nothing listens on {container} (listening: {sorted(listening)})")
        for p in svc.get("expose") or []:
            if listening and int(str(p).split("/")[0]) not in listening:
                fail(f"{where}.expose", f"{p}: nothing listens there (listening: {sorted(listening)})")

    def check_depends(self, name: str) -> None:
        deps = self.services[name].get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            where = f"{self.where(name)}.depends_on.{dep}"
            if dep not in self.services:
                fail(where, "no such service")
                continue
            cond = (spec or {}).get("condition", "service_started")
            if cond == "service_healthy" and not self.has_healthcheck(dep):
                fail(where, f"waits for {dep} to be healthy, but {dep} has no health check")
            elif cond == "service_completed_successfully" and str(self.services[dep].get("restart", "no")) != "no":
                fail(where, f"waits for {dep} to complete, but {dep} restarts")
            elif cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                fail(where, f"unknown condition {cond}")

    def check_files(self, name: str) -> None:
        svc = self.services[name]
        where = self.where(name)
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = (COMPOSE_DIR / build.get("context", ".")).resolve()
            df = (ctx / build.get("dockerfile", "Dockerfile")).resolve()
            if not ctx.is_dir():
                fail(f"{where}.build", f"context {rel(ctx)} is not a folder")
            if not df.is_file():
                fail(f"{where}.build", f"{rel(df)} does not exist")
            elif build.get("target") and build["target"] not in self.dockerfiles[df].targets:
                fail(f"{where}.build", f"{rel(df)} has no target {build['target']}")
        for v in svc.get("volumes") or []:
            source = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if source.startswith((".", "/")):
                if not (COMPOSE_DIR / source).exists():
                    fail(f"{where}.volumes", f"{source} does not exist")
            elif source and source not in (self.config.get("volumes") or {}):
                fail(f"{where}.volumes", f"named volume {source} is not declared")
        for s in svc.get("secrets") or []:
            sname = s if isinstance(s, str) else s.get("source")
            if sname not in (self.config.get("secrets") or {}):
                fail(f"{where}.secrets", f"secret {sname} is not declared")


def check_dockerfiles(dockerfiles: dict[Path, Dockerfile]) -> None:
    """Each runtime target: non-root, its ENV known to the binary its CMD runs, its HEALTHCHECK
    that binary's own `healthcheck` on the port it listens on."""
    for path, d in dockerfiles.items():
        for target, t in d.targets.items():
            where = f"{rel(path)}[{target}]"
            binary = os.path.basename(t["cmd"][0]) if t["cmd"] else None
            if binary not in ROUTEQ_BINARIES:
                continue
            if t["user"] in (None, "root", "0", "0:0"):
                fail(where, "runs as root (no USER)")
            h = help_of(binary)
            if h is None:
                continue
            for var, value in t["env"].items():
                if var.startswith("ROUTEQ_"):
                    if var not in h.env:
                        fail(f"{where}.ENV", f"`{binary}` reads no {var}")
                    else:
                        check_value(f"{where}.ENV", var, value, h.env[var])
            hc = t["healthcheck"]
            if not hc or os.path.basename(hc[0]) != binary or hc[1:2] != ["healthcheck"]:
                fail(f"{where}.HEALTHCHECK", f"should run `{binary} healthcheck` (got {hc})")
            else:
                check_args(f"{where}.HEALTHCHECK", binary, hc[1:])
            listen = [t["env"].get(v) for v in ADMIN_LISTEN_ENV.get(binary, []) if t["env"].get(v)]
            if binary in ADMIN_LISTEN_ENV and not listen:
                fail(f"{where}.ENV", f"no {ADMIN_LISTEN_ENV[binary][-1]}: the default binds 127.0.0.1, unreachable from outside the container")
            for v in listen:
                if not v.startswith(("0.0.0.0:", "[::]:")):
                    fail(f"{where}.ENV", f"{v} binds loopback only")


def check_secrets(fleet: Fleet) -> None:
    readme = COMPOSE_DIR / "secrets" / "README.md"
    documented = readme.read_text(encoding="utf-8") if readme.exists() else ""
    for name, spec in (fleet.config.get("secrets") or {}).items():
        path = (COMPOSE_DIR / spec.get("file", "")).resolve()
        where = f"compose[{fleet.label}].secrets.{name}"
        if path.exists():
            continue
        # Secret files are never committed: they must be documented for the operator instead.
        if path.parent != (COMPOSE_DIR / "secrets").resolve():
            fail(where, f"{rel(path)} does not exist (secret files belong in compose/secrets/)")
        elif f"`{path.name}`" not in documented:
            fail(where, f"{rel(path)} is not documented in compose/secrets/README.md")


# --------------------------------------------------------------------------------------------
# nginx, prometheus, grafana, KEDA


def check_nginx(fleet: Fleet) -> None:
    upstream = (COMPOSE_DIR / "nginx" / "upstream.conf").read_text(encoding="utf-8")
    routeq = (COMPOSE_DIR / "nginx" / "routeq.conf").read_text(encoding="utf-8")
    m = re.search(r"^\s*listen\s+(\d+)\s*;", routeq, re.M)
    fleet.nginx_port = int(m.group(1)) if m else None
    if fleet.nginx_port is None:
        fail("compose/nginx/routeq.conf", "no `listen PORT;`")
    names = set(re.findall(r"^\s*upstream\s+(\S+)\s*\{", upstream, re.M))
    for up in re.findall(r"proxy_pass\s+http://([^/;\s]+)", routeq):
        if up not in names:
            fail("compose/nginx/routeq.conf", f"proxy_pass to {up}, which upstream.conf does not define")
    servers = re.findall(r"^\s*server\s+([a-z0-9_-]+):(\d+)", upstream, re.M)
    if not servers:
        fail("compose/nginx/upstream.conf", "no `server host:port` in the upstream")
    for host, port in servers:
        if host not in fleet.services:
            fail("compose/nginx/upstream.conf", f"server {host} is not a compose service")
            continue
        api = port_of(fleet.env(host).get("ROUTEQ_LISTEN", ""))
        if int(port) != api:
            fail("compose/nginx/upstream.conf", f"{host}:{port}, but {host}'s API listens on {api} (ROUTEQ_LISTEN)")
    nginx = [n for n, s in fleet.services.items() if "nginx" in str(s.get("image", ""))]
    if not nginx:
        fail(f"compose[{fleet.label}]", "no nginx service in front of the gateways")
    for n in nginx:
        mounts = [str(v).split(":")[0] for v in fleet.services[n].get("volumes") or []]
        for f in ("./nginx/upstream.conf", "./nginx/routeq.conf"):
            if f not in mounts:
                fail(fleet.where(n), f"does not mount {f}")


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


def check_keda(fleet: Fleet) -> None:
    path = ROOT / "deploy" / "k8s" / "keda-scaledobject.yaml"
    obj = load_yaml(path) or {}
    keys_rs = (ROOT / "shared" / "src" / "redis" / "keys.rs").read_text(encoding="utf-8")
    group = re.search(r'const GROUP: &\'static str = "([^"]+)"', keys_rs)
    stream_suffix = re.search(r'fn jobs_stream\(&self\) -> String \{\s*format!\("\{\}:([a-z]+)"', keys_rs)
    prefix = fleet.env("worker").get("ROUTEQ_KEY_PREFIX", "{routeq}")
    for trig in (obj.get("spec") or {}).get("triggers") or []:
        if trig.get("type") != "redis-streams":
            fail(rel(path), f"trigger {trig.get('type')}: expected redis-streams")
            continue
        md = trig.get("metadata") or {}
        if not group or md.get("consumerGroup") != group.group(1):
            fail(rel(path), f"consumerGroup {md.get('consumerGroup')!r}, the workers use {group and group.group(1)!r}")
        if not stream_suffix or md.get("stream") != f"{prefix}:{stream_suffix.group(1)}":
            fail(rel(path), f"stream {md.get('stream')!r}, the fleet's is {prefix}:{stream_suffix and stream_suffix.group(1)}")
        if "lagCount" not in md:
            fail(rel(path), "scale on lagCount (consumer-group lag)")


def run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT)
    if out.returncode != 0:
        fail(what, f"exit {out.returncode}\n{out.stdout}{out.stderr}")
    else:
        print(f"[check_deploy] {what}: ok", flush=True)


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
    for label in ("dev", "prod"):
        over = load_yaml(COMPOSE_DIR / f"compose.{label}.yaml")
        if over is None:
            continue
        fleet = Fleet(label, merge(base, over), dockerfiles)
        check_nginx(fleet)
        fleet.check()
        check_secrets(fleet)
        fleets.append(fleet)
    dev = next((f for f in fleets if f.label == "dev"), None)
    for f in fleets:
        if "sim" in f.services and f.label == "prod":
            fail("compose[prod]", "the simulator runs in production")
    check_prometheus(dev)
    check_alert_tests()
    if dev:
        check_grafana(dev)
        check_keda(dev)
    return report()


def report() -> int:
    if errors:
        print(f"\ncheck_deploy: {len(errors)} problem(s)", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print("check_deploy: compose, nginx, prometheus, grafana and KEDA files agree with the binaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
