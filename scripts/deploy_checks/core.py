"""What every check shares: the error list, paths, YAML loading and the binaries' real flags."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE_DIR = ROOT / "compose"
# The debug binaries, where `cargo build --bins` put them (CARGO_TARGET_DIR is honoured).
BIN_DIR = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug"

ROUTEQ_BINARIES = {"routeq-gateway", "routeq-worker", "routeq-recorder", "routeq-sim", "routeq-notifier"}
# Variables that are not routeq flags but are read by a routeq binary, and which binaries read them.
FOREIGN_ENV: dict = {}
# Settings announced before the binaries have them: the variable, the binaries that will read it,
# and the issue that adds it. docs/operations.md must say so (the name appears in it). While a
# binary's --help lacks one, a deployment file may set it already (clap ignores unknown
# variables, so the process runs as without it) and the check prints a notice instead of
# failing; once the binary has it, the normal checks (name, values) apply and the notice asks for
# the entry to be removed here.
# (ROUTEQ_OTLP_ENDPOINT was one until issue 17 gave routeq-gateway and routeq-worker --otlp-endpoint.)
ANNOUNCED_ENV: dict[str, tuple[set[str], str]] = {}
# Where each routeq binary serves /healthz and /metrics: the first variable that is set wins.
ADMIN_LISTEN_ENV = {
    "routeq-gateway": ["ROUTEQ_ADMIN_LISTEN", "ROUTEQ_LISTEN"],
    "routeq-worker": ["ROUTEQ_METRICS_LISTEN"],
    "routeq-recorder": ["ROUTEQ_METRICS_LISTEN"],
    "routeq-sim": ["ROUTEQ_SIM_LISTEN"],
    "routeq-notifier": ["ROUTEQ_NOTIFIER_LISTEN"],
}
LISTEN_ENV = {"ROUTEQ_LISTEN", "ROUTEQ_ADMIN_LISTEN", "ROUTEQ_METRICS_LISTEN", "ROUTEQ_SIM_LISTEN",
              "ROUTEQ_NOTIFIER_LISTEN"}
# Ports of third-party images (their documented defaults; nginx's comes from routeq.conf).
IMAGE_PORTS = {
    "redis": {6379}, "postgres": {5432}, "prom/prometheus": {9090}, "grafana/grafana": {3000},
    "prom/alertmanager": {9093}, "oliver006/redis_exporter": {9121},
    # OTLP over gRPC and HTTP; Jaeger also serves its UI on 16686.
    "otel/opentelemetry-collector": {4317, 4318}, "jaegertracing/all-in-one": {4317, 4318, 16686},
}
SCRAPE_JOBS = {"routeq-gateway": "gateway", "routeq-worker": "worker", "routeq-sim": "sim",
               "routeq-notifier": "notifier"}
# Scrape jobs of third-party services, and the compose service each scrapes.
STATIC_JOBS = {"redis": "redis-exporter", "alertmanager": "alertmanager"}
SCALABLE = {"gateway", "worker", "notifier"}
LIST_MERGE_KEYS = {"ports", "expose", "volumes", "secrets", "configs", "dns", "extra_hosts"}

errors: list[str] = []


def fail(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def load_yaml(path: Path):
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(rel(path), f"not readable YAML: {e}")
        return None



def run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT)
    if out.returncode != 0:
        fail(what, f"exit {out.returncode}\n{out.stdout}{out.stderr}")
    else:
        print(f"[check_deploy] {what}: ok", flush=True)


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




_noticed: set[str] = set()


def unknown_env(where: str, binary: str, var: str) -> None:
    """A ROUTEQ_* variable the binary's --help does not list: an error, unless it is announced."""
    binaries, issue = ANNOUNCED_ENV.get(var, (set(), ""))
    ops = ROOT / "docs" / "operations.md"
    documented = ops.exists() and var in ops.read_text(encoding="utf-8")
    if binary in binaries and documented:
        key = f"{binary}:{var}"
        if key not in _noticed:
            _noticed.add(key)
            print(f"[check_deploy] notice: {binary} does not read {var} yet ({issue}); announced in docs/operations.md", flush=True)
        return
    if binary in binaries:
        fail(where, f"{var} is announced for {binary} ({issue}) but docs/operations.md does not mention it")
        return
    fail(where, f"`{binary}` reads no {var} (see `{binary} --help`)")


def check_env(where: str, binary: str, helps: list["Help"], env: dict[str, str]) -> None:
    """A process's variables against the --help of the command they configure (`helps`, from
    check_args) and the binary's top level: names, enum values, listen addresses."""
    top = help_of(binary)
    if top is not None:
        announced_and_present(binary, top)
        helps = helps + [top] if top not in helps else helps
    for var, value in env.items():
        if var.startswith("ROUTEQ_"):
            match = [h for h in helps if var in h.env]
            if not match:
                unknown_env(where, binary, var)
                continue
            check_value(where, var, value, match[0].env[var])
        elif var in FOREIGN_ENV and binary not in FOREIGN_ENV[var]:
            fail(where, f"{var} is not read by {binary}")
        if var in LISTEN_ENV and value:
            host = value.rsplit(":", 1)[0]
            if host not in ("0.0.0.0", "[::]", "::"):
                fail(where, f"{var}={value} is unreachable from other containers (bind 0.0.0.0)")


def announced_and_present(binary: str, h: "Help") -> None:
    for var, (binaries, issue) in ANNOUNCED_ENV.items():
        key = f"{binary}:{var}:present"
        if binary in binaries and var in h.env and key not in _noticed:
            _noticed.add(key)
            print(f"[check_deploy] notice: {binary} reads {var} now: drop it from ANNOUNCED_ENV in scripts/deploy_checks/core.py", flush=True)
