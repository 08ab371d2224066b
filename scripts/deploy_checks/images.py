"""The Dockerfile's runtime targets: parsed once, checked against the binaries they run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .core import ADMIN_LISTEN_ENV, ROUTEQ_BINARIES, check_args, check_value, fail, help_of, rel

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
            # The variables of the command the CMD runs (`routeq-notifier run`) and the top level's.
            helps = [x for x in check_args(f"{where}.CMD", binary, t["cmd"][1:]) if x is not h] + [h]
            for var, value in t["env"].items():
                if var.startswith("ROUTEQ_"):
                    known = next((x.env for x in helps if var in x.env), None)
                    if known is None:
                        fail(f"{where}.ENV", f"`{binary}` reads no {var}")
                    else:
                        check_value(f"{where}.ENV", var, value, known[var])
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


