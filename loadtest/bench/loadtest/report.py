"""The Markdown report: its header (fleet, command, git commit), the comparison table of a load
scenario, the tables of thresholds and checks with pass/fail, the k6 metrics with units, links to
k6's own HTML reports, and the SVG charts. Every table has a fixed row order: rows by metric name
(thresholds), in the script's order (checks), or as listed below (the comparison)."""

import os
import statistics
import sys
import time

import k6
import svg


def med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def f(v, d=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{d}f}"
    return str(v)


def cell(vals, d=1):
    v = [x for x in vals if x is not None]
    if not v:
        return "–"
    if len(v) == 1:
        return f(v[0], d)
    return f"{f(med(v), d)} ({f(min(v), d)}–{f(max(v), d)})"


def machine():
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "?")
    except OSError:
        model = "?"
    return f"{os.cpu_count()} CPUs ({model}), Linux {os.uname().release}"


def write_chart(path, title, by_target, memory=False, e2e_bound_ms=None):
    """The run's charts: arrivals and completions, backlog, e2e percentiles (with the p95 bound of
    the threshold), and for soaks the resident memory."""
    panels = []
    s = []
    for tg, sr in by_target.items():
        c = svg.COLORS[tg]
        s.append((f"{tg} arrivals/s", c, True, sr["arrivals"]))
        s.append((f"{tg} finished OK/s", c, False, sr["ok"]))
        if any(y for _, y in sr["fail"]):
            s.append((f"{tg} failed/s", "#d62728" if tg == "direct" else "#9467bd", False, sr["fail"]))
    panels.append({"title": "Arrivals and completions per second", "unit": "jobs/s", "series": s})
    panels.append({"title": "Backlog: routeq stream length (queued + running); direct: calls in flight", "unit": "jobs",
                   "series": [(f"{tg}", svg.COLORS[tg], False, sr["backlog"]) for tg, sr in by_target.items()]})
    s = []
    for tg, sr in by_target.items():
        s.append((f"{tg} e2e p50", svg.COLORS[tg], True, sr["p50"]))
        s.append((f"{tg} e2e p99", svg.COLORS[tg], False, sr["p99"]))
    panels.append({"title": "End-to-end latency of jobs finished OK, by second of completion", "unit": "ms", "series": s,
                   "line": ("p95 bound", e2e_bound_ms, "#d62728") if e2e_bound_ms else None})
    if memory and "routeq" in by_target:
        sr = by_target["routeq"]
        panels.append({"title": "Resident memory (RSS, /proc)", "unit": "MB",
                       "series": [("gateway", "#2ca02c", False, sr["rss_gateway"]), ("workers (max)", "#8c564b", False, sr["rss_workers"])]})
    with open(path, "w") as f:
        f.write(svg.chart(panels, title))




# ---------------------------------------------------------------- tables

def header(a, name, budget, commit):
    return [f"# routeq load test: {name}", "",
            f"- **date**: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
            f"**machine**: {machine()}",
            f"- **commit**: `{commit}`" + (" (uncommitted changes outside loadtest/reports)" if commit.endswith("-dirty") else ""),
            f"- **fleet**: 1 gateway (`--admission {a.admission} --auth {a.auth}`), {a.workers} workers × "
            f"`--concurrency {a.concurrency}` (budget {budget} calls in flight), simulator latency "
            f"{a.latency[0]}–{a.latency[1]} ms; capacity {a.capacity:g} jobs/s (budget ÷ mean latency)",
            f"- **direct baseline**: `routeq-direct --concurrency {budget} --queue-timeout-ms {a.direct_queue_ms} "
            f"--timeout-ms {a.direct_timeout_ms}`, same simulator",
            "- **requests**: every one carries `X-Request-Id: <scenario>-<VU>-<iteration>-<n>`"
            + ("" if a.auth == "open" else " and `Authorization: Bearer` with a key made for the run"),
            f"- **command**: `scripts/loadtest.sh {' '.join(sys.argv[1:])}`", ""]


def _verdict(ok, shown):
    return ("pass" if ok else "**FAIL**") + (f" · {shown}" if shown and shown != "–" else "")


def thresholds_table(cols):
    """cols: [(label, run summary)]. One row per threshold (sorted by metric, then expression),
    one column per run: k6's pass/fail and the value it compared; a last row for each run."""
    rows = {}
    for i, (_, sm) in enumerate(cols):
        for t in sm["thresholds"]:
            rows.setdefault((t["metric"], t["threshold"]), {})[i] = t
    out = ["| metric | threshold | " + " | ".join(lbl for lbl, _ in cols) + " |",
           "| --- | --- |" + " --- |" * len(cols)]
    for (metric, threshold) in sorted(rows):
        cells = [_verdict(rows[(metric, threshold)][i]["ok"], rows[(metric, threshold)][i]["shown"])
                 if i in rows[(metric, threshold)] else "–" for i in range(len(cols))]
        out.append(f"| `{metric}` | {threshold} | " + " | ".join(cells) + " |")
    out.append("| **all thresholds** | | " + " | ".join(
        ("**pass**" if sm["thresholds_ok"] else "**FAIL**") + f" (k6 exit {sm['rc']})" for _, sm in cols) + " |")
    return out


