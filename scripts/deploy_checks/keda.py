"""The KEDA example."""

from __future__ import annotations

import re

from .compose import Fleet
from .core import ROOT, fail, load_yaml, rel

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


