"""compose files: merged like compose merges them, each service checked against its binary."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from .core import (ADMIN_LISTEN_ENV, COMPOSE_DIR, IMAGE_PORTS, LISTEN_ENV, LIST_MERGE_KEYS, ROUTEQ_BINARIES,
                   SCALABLE, Help, check_args, check_env, fail, help_of, rel)
from .images import Dockerfile

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


def urls_in(text: str) -> list[tuple[str, str | None, int | None]]:
    """(url, host, port) for each host of each URL in text; a URL may name several hosts."""
    out = []
    for m in re.finditer(r"\b[a-z][a-z0-9+.-]*://([^\s/?#]*)[^\s]*", text):
        netloc = m.group(1).rpartition("@")[2]
        for hostport in netloc.split(","):
            parts = urlsplit(f"//{hostport}")
            try:
                port = parts.port
            except ValueError:
                port = None
            out.append((m.group(0), parts.hostname, port))
    return out


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
        # A port set on the command line (`--port 26379`, `--web.listen-address=:9093`) wins
        # over the image's documented default.
        words = " ".join(str(a) for a in self.command(name)).split()
        set_ports = set()
        for i, w in enumerate(words):
            flag, _, inline = w.partition("=")
            if flag.lstrip("-") in ("port", "web.listen-address"):
                value = inline or (words[i + 1] if i + 1 < len(words) else "")
                p = port_of(value) if ":" in value else (int(value) if value.isdigit() else None)
                if p:
                    set_ports.add(p)
        if set_ports:
            return set_ports
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
            # Compose's variables are checked against the service's binary, the image's ENV
            # against the binary its CMD runs (check_dockerfiles).
            check_env(f"{where}.environment", binary, helps, env_of(svc))
            target = self.dockerfile_target(name)
            if target and target["user"] in (None, "root", "0", "0:0"):
                fail(where, "the image runs as root (USER missing in the Dockerfile target)")
        elif any(str(x).startswith("--") for x in cmd) and "image" in svc and "routeq" in str(svc["image"]):
            fail(where, "a routeq image whose binary is unknown")

        # URLs that name a compose service (in its environment or its command) use a port that
        # service listens on; a URL may list several hosts (redis+sentinel://a:1,b:2/name).
        places = [(f"environment.{var}", value) for var, value in env_of(svc).items()]
        places += [("command", str(arg)) for arg in cmd]
        for place, value in places:
            for url, host, port in urls_in(value):
                if host in self.services:
                    listening = self.listen_ports(host)
                    if port is None or (listening and port not in listening):
                        fail(f"{where}.{place}", f"{url} but {host} listens on {sorted(listening)}")
                    if host == name:
                        fail(f"{where}.{place}", "points at itself")

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