def checks_table(cols):
    """cols: [(label, run summary)]. One row per check, in the order the script made them."""
    names = []
    for _, sm in cols:
        for c in sm["checks"]:
            if c["name"] not in names:
                names.append(c["name"])
    if not names:
        return []
    out = ["| check | " + " | ".join(lbl for lbl, _ in cols) + " |", "| --- |" + " --- |" * len(cols)]
    for n in names:
        cells = []
        for _, sm in cols:
            c = next((c for c in sm["checks"] if c["name"] == n), None)
            cells.append("–" if c is None else _verdict(c["fails"] == 0, f"{c['passes']}/{c['passes'] + c['fails']}"))
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def html_links(cols):
    """Where k6's own HTML report of each run is (or why there is none)."""
    parts = []
    for lbl, sm in cols:
        if sm.get("html"):
            parts.append(f"[{lbl}]({os.path.basename(sm['html'])})")
        else:
            parts.append(f"{lbl}: {sm.get('html_note') or 'none'}")
    period = next((sm["period"] for _, sm in cols if sm.get("period")), None)
    return [f"k6 HTML reports (web dashboard export, opens offline; period {period}): " + " · ".join(parts)]


STATS = ("avg", "min", "med", "p(90)", "p(95)", "p(99)", "max")


def metrics_table(summary):
    """Every k6 metric of one run, sorted by name, with its unit: count and rate for counters and
    rates, the trend statistics for trends, the last value (count column), min and max for gauges."""
    out = ["| metric | unit | count | rate | " + " | ".join(STATS) + " |", "| --- | --- |" + " ---: |" * (2 + len(STATS))]
    for name in sorted(summary["metrics"]):
        m = summary["metrics"][name]
        u, v = k6.unit(name, m), m["values"]
        if m["type"] == "trend":
            cells = [f"{v.get('count', '–')}" if "count" in v else "–", "–"] + [k6.num(v.get(s)) for s in STATS]
        elif m["type"] == "rate":
            cells = [str(v.get("passes", 0) + v.get("fails", 0)), k6.num(v.get("rate"), "%")] + ["–"] * len(STATS)
        elif m["type"] == "counter":
            cells = [k6.num(v.get("count")), k6.num(v.get("rate"), f"{u or 'count'}/s")] + ["–"] * len(STATS)
        else:
            cells = [k6.num(v.get("value")), "–", "–", k6.num(v.get("min"))] + ["–"] * 4 + [k6.num(v.get("max"))]
        out.append(f"| `{name}` | {u or '–'} | " + " | ".join(cells) + " |")
    return out


def load_table(runs, tgts, capacity, budget):
    """The comparison of a load scenario: one column per target, each cell the median (min–max) over
    runs; rows in a fixed order (volume, latency, the gateway's own view, backlog, CPU, memory)."""
    md = ["| metric | " + " | ".join(tgts) + " |", "| --- |" + " ---: |" * len(tgts)]

    def row(title, fn, d=1, only=None):
        md.append(f"| {title} | " + " | ".join(
            cell([fn(r[t][0]) for r in runs], d) if only in (None, t) else "–" for t in tgts) + " |")

    def drain_share(s, base):
        return (s["drain_rate"] / base * 100) if (s.get("drain_rate") and base) else None

    row("arrived, jobs", lambda s: s["arrived"], 0)
    row("finished OK (200), jobs", lambda s: s["ok"], 0)
    row("**failed** (any other final answer), jobs", lambda s: s["failed"], 0)
    row("**failure rate, %**", lambda s: s["fail_rate"], 2)
    row("dropped iterations (k6 had no free VU)", lambda s: s["dropped"], 0)
    row("finished OK ÷ wall time, jobs/s", lambda s: s["throughput"], 1)
    row("e2e p50, ms", lambda s: s["e2e"]["med"], 1)
    row("**e2e p95, ms**", lambda s: s["e2e"]["p(95)"], 1)
    row("e2e p99, ms", lambda s: s["e2e"]["p(99)"], 1)
    row("e2e max, ms", lambda s: s["e2e"]["max"], 1)
    row("overhead (e2e − provider) p50, ms", lambda s: s["overhead"]["med"], 3)
    row("overhead p99, ms", lambda s: s["overhead"]["p(99)"], 3)
    row("mean provider time per job, ms", lambda s: s["provider_mean_ms"], 1)
    row("POST answer p50, ms", lambda s: s["submit"]["med"], 3)
    row("**POST answer p99, ms**", lambda s: s["submit"]["p(99)"], 3)
    row("POST answer max, ms", lambda s: s["submit"]["max"], 1)
    row("gateway's own POST latency p50, ms (its histogram, bucket upper edge)", lambda s: s.get("server_post_p50"), 2)
    row("**gateway's own POST latency p99, ms** (bucket upper edge)", lambda s: s.get("server_post_p99"), 2)
    row("gateway POSTs answered within 1 ms, %", lambda s: s.get("server_post_le1ms"), 1)
    row("peak backlog (stream length), jobs", lambda s: s.get("peak_backlog"), 0, only="routeq")
    row("**completions while draining (all slots busy), jobs/s**", lambda s: s.get("drain_rate"), 1, only="routeq")
    row("↳ ÷ capacity, %", lambda s: drain_share(s, capacity), 1, only="routeq")
    row("↳ ÷ (budget ÷ observed mean provider time), %",
        lambda s: drain_share(s, budget / (s["provider_mean_ms"] / 1000) if s["provider_mean_ms"] else None), 1, only="routeq")
    row("wall time of the k6 run, s", lambda s: s["wall_s"], 1)
    row("CPU, gateway, s", lambda s: s["cpu"]["gateway"], 2)
    row("CPU, workers (all), s", lambda s: s["cpu"]["workers"], 2)
    row("CPU, Redis (whole server), s", lambda s: s["cpu"]["redis"], 2)
    row("CPU, direct baseline, s", lambda s: s["cpu"]["direct"], 2)
    row("CPU, simulator, s", lambda s: s["cpu"]["simulator"], 2)
    row("CPU, k6, s", lambda s: s["cpu"]["k6"], 2)
    row("**CPU per finished job, routeq (gateway + workers + Redis), ms**", lambda s: s["cpu_per_job_ms"], 3)
    row("CPU per finished job, direct baseline process, ms", lambda s: s["cpu_per_job_direct_ms"], 3)
    row("gateway RSS first → last, MB", lambda s: _first_last(s["rss_gateway"]), only="routeq")
    row("workers RSS (max) first → last, MB", lambda s: _first_last(s["rss_workers"]), only="routeq")
    row("k6 exit code (0 = thresholds passed)", lambda s: s["rc"], 0)
    return md


def _first_last(vals):
    v = [x for x in vals if x is not None]
    return f"{v[0]:.1f} → {v[-1]:.1f}" if v else None


def backlog_table(outs, a):
    """The backlog scenario's figures: median (min–max) over runs."""
    def row(title, vals, d):
        return f"| {title} | {cell(vals, d)} |"
    return ["| metric | median (min–max) |", "| --- | ---: |",
            row("submissions/s, one gateway (k6 count ÷ k6 duration)", [o["submit_rate_k6"] for o in outs], 0),
            row("submit p99, ms", [o["submit_p99"] for o in outs], 2),
            row("gateway's own POST p99, ms (histogram bucket edge)", [o["server_p99"] for o in outs], 2),
            row("gateway POSTs answered within 1 ms, %", [o["server_le1ms"] for o in outs], 1),
            row("gateway CPU per submission, µs", [o["cpu_gateway_submit"] / o["submitted"] * 1e6 for o in outs if o["submitted"]], 1),
            row("k6 CPU per submission, µs", [o["cpu_k6_submit"] / o["submitted"] * 1e6 for o in outs if o["submitted"]], 1),
            row("backlog at worker start, jobs", [o["backlog"] for o in outs], 0),
            row("Redis bytes per queued job (MEMORY USAGE of the run's keys)", [o.get("mem_per_job") for o in outs if o.get("mem_per_job")], 0),
            row("Redis used_memory growth per queued job, bytes (whole server)", [o.get("used_memory_per_job") for o in outs if o.get("used_memory_per_job")], 0),
            f"| drained (left), jobs | {cell([o['drained'] for o in outs], 0)} ({cell([o['left'] for o in outs], 0)}) |",
            row("**drain rate, jobs/s (all ÷ start → empty)**", [o["drain_rate"] for o in outs], 0),
            row("drain rate, 10–90 % window, jobs/s", [o["drain_rate_1090"] for o in outs], 0),
            row("drain wall time, s", [o["drain_s"] for o in outs], 2),
            row("worker CPU per job, µs", [o["cpu_workers_drain"] / max(1, o["drained"]) * 1e6 for o in outs], 1),
            row("Redis CPU per job, µs", [o["cpu_redis_drain"] / max(1, o["drained"]) * 1e6 for o in outs], 1)]
